"""The simple baseline every longitudinal generator must beat.

What a careful analyst would build in an afternoon: a Gaussian copula of the baseline columns
together with the first visit's measurements; then the number of visits, the gaps between them
and the follow-up after the last visit drawn from their observed distributions (independently of
the patient); and each later value a random walk from the last one (the previous value plus an
observed change, kept in the observed range; categories carried forward, switching as often as
observed). It keeps the marginals of the first visit and the visit process, but not how a
patient's course depends on who they are, nor any trend.
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np
import pandas as pd

from jumeau.data.cohort import Cohort
from jumeau.data.longitudinal import MIN_PATIENTS_TO_MODEL, LongitudinalCohort, sub_schema
from jumeau.data.schema import CATEGORY_KINDS
from jumeau.errors import JumeauError, TooFewRowsError
from jumeau.generators.base import check_seed
from jumeau.generators.copula.model import GaussianCopula
from jumeau.longitudinal.vae.model import output_schema


class RandomWalkBaseline:
    """Copula baseline + first visit, empirical visit process, random-walk values."""

    name = "random_walk_baseline"

    def fit(self, cohort: LongitudinalCohort, *, seed: int = 0) -> RandomWalkBaseline:
        if cohort.n_patients < MIN_PATIENTS_TO_MODEL:
            raise TooFewRowsError(f"{cohort.n_patients} patients is too few to model")
        seed = check_seed(seed)
        columns, frame = cohort.columns, cohort.data
        self.columns_, self.schema_ = columns, output_schema(cohort.schema)
        ids = frame[columns.id].to_numpy()
        first = np.r_[True, ids[1:] != ids[:-1]]
        first_frame = frame.loc[first, [*columns.static, *columns.varying]].reset_index(drop=True)
        first_schema = sub_schema(cohort.schema, [*columns.static, *columns.varying])
        firsts = Cohort.from_typed(first_frame, first_schema, source="first visits")
        firsts.sha256 = cohort.sha256
        self.first_model_ = GaussianCopula().fit(firsts, seed=seed, progress=False)
        times = frame[columns.time].to_numpy(dtype=float)
        self.counts_ = cohort.visit_counts
        self.starts_ = times[first]
        self.gaps_ = np.diff(times)[~first[1:]]
        self.changes_: dict[str, Any] = {}
        self.ranges_: dict[str, tuple[float, float]] = {}
        self.levels_: dict[str, np.ndarray] = {}
        for name in columns.varying:
            values = frame[name]
            if cohort.schema.columns[name].kind in CATEGORY_KINDS:
                same = values.to_numpy()[1:] == values.to_numpy()[:-1]
                self.changes_[name] = float(1 - same[~first[1:]].mean()) if (~first).any() else 0.0
                self.levels_[name] = values.to_numpy()[~first]  # what later visits show
            else:
                numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
                steps = np.diff(numbers)[~first[1:]]
                self.changes_[name] = steps[np.isfinite(steps)]
                self.ranges_[name] = (float(np.nanmin(numbers)), float(np.nanmax(numbers)))
        self.patients_ = cohort.patients
        if columns.followup is not None:
            last = frame.groupby(columns.id, sort=False, observed=True)[columns.time].max()
            self.tails_ = self.patients_[columns.followup].to_numpy(float) - last.to_numpy(float)
        return self

    def sample(self, n: int, *, seed: int | None = None) -> LongitudinalCohort:
        if not hasattr(self, "first_model_"):
            raise JumeauError("fit the baseline before sampling")
        seed = secrets.randbits(32) if seed is None else check_seed(seed)
        rng = np.random.default_rng(seed)
        columns = self.columns_
        firsts = self.first_model_.sample(n, seed=int(rng.integers(2**62))).data
        counts = rng.choice(self.counts_, n)
        patient = np.repeat(np.arange(n), counts)
        step = np.arange(patient.size) - np.repeat(np.cumsum(counts) - counts, counts)
        gaps = np.where(step == 0, rng.choice(self.starts_, patient.size), 0.0)
        if self.gaps_.size:
            gaps = np.where(step > 0, rng.choice(self.gaps_, patient.size), gaps)
        times = np.array([g.cumsum() for g in np.split(gaps, np.cumsum(counts)[:-1])], dtype=object)
        frame: dict[str, Any] = {columns.id: [f"B{p + 1:05d}" for p in patient]}
        frame[columns.time] = np.concatenate(list(times))
        for name in columns.static:
            frame[name] = firsts[name].to_numpy()[patient]
        for name in columns.varying:
            frame[name] = self._walk(name, firsts[name].to_numpy(), patient, step, rng)
        if columns.followup is not None:
            last = frame[columns.time][np.r_[np.diff(patient) != 0, True]]
            frame[columns.followup] = (last + rng.choice(self.tails_, n))[patient]
        if columns.event is not None:
            events = self.patients_[columns.event].to_numpy()
            frame[columns.event] = rng.choice(events, n)[patient]
        result = pd.DataFrame(frame)[[c for c in self.schema_.names]]
        return LongitudinalCohort(
            result, self.schema_, source=f"jumeau:{self.name}:seed={seed}", artificial=True
        )

    def _walk(
        self,
        name: str,
        first: np.ndarray,
        patient: np.ndarray,
        step: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        values = first[patient].copy()
        change = self.changes_[name]
        if isinstance(change, float):  # a category: carried forward, switching as often as seen
            flips = rng.random(values.size) < change
            levels = self.levels_[name]
            values = values.astype(object)
            for i in np.flatnonzero(step > 0):
                values[i] = levels[rng.integers(levels.size)] if flips[i] else values[i - 1]
            return values
        increments = rng.choice(change, values.size) if change.size else np.zeros(values.size)
        increments[step == 0] = 0.0
        starts = np.flatnonzero(step == 0)
        walked = np.asarray(values, dtype=float) + np.concatenate(
            [np.cumsum(part) for part in np.split(increments, starts[1:])]
        )
        lo, hi = self.ranges_[name]
        walked = np.clip(walked, lo, hi)
        if self.schema_.columns[name].kind.value == "integer":
            walked = np.round(walked)
        return walked
