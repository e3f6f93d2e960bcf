"""What a prognostic score predicts, and the outcome of every patient in the form the models need.

Two outcomes are supported: a binary one (diagnosis, 30-day death) and a time to event (death,
recurrence) with censoring. A survival score predicts the risk of the event *by a horizon* τ: the
quantity a clinician reads ("12 % risk of recurrence within 5 years") and the one calibration and
decision curves need. Patients censored before τ have an unknown status at τ; instead of dropping
them (which biases risk downward) the others are weighted by the inverse probability of remaining
uncensored (IPCW, Kaplan–Meier of the censoring times), the standard device of Vock et al. (2016)
for fitting and scoring any classifier on censored data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from jumeau.data.schema import CATEGORY_KINDS, Role, Schema
from jumeau.errors import JumeauError
from jumeau.evaluation.features import category_codes
from jumeau.evaluation.utility import event_indicator
from jumeau.generators.encoding import numeric_values

OutcomeKind = Literal["binary", "survival"]
MIN_CENSORING_SURVIVAL = 0.05  # floor of Ĝ(t): caps IPCW weights at 20 (late, sparse follow-up)


@dataclass(frozen=True)
class PrognosticTask:
    """The outcome and the candidate predictors of a score."""

    kind: OutcomeKind
    outcome: str  # the binary target, or the event indicator of a survival outcome
    candidates: tuple[str, ...]
    time: str | None = None
    horizon: float | None = None  # survival: risk is predicted by this time
    positive: str | None = None  # binary: the level counted as the outcome

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"candidates": list(self.candidates)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PrognosticTask:
        return cls(**(values | {"candidates": tuple(values["candidates"])}))

    def describe(self, schema: Schema | None = None) -> str:
        """The outcome in words: the schema's labels and units when given."""
        outcome = self.outcome
        if schema is not None and self.outcome in schema.columns:
            column = schema.columns[self.outcome]
            outcome = column.label or self.outcome
            if self.kind == "binary":
                return f"{outcome}: {column.category_word(self.positive)}"
        if self.kind == "binary":
            return f"{outcome} = {self.positive}"
        unit = ""
        if schema is not None and self.time in schema.columns:
            unit = f" {schema.columns[self.time].unit or ''}".rstrip()
        return f"{outcome} within {self.horizon:g}{unit}"


@dataclass(frozen=True)
class Outcome:
    """Per patient: the outcome at the horizon (1/0) and its weight (0 where it is unknown)."""

    label: np.ndarray
    weight: np.ndarray
    time: np.ndarray | None = None  # survival only
    event: np.ndarray | None = None

    @property
    def known(self) -> np.ndarray:
        return self.weight > 0


def prognostic_task(
    schema: Schema,
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    time: str | None = None,
    horizon: float | None = None,
) -> PrognosticTask:
    """The task the user named, or the one the schema's roles imply.

    `target` with `time` is a survival outcome (`target` is the event indicator); `target` alone
    a binary one; neither: the schema's target column, else its time/event pair. Columns with
    another outcome role (a second time, an event) are never predictors: they are not known at
    baseline."""
    modelled = schema.modelled_columns
    if target is None:
        targets = [c for c in schema.columns_with_role(Role.TARGET) if c in modelled]
        events = [c for c in schema.columns_with_role(Role.EVENT) if c in modelled]
        times = [c for c in schema.columns_with_role(Role.TIME) if c in modelled]
        if targets:
            target = targets[0]
        elif events and times:
            target, time = events[0], time or times[0]
        else:
            raise JumeauError(
                "the schema names no outcome: give --target (and --time for a survival outcome)"
            )
    for name, what in ((target, "target"), (time, "time")):
        if name is not None and name not in modelled:
            raise JumeauError(
                f"{what} {name!r} is not a modelled column; choose from {', '.join(modelled)}"
            )
    outcome_roles = {Role.TARGET, Role.TIME, Role.EVENT}
    not_predictors = {target, time} | {
        c for c in modelled if schema.columns[c].role in outcome_roles
    }
    candidates = tuple(c for c in modelled if c not in not_predictors)
    if not candidates:
        raise JumeauError("no candidate predictor is left once the outcome columns are set aside")
    if time is not None:
        if schema.columns[time].kind in CATEGORY_KINDS:
            raise JumeauError(f"time {time!r} must be a number, not a category")
        event_values = event_indicator(frame, schema, target)
        _check_binary_event(target, event_values)
        time_values = numeric_values(frame[time], schema.columns[time].kind)
        if horizon is None:
            horizon = default_horizon(time_values, event_values)
        elif not horizon > 0:
            raise JumeauError(f"the horizon must be a positive time, not {horizon}")
        return PrognosticTask("survival", target, candidates, time=time, horizon=float(horizon))
    column = schema.columns[target]
    levels = [str(c) for c in column.categories or []]
    if column.kind not in CATEGORY_KINDS or len(levels) != 2:
        raise JumeauError(
            f"{target!r} must be a binary category for a prognostic score (it is "
            f"{column.kind} with {len(levels)} levels); a time-to-event outcome also needs --time"
        )
    return PrognosticTask("binary", target, candidates, positive=levels[-1])


def default_horizon(times: np.ndarray, events: np.ndarray) -> float:
    """The median event time: half the events fall before it, so both risk classes are well
    populated, and few patients are censored before it on typical follow-up."""
    observed = times[(events == 1) & np.isfinite(times)]
    if len(observed) == 0:
        raise JumeauError("no event is observed: a survival score cannot be fitted")
    return float(np.median(observed))


def _check_binary_event(name: str, events: np.ndarray) -> None:
    values = set(np.unique(events[~np.isnan(events)]).tolist())
    if not values <= {0.0, 1.0}:
        raise JumeauError(f"event {name!r} must be 0/1 (or a two-level category), not {values}")


def outcome(task: PrognosticTask, frame: pd.DataFrame, schema: Schema) -> Outcome:
    """The label each patient has at the horizon, with IPCW weights for survival outcomes."""
    if task.kind == "binary":
        levels = [str(c) for c in schema.columns[task.outcome].categories or []]
        codes = category_codes(frame[task.outcome], levels)
        label = (codes == levels.index(str(task.positive))).astype(float)
        return Outcome(label=label, weight=(codes >= 0).astype(float))
    assert task.time is not None and task.horizon is not None
    times = numeric_values(frame[task.time], schema.columns[task.time].kind)
    events = event_indicator(frame, schema, task.outcome)
    return survival_outcome(times, events, task.horizon)


def survival_outcome(times: np.ndarray, events: np.ndarray, horizon: float) -> Outcome:
    """Event by τ → 1, still followed at τ (event-free at T ≥ τ) → 0, censored before τ →
    unknown (weight 0); known labels weighted by 1 / Ĝ(min(T, τ)⁻), Ĝ the Kaplan–Meier survival
    of the censoring times. A patient censored exactly at τ was followed up to τ: known, 0 (with
    follow-up capped at τ, as in many "1-year" extracts, they are all the survivors)."""
    valid = np.isfinite(times) & np.isfinite(events)
    event_by_horizon = valid & (times <= horizon) & (events == 1)
    label = np.where(event_by_horizon, 1.0, 0.0)
    known = event_by_horizon | (valid & (times >= horizon))
    at = np.minimum(np.where(valid, times, 0.0), horizon)
    censoring = censoring_survival(times[valid], events[valid])
    survival = np.maximum(censoring(at, before=True), MIN_CENSORING_SURVIVAL)
    weight = np.where(known, 1.0 / survival, 0.0)
    return Outcome(label=label, weight=weight, time=times, event=events)


def censoring_survival(times: np.ndarray, events: np.ndarray) -> Callable[..., np.ndarray]:
    """Ĝ(t), the Kaplan–Meier estimate (lifelines) of P(censoring time > t); `before=True` gives
    Ĝ(t⁻), which leaves out censorings at t itself (a patient censored at the moment another has
    the event was still followed then)."""
    from lifelines import KaplanMeierFitter

    fitter = KaplanMeierFitter().fit(times, event_observed=(events == 0).astype(int))

    def evaluate(t: np.ndarray, before: bool = False) -> np.ndarray:
        at = np.nextafter(t, -np.inf) if before else t
        return np.asarray(fitter.survival_function_at_times(at), dtype=float)

    return evaluate
