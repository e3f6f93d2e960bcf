"""Where trial patients come from: an artificial (or real) cohort, or a twin population.

A population hands out patients with their *potential outcomes*: the endpoint each would have
under every arm. Randomisation then reveals one of them, which is what makes the truth known in a
simulation (the effect the analyses should recover) and lets every arm share the same patients.

* :class:`CohortPopulation` resamples patients of a cohort (artificial patients from a jumeau
  generator, typically). Their recorded outcome is the outcome without treatment; an arm's effect
  model says what treatment does to it. The cohort is split once into a historical part (for the
  prognostic model) and a trial part, so no patient is both a trial patient and prognostic
  training data — as in a real PROCOVA workflow.
* :class:`TwinPopulation` draws virtual patients from a fitted digital-twin population and
  simulates each arm's regimen with the mechanistic model, residual error included.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.generators.base import Generator
from jumeau.trials.analysis import required_numbers
from jumeau.trials.design import Endpoint, TrialDesign

if TYPE_CHECKING:  # the twins extra (pyro) is only needed for twin populations
    from jumeau.twins.calibrate import PopulationFit
    from jumeau.twins.population import VirtualPopulation
    from jumeau.twins.regimen import DoseEvents

ESTIMAND_PATIENTS = 100_000
DOSE_CELLS_PER_CHUNK = 2_000_000  # patients × doses simulated at once


@dataclass
class PatientDraw:
    """Patients at randomisation (baseline columns) and their potential outcomes per arm."""

    baseline: pd.DataFrame
    outcomes: dict[str, np.ndarray]
    events: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.baseline)


class Population(ABC):
    """Anything that can hand out patients for a design."""

    @abstractmethod
    def draw(self, design: TrialDesign, n: int, rng: np.random.Generator) -> PatientDraw:
        """`n` trial patients who meet the design's inclusion criteria."""

    @abstractmethod
    def historical(self, design: TrialDesign, n: int, rng: np.random.Generator) -> PatientDraw:
        """`n` patients, never trial patients, with their outcome under control."""

    def estimand(self, design: TrialDesign, seed: int = 0) -> dict[str, float]:
        """The true effect of each treated arm against control, on the analysis scale: the
        difference of mean outcomes (continuous and responder endpoints) or the log hazard
        ratio (time to event, marginal), from many patients."""
        if design.endpoint.kind == "time_to_event":
            return {arm.name: float(np.log(arm.hazard_ratio)) for arm in design.treated}
        rng = np.random.default_rng(seed)
        draw = self.draw(design, ESTIMAND_PATIENTS, rng)
        control = np.nanmean(draw.outcomes[design.control.name])
        return {
            arm.name: float(np.nanmean(draw.outcomes[arm.name]) - control) for arm in design.treated
        }


class CohortPopulation(Population):
    """Patients resampled from a cohort; the recorded outcome is the untreated one."""

    def __init__(
        self,
        cohort: Cohort | pd.DataFrame,
        *,
        historical_fraction: float = 0.3,
        seed: int = 0,
    ) -> None:
        if not 0 < historical_fraction < 1:
            raise JumeauError(f"historical_fraction must be in (0, 1), not {historical_fraction}")
        frame = cohort.data if isinstance(cohort, Cohort) else pd.DataFrame(cohort)
        if len(frame) < 20:
            raise JumeauError(f"a population of {len(frame)} patients is too small to resample")
        order = np.random.default_rng(seed).permutation(len(frame))
        cut = max(10, round(historical_fraction * len(frame)))
        self.frame = frame.reset_index(drop=True)
        self.historical_rows = np.sort(order[:cut])
        self.trial_rows = np.sort(order[cut:])
        self.seed = seed

    def draw(self, design: TrialDesign, n: int, rng: np.random.Generator) -> PatientDraw:
        pool = self._eligible(design, self.trial_rows)
        rows = rng.choice(pool, size=n, replace=True)
        return self._patients(design, rows, rng)

    def historical(self, design: TrialDesign, n: int, rng: np.random.Generator) -> PatientDraw:
        pool = self._eligible(design, self.historical_rows)
        rows = pool if n >= len(pool) else rng.choice(pool, size=n, replace=False)
        draw = self._patients(design, rows, rng)
        control = design.control.name
        events = None if draw.events is None else {control: draw.events[control]}
        return PatientDraw(draw.baseline, {control: draw.outcomes[control]}, events)

    def _eligible(self, design: TrialDesign, rows: np.ndarray) -> np.ndarray:
        _check_columns(design.endpoint, self.frame.columns)
        keep = design.eligible(self.frame.iloc[rows])
        if not keep.any():
            criteria = design.inclusion + [f"not ({text})" for text in design.exclusion]
            raise JumeauError(
                "no patient of the population meets the eligibility criteria: "
                + " and ".join(criteria)
            )
        return rows[keep]

    def _patients(
        self, design: TrialDesign, rows: np.ndarray, rng: np.random.Generator
    ) -> PatientDraw:
        endpoint = design.endpoint
        frame = self.frame.iloc[rows].reset_index(drop=True)
        outcome_columns = {endpoint.outcome, endpoint.event} - {None}
        baseline = frame.drop(columns=[c for c in outcome_columns if c in frame.columns])
        if endpoint.kind == "time_to_event":
            return self._survival(design, frame, baseline, rng)
        assert endpoint.outcome is not None
        untreated = required_numbers(frame[endpoint.outcome], endpoint.outcome)
        if endpoint.baseline is not None:
            untreated = untreated - required_numbers(frame[endpoint.baseline], endpoint.baseline)
        outcomes: dict[str, np.ndarray] = {}
        if endpoint.kind == "responder" and endpoint.threshold is None:
            _check_binary(untreated, endpoint.outcome)
            uniform = rng.random(len(frame))
            prevalence = float(np.nanmean(untreated))
            for arm in design.arms:
                outcomes[arm.name] = _moved_binary(
                    untreated, arm.risk_difference, prevalence, uniform
                )
        else:
            for arm in design.arms:
                value = untreated + arm.shift
                if endpoint.kind == "responder":
                    assert endpoint.threshold is not None
                    above = value > endpoint.threshold
                    value = np.where(
                        np.isnan(value), np.nan, above if endpoint.direction == "above" else ~above
                    ).astype(float)
                outcomes[arm.name] = value
        return PatientDraw(baseline, outcomes)

    def _survival(
        self,
        design: TrialDesign,
        frame: pd.DataFrame,
        baseline: pd.DataFrame,
        rng: np.random.Generator,
    ) -> PatientDraw:
        endpoint = design.endpoint
        assert endpoint.outcome is not None and endpoint.event is not None
        time = required_numbers(frame[endpoint.outcome], endpoint.outcome)
        event = required_numbers(frame[endpoint.event], endpoint.event)
        if not np.isin(event[~np.isnan(event)], (0, 1)).all():
            raise JumeauError(f"the event column {endpoint.event!r} must hold 0/1")
        survival = _survival_curve(self.frame, self.trial_rows, endpoint, censoring=False)
        censoring = _survival_curve(self.frame, self.trial_rows, endpoint, censoring=True)
        # complete each patient's pair (event, censoring): a patient with an event was followed
        # at least until it (C drawn from the censoring distribution beyond T); a censored
        # patient's event lies beyond C, so its survival level S(T) is uniform below S(C).
        # Treatment raises S(T) to the power 1/HR; what is observed is min(T', C), so a treated
        # event pushed past a patient's follow-up is censored, and a harmful treatment can bring
        # a censored patient's event forward, as in a real trial.
        grid, curve = survival
        is_event = event == 1
        at_time = np.interp(time, grid, curve)
        level = np.where(is_event, at_time, rng.random(len(time)) * at_time)
        latent_censoring = np.where(
            is_event, _conditional_draw(time, censoring, rng.random(len(time))), time
        )
        end = np.minimum(latent_censoring, grid[-1])  # nobody is followed beyond the data
        if endpoint.horizon is not None:
            end = np.minimum(end, endpoint.horizon)
        times: dict[str, np.ndarray] = {}
        events: dict[str, np.ndarray] = {}
        for arm in design.arms:
            if arm.hazard_ratio == 1.0:
                moved = np.where(is_event, time, np.inf)  # the data as recorded
            else:
                moved = _inverse(survival, level ** (1.0 / arm.hazard_ratio))
            times[arm.name] = np.minimum(moved, end)
            events[arm.name] = (moved <= end).astype(float)
        return PatientDraw(baseline, times, events)


class TwinPopulation(Population):
    """Virtual patients of a fitted twin population; each arm is a dosing regimen."""

    def __init__(
        self,
        fit: PopulationFit,
        *,
        covariates: Generator | Cohort | pd.DataFrame | None = None,
        residual_error: bool = True,
    ) -> None:
        from jumeau.twins.calibrate import PopulationFit

        if not isinstance(fit, PopulationFit):
            raise JumeauError(f"a twin population needs a PopulationFit, not {type(fit).__name__}")
        self.fit = fit
        self.covariates = covariates
        self.residual_error = residual_error

    def draw(self, design: TrialDesign, n: int, rng: np.random.Generator) -> PatientDraw:
        return self._patients(design, n, rng, [arm.name for arm in design.arms])

    def historical(self, design: TrialDesign, n: int, rng: np.random.Generator) -> PatientDraw:
        return self._patients(design, n, rng, [design.control.name])

    def _virtual(self, n: int, rng: np.random.Generator) -> VirtualPopulation:
        from jumeau.twins.population import virtual_population

        seed = int(rng.integers(2**31 - 1))
        return virtual_population(self.fit, n, covariates=self.covariates, seed=seed)

    def _patients(
        self, design: TrialDesign, n: int, rng: np.random.Generator, arms: list[str]
    ) -> PatientDraw:
        """Virtual patients measured at baseline (and at the run-in's start), kept if eligible
        on their covariates *and* those measurements, then followed under each arm."""
        endpoint = design.endpoint
        if endpoint.kind == "time_to_event":
            raise JumeauError("twin populations give continuous or responder endpoints")
        if endpoint.at is None:
            raise JumeauError("a twin endpoint needs `at`: the hour at which it is measured")
        if endpoint.kind == "responder" and endpoint.threshold is None:
            raise JumeauError("a twin responder endpoint needs a threshold")
        selective = bool(design.inclusion or design.exclusion)
        parts: list[PatientDraw] = []
        found, tries = 0, 0
        while found < n:
            tries += 1
            if tries > 50:
                raise JumeauError(
                    f"only {found} of {n} virtual patients met the eligibility criteria in 50 "
                    "draws; relax the criteria"
                )
            wanted = max(n - found, 64) * 2 if selective else n - found
            batch = self._followed(design, self._virtual(wanted, rng), rng, arms)
            rows = np.flatnonzero(design.eligible(batch.baseline))[: n - found]
            parts.append(
                PatientDraw(
                    batch.baseline.iloc[rows].reset_index(drop=True),
                    {k: v[rows] for k, v in batch.outcomes.items()},
                )
            )
            found += len(rows)
        return PatientDraw(
            pd.concat([p.baseline for p in parts], ignore_index=True),
            {name: np.concatenate([p.outcomes[name] for p in parts]) for name in arms},
        )

    def _followed(
        self,
        design: TrialDesign,
        virtual: VirtualPopulation,
        rng: np.random.Generator,
        arms: list[str],
    ) -> PatientDraw:
        from jumeau.twins.regimen import DoseEvents
        from jumeau.twins.twin import regimen_events

        endpoint = design.endpoint
        assert endpoint.at is not None
        model = self.fit.model
        run_in = float(endpoint.run_in or 0.0)
        grid = np.array([0.0, run_in, run_in + float(endpoint.at)])
        by_name = {arm.name: arm for arm in design.arms}
        observed: dict[str, np.ndarray] = {}
        before: np.ndarray | None = None
        for name in arms:
            regimen = by_name[name].regimen
            events = (
                DoseEvents(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool))
                if regimen is None  # placebo: no dose
                else regimen_events(regimen, model)[0].shifted(run_in)
            )
            noisy = self._noisy(_simulate(model, virtual.params, events, grid), rng)
            if before is None:
                before = noisy[:, :2]  # measured before any dose: the same for every arm
            observed[name] = noisy[:, 2]
        assert before is not None
        start = before[:, 1]
        outcomes: dict[str, np.ndarray] = {}
        for name, value in observed.items():
            result = value - start if endpoint.baseline is not None else value
            if endpoint.kind == "responder":
                above = result > endpoint.threshold
                result = (above if endpoint.direction == "above" else ~above).astype(float)
            outcomes[name] = result
        baseline = virtual.covariates.reset_index(drop=True)
        if endpoint.baseline is not None:
            columns = {endpoint.baseline: start}
            if endpoint.run_in is not None:
                columns = {f"{endpoint.baseline}_run_in": before[:, 0], **columns}
            baseline = baseline.assign(**columns)
        return PatientDraw(baseline, outcomes)

    def _noisy(self, curves: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if not self.residual_error:
            return curves
        draws = self.fit.draws
        additive = float(np.median(draws["sigma_add"])) if "sigma_add" in draws else 0.0
        proportional = float(np.median(draws["sigma_prop"])) if "sigma_prop" in draws else 0.0
        sd = np.sqrt(additive**2 + (proportional * curves) ** 2)
        return curves + sd * rng.standard_normal(curves.shape)


def _simulate(
    model: object, params: dict[str, np.ndarray], events: DoseEvents, grid: np.ndarray
) -> np.ndarray:
    """The model's observed quantity for every patient at `grid` hours (patients × times), in
    chunks: every patient carries the regimen's padded dose table, and a year of daily doses
    for 100,000 patients would otherwise hold gigabytes at once."""
    import torch

    from jumeau.twins.models import PaddedDoses

    n = len(next(iter(params.values())))
    chunk = max(1, DOSE_CELLS_PER_CHUNK // max(len(events), 1))
    parts = []
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        doses = PaddedDoses.stack([events] * (stop - start))
        tensors = {k: torch.as_tensor(v[start:stop]) for k, v in params.items()}
        with torch.no_grad():
            curves = model.predict(  # type: ignore[attr-defined]
                tensors, doses, torch.as_tensor(np.tile(grid, (stop - start, 1)))
            )
        parts.append(np.asarray(curves.numpy(), dtype=float))
    return np.concatenate(parts)


def _check_columns(endpoint: Endpoint, columns: pd.Index) -> None:
    needed = {"outcome": endpoint.outcome, "baseline": endpoint.baseline, "event": endpoint.event}
    if endpoint.outcome is None:
        raise JumeauError("a cohort population needs the endpoint's outcome column (outcome:)")
    if endpoint.kind == "time_to_event" and endpoint.event is None:
        raise JumeauError("a time-to-event endpoint needs its event column (event:)")
    for role, name in needed.items():
        if name is not None and name not in columns:
            raise JumeauError(f"the endpoint's {role} column {name!r} is not in the population")


def _check_binary(values: np.ndarray, name: str) -> None:
    if not np.isin(values[~np.isnan(values)], (0, 1)).all():
        raise JumeauError(
            f"the responder outcome {name!r} is not 0/1; give a threshold to define a responder"
        )


def _moved_binary(
    untreated: np.ndarray, risk_difference: float, prevalence: float, uniform: np.ndarray
) -> np.ndarray:
    """Treated responses with the requested marginal risk difference, each patient keeping
    their untreated response unless moved: non-responders turn responders with probability
    rd / (1 − p) (rd > 0), responders turn non-responders with probability |rd| / p (rd < 0)."""
    result = untreated.copy()
    if risk_difference > 0:
        if risk_difference > 1 - prevalence:
            raise JumeauError(f"a risk difference {risk_difference} exceeds 1 − {prevalence:.2f}")
        result[(untreated == 0) & (uniform < risk_difference / (1 - prevalence))] = 1.0
    elif risk_difference < 0:
        if -risk_difference > prevalence:
            raise JumeauError(f"a risk difference {risk_difference} exceeds the prevalence")
        result[(untreated == 1) & (uniform < -risk_difference / prevalence)] = 0.0
    return result


def _survival_curve(
    frame: pd.DataFrame, rows: np.ndarray, endpoint: Endpoint, *, censoring: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan–Meier curve (lifelines) of the events or, reversed, of the censoring, as
    (times, survival)."""
    from lifelines import KaplanMeierFitter

    assert endpoint.outcome is not None and endpoint.event is not None
    time = required_numbers(frame[endpoint.outcome].iloc[rows], endpoint.outcome)
    event = required_numbers(frame[endpoint.event].iloc[rows], endpoint.event)
    known = ~(np.isnan(time) | np.isnan(event))
    observed = 1 - event[known] if censoring else event[known]
    fitter = KaplanMeierFitter().fit(time[known], observed)
    curve = fitter.survival_function_.iloc[:, 0]
    return curve.index.to_numpy(dtype=float), curve.to_numpy(dtype=float)


def _inverse(curve: tuple[np.ndarray, np.ndarray], level: np.ndarray) -> np.ndarray:
    """The time at which a decreasing survival curve reaches `level` (inf past its end)."""
    grid, survival = curve
    # −S increases (with flat steps); interpolating time against it inverts S
    result = np.interp(-level, -survival, grid)
    return np.where(level < survival[-1], np.inf, result)


def _conditional_draw(
    time: np.ndarray, curve: tuple[np.ndarray, np.ndarray], uniform: np.ndarray
) -> np.ndarray:
    """A time beyond `time` from the curve's distribution: G⁻¹(u · G(time))."""
    grid, survival = curve
    return np.maximum(_inverse(curve, uniform * np.interp(time, grid, survival)), time)
