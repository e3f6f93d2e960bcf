"""Pharmacometric event data in the long (NONMEM-style) format users already have.

One row per event: ID, TIME (hours), DV (the observation), AMT (a dose), EVID (0 observation,
1 dose), optional CMT (1 gut/depot, 2 central), RATE or DUR (infusions), MDV (1: ignore the DV),
and covariate columns (weight, age, sex...), constant within a subject. Column names are matched
without regard to case. Everything a model cannot use is refused with a message that names the
subject and the row, rather than silently dropped: a dose without a subject, a negative or
decreasing time, a dose without an amount, an observation before any dose.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from jumeau.errors import DataError
from jumeau.twins.regimen import DoseEvents

REQUIRED = ("ID", "TIME")
RESERVED = ("ID", "TIME", "DV", "AMT", "EVID", "CMT", "RATE", "DUR", "MDV")
DEPOT, CENTRAL = 1, 2


@dataclass(frozen=True)
class Subject:
    """One patient's doses, observations and (baseline) covariates."""

    id: Any
    dose_times: np.ndarray
    dose_amounts: np.ndarray
    dose_durations: np.ndarray  # hours; 0 = bolus or oral
    dose_compartments: np.ndarray  # 1 depot (gut), 2 central
    times: np.ndarray  # observation times
    values: np.ndarray  # observed DV
    covariates: dict[str, Any] = field(default_factory=dict)

    def doses(self, *, absorption: bool) -> DoseEvents:
        """Doses for a model with (oral models) or without a gut compartment. Without one, every
        dose goes into the blood; with one, depot doses are absorbed and central ones are IV."""
        oral = (self.dose_compartments == DEPOT) & (self.dose_durations == 0) & absorption
        return DoseEvents(self.dose_times, self.dose_amounts, self.dose_durations, oral)


@dataclass(frozen=True)
class PKData:
    """A validated study: subjects in file order, and which columns are covariates."""

    subjects: tuple[Subject, ...]
    covariates: tuple[str, ...]
    source: str = "<DataFrame>"

    def __len__(self) -> int:
        return len(self.subjects)

    def __iter__(self) -> Iterator[Subject]:
        return iter(self.subjects)

    @property
    def ids(self) -> list[Any]:
        return [s.id for s in self.subjects]

    @property
    def n_observations(self) -> int:
        return int(sum(len(s.times) for s in self.subjects))

    def subject(self, subject_id: Any) -> Subject:
        for candidate in self.subjects:
            if candidate.id == subject_id or str(candidate.id) == str(subject_id):
                return candidate
        raise DataError(
            f"{self.source}: no subject {subject_id!r} (subjects: {_preview(self.ids)})"
        )

    def covariate_table(self) -> pd.DataFrame:
        """One row per subject: the baseline covariates (for virtual populations)."""
        rows = [{"ID": s.id, **s.covariates} for s in self.subjects]
        return pd.DataFrame(rows, columns=["ID", *self.covariates])

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, *, source: str = "<DataFrame>", needs_dose: bool = True
    ) -> PKData:
        """Validate a long-format frame (see module docstring). `needs_dose`: a subject's
        observations must not come before its first dose (true of every PK model)."""
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(frame).__name__}")
        data = _canonical_columns(frame, source)
        if data.empty:
            raise DataError(f"{source}: no rows")
        data = _with_event_ids(data, source)
        covariates = tuple(c for c in data.columns if c not in RESERVED)
        subjects = []
        for subject_id, rows in data.groupby("ID", sort=False):
            subjects.append(_subject(subject_id, rows, covariates, source, needs_dose))
        if not any(len(s.times) for s in subjects):
            raise DataError(f"{source}: no observations (EVID 0 rows with a DV)")
        return cls(tuple(subjects), covariates, source)

    @classmethod
    def from_csv(cls, path: str, **kwargs: Any) -> PKData:
        try:
            frame = pd.read_csv(path, na_values=[".", ""])
        except FileNotFoundError:
            raise DataError(f"{path}: no such file") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not a readable CSV file ({exc})") from None
        return cls.from_frame(frame, source=str(path), **kwargs)


def _canonical_columns(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    renamed: dict[Any, str] = {}
    for column in frame.columns:
        upper = str(column).strip().upper()
        name = upper if upper in RESERVED else str(column).strip()
        if name in renamed.values():
            raise DataError(f"{source}: column {name!r} appears twice (names ignore case)")
        renamed[column] = name
    data = frame.rename(columns=renamed).reset_index(drop=True)
    absent = [c for c in REQUIRED if c not in data.columns]
    if absent:
        raise DataError(
            f"{source}: missing column(s) {', '.join(absent)}; the long format needs ID, TIME, "
            "DV (observations) and AMT (doses)"
        )
    if "DV" not in data.columns or "AMT" not in data.columns:
        raise DataError(f"{source}: need both a DV column (observations) and an AMT column (doses)")
    for column in ("TIME", "DV", "AMT", "EVID", "CMT", "RATE", "DUR", "MDV"):
        if column in data.columns:
            numbers = pd.to_numeric(data[column], errors="coerce")
            bad = numbers.isna() & data[column].notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                value = data[column].iloc[row]
                raise DataError(
                    f"{source}: row {row + 1}: {column} must be a number, not {value!r}"
                )
            data[column] = numbers.astype(np.float64)
    missing_id = data["ID"].isna()
    if missing_id.any():
        row = int(np.flatnonzero(missing_id.to_numpy())[0])
        raise DataError(f"{source}: row {row + 1} has no ID (every dose and observation needs one)")
    bad_time = ~np.isfinite(data["TIME"].to_numpy(dtype=float))
    if bad_time.any():
        row = int(np.flatnonzero(bad_time)[0])
        raise DataError(f"{source}: row {row + 1} (subject {data['ID'].iloc[row]}) has no TIME")
    negative = data["TIME"].to_numpy() < 0
    if negative.any():
        row = int(np.flatnonzero(negative)[0])
        raise DataError(
            f"{source}: row {row + 1} (subject {data['ID'].iloc[row]}) has a negative TIME "
            f"({data['TIME'].iloc[row]:g}); times are hours from the start of the study"
        )
    return data


def _with_event_ids(data: pd.DataFrame, source: str) -> pd.DataFrame:
    amount = data["AMT"].fillna(0.0)
    if "EVID" not in data.columns:  # a row with an amount is a dose, any other an observation
        data["EVID"] = np.where(amount > 0, 1.0, 0.0)
    evid = data["EVID"].fillna(0.0)
    unknown = ~evid.isin([0.0, 1.0])
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise DataError(
            f"{source}: row {row + 1}: EVID {evid.iloc[row]:g} is not supported "
            "(0 observation, 1 dose; resets and other events are not)"
        )
    doses = evid == 1
    no_amount = doses & ~(amount > 0)
    if no_amount.any():
        row = int(np.flatnonzero(no_amount.to_numpy())[0])
        raise DataError(
            f"{source}: row {row + 1} (subject {data['ID'].iloc[row]}) is a dose (EVID 1) "
            "without a positive AMT"
        )
    data["EVID"] = evid
    data["AMT"] = amount
    return data


def _subject(
    subject_id: Any, rows: pd.DataFrame, covariates: tuple[str, ...], source: str, needs_dose: bool
) -> Subject:
    where = f"{source}: subject {subject_id}"
    time = rows["TIME"].to_numpy(dtype=float)
    if (np.diff(time) < 0).any():
        step = int(np.flatnonzero(np.diff(time) < 0)[0])
        raise DataError(
            f"{where}: TIME goes back from {time[step]:g} to {time[step + 1]:g} "
            f"(row {rows.index[step + 1] + 1}); sort each subject's events by time"
        )
    is_dose = rows["EVID"].to_numpy() == 1
    doses = rows[is_dose]
    durations = _durations(doses, where)
    compartments = (
        doses["CMT"].fillna(DEPOT).to_numpy(dtype=float)
        if "CMT" in doses.columns
        else np.full(len(doses), float(DEPOT))
    )
    observed = rows[~is_dose]
    if "MDV" in observed.columns:
        observed = observed[observed["MDV"].fillna(0.0) != 1]
    observed = observed[observed["DV"].notna()]
    if needs_dose and len(observed):
        first_dose = float(doses["TIME"].min()) if len(doses) else np.inf
        early = observed["TIME"].to_numpy() < first_dose
        if early.any():
            row = observed.index[int(np.flatnonzero(early)[0])]
            raise DataError(
                f"{where}: observation at TIME {observed['TIME'].loc[row]:g} (row {row + 1}) "
                + (
                    f"comes before the first dose (TIME {first_dose:g})"
                    if np.isfinite(first_dose)
                    else "but the subject has no dose"
                )
                + "; the model needs a dose first"
            )
    values: dict[str, Any] = {}
    for name in covariates:
        column = rows[name].dropna()
        if column.nunique() > 1:
            raise DataError(
                f"{where}: covariate {name!r} changes over time ({_preview(column.unique())}); "
                "time-varying covariates are not supported — keep the baseline value"
            )
        values[name] = column.iloc[0] if len(column) else None
    return Subject(
        id=subject_id.item() if hasattr(subject_id, "item") else subject_id,
        dose_times=doses["TIME"].to_numpy(dtype=float),
        dose_amounts=doses["AMT"].to_numpy(dtype=float),
        dose_durations=durations,
        dose_compartments=compartments.astype(np.int64),
        times=observed["TIME"].to_numpy(dtype=float),
        values=observed["DV"].to_numpy(dtype=float),
        covariates=values,
    )


def _durations(doses: pd.DataFrame, where: str) -> np.ndarray:
    durations = np.zeros(len(doses))
    if "RATE" in doses.columns:
        rate = doses["RATE"].fillna(0.0).to_numpy(dtype=float)
        if (rate < 0).any():
            raise DataError(
                f"{where}: RATE {rate[rate < 0][0]:g}: modelled rates or durations (RATE -1/-2) "
                "are not supported; give the rate or the duration"
            )
        infused = rate > 0
        durations[infused] = doses["AMT"].to_numpy(dtype=float)[infused] / rate[infused]
    if "DUR" in doses.columns:
        given = doses["DUR"].fillna(0.0).to_numpy(dtype=float)
        if (given < 0).any():
            raise DataError(f"{where}: a negative infusion duration (DUR)")
        both = (given > 0) & (durations > 0) & ~np.isclose(given, durations)
        if both.any():
            raise DataError(f"{where}: RATE and DUR disagree for a dose")
        durations = np.where(given > 0, given, durations)
    return durations


def _preview(values: Any) -> str:
    items = [str(v) for v in list(values)[:5]]
    return ", ".join(items) + (" ..." if len(list(values)) > 5 else "")
