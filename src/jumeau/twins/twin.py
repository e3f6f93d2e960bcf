"""A patient's digital twin: their posterior parameters, put through any dosing regimen.

`fit.twin(patient)` keeps the patient's posterior draws from a population fit; `simulate`
returns the concentration curve's posterior bands under a regimen; `compare` answers "what if we
dose differently?" as probabilities — that the troughs stay above a level, that the peak stays
below a toxic one — with the uncertainty of the patient's own parameters carried through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from scipy.integrate import trapezoid

from jumeau.errors import JumeauError
from jumeau.twins.models import MechanisticModel, PaddedDoses
from jumeau.twins.regimen import DoseEvents, Regimen

if TYPE_CHECKING:
    from jumeau.twins.calibrate import PopulationFit

METRICS = ("trough", "peak", "auc", "final", "change")
GRID_POINTS = 241


@dataclass(frozen=True)
class Simulation:
    """Posterior draws of the observed quantity (draws × times) and their bands."""

    times: np.ndarray
    draws: np.ndarray
    level: float
    regimen: str

    @property
    def median(self) -> np.ndarray:
        return np.median(self.draws, axis=0)

    @property
    def lower(self) -> np.ndarray:
        return np.quantile(self.draws, (1 - self.level) / 2, axis=0)

    @property
    def upper(self) -> np.ndarray:
        return np.quantile(self.draws, (1 + self.level) / 2, axis=0)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"time": self.times, "median": self.median, "lower": self.lower, "upper": self.upper}
        )


@dataclass(frozen=True)
class Twin:
    """One patient's posterior parameters (flattened draws) and the model they feed."""

    subject_id: Any
    model: MechanisticModel
    params: dict[str, np.ndarray]  # name → (draws,)
    effective_draws: float | None = None  # forecasts: effective sample size of the weights

    @classmethod
    def from_fit(cls, fit: PopulationFit, subject_id: Any) -> Twin:
        draws = fit.individual(subject_id)
        return cls(subject_id, fit.model, {k: v.reshape(-1) for k, v in draws.items()})

    @property
    def n_draws(self) -> int:
        return len(next(iter(self.params.values())))

    def simulate(
        self,
        regimen: Regimen | str | DoseEvents,
        times: np.ndarray | None = None,
        *,
        level: float = 0.9,
    ) -> Simulation:
        """The curve under `regimen` at `times` (hours; default: a fine grid over the regimen
        and one interval after it), for every posterior draw."""
        if not 0 < level < 1:
            raise JumeauError(f"the band level must be between 0 and 1, not {level}")
        events, label = regimen_events(regimen, self.model)
        grid = _grid(events) if times is None else np.asarray(times, dtype=np.float64)
        if grid.ndim != 1 or not len(grid) or not np.isfinite(grid).all() or (grid < 0).any():
            raise JumeauError("times must be a non-empty list of hours ≥ 0")
        params = {
            k: torch.as_tensor(v, dtype=torch.float64)[:, None] for k, v in self.params.items()
        }
        doses = PaddedDoses.stack([events])
        with torch.no_grad():
            curves = self.model.predict(params, doses, torch.as_tensor(grid)[None])[:, 0]
        return Simulation(grid, curves.numpy(), level, label)

    def compare(
        self,
        regimens: Mapping[str, Regimen | str | DoseEvents],
        *,
        metric: str = "trough",
        above: float | None = None,
        below: float | None = None,
        at: float | None = None,
    ) -> pd.DataFrame:
        """Per regimen: the metric's posterior median and 90 % interval and, given `above` and/or
        `below`, the probability that it lies there. `trough`: the lowest concentration just
        before each dose after the first, and at the end of the last interval ("the troughs stay
        above X"); `peak`: the highest; `auc`: area under the curve; `final`: the value at `at`
        hours (default: one interval after the last dose); `change`: the relative change from
        the first dose to `at` (tumour shrinkage of more than 30 % at week 12:
        `metric="change", below=-0.3, at=12 * 168`)."""
        if metric not in METRICS:
            raise JumeauError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
        if not regimens:
            raise JumeauError("compare needs at least one regimen")
        if at is not None and not (np.isfinite(at) and at >= 0):
            raise JumeauError(f"`at` is a time in hours ≥ 0, not {at!r}")
        if at is not None and metric not in ("final", "change"):
            raise JumeauError("`at` applies to the metrics 'final' and 'change'")
        rows = []
        for name, regimen in regimens.items():
            events, label = regimen_events(regimen, self.model)
            values = _metric(self, events, metric, at)
            row: dict[str, Any] = {
                "regimen": name,
                "dosing": label,
                "median": float(np.median(values)),
                "q05": float(np.quantile(values, 0.05)),
                "q95": float(np.quantile(values, 0.95)),
            }
            if above is not None or below is not None:
                inside = np.ones(len(values), dtype=bool)
                if above is not None:
                    inside &= values > above
                if below is not None:
                    inside &= values < below
                row["probability"] = float(inside.mean())
            rows.append(row)
        return pd.DataFrame(rows)


def regimen_events(
    regimen: Regimen | str | DoseEvents, model: MechanisticModel
) -> tuple[DoseEvents, str]:
    if isinstance(regimen, str):
        regimen = Regimen.parse(regimen)
    if isinstance(regimen, Regimen):
        events = regimen.events()
        label = str(regimen)
    elif isinstance(regimen, DoseEvents):
        events, label = regimen, f"{len(regimen)} dose(s)"
    else:
        raise JumeauError(
            f"expected a Regimen, its text or DoseEvents, not {type(regimen).__name__}"
        )
    if events.oral.any() and not model.accepts_oral:
        raise JumeauError(f"{model.name} has no absorption; give IV doses ('iv' or 'over 1h')")
    return events, label


def _span(events: DoseEvents) -> tuple[float, float]:
    interval = float(np.diff(events.times).max()) if len(events) > 1 else 24.0
    return float(events.times.min()), float(events.times.max()) + interval


def _grid(events: DoseEvents) -> np.ndarray:
    start, stop = _span(events)
    return np.unique(np.r_[np.linspace(start, stop, GRID_POINTS), events.times])


def _metric(twin: Twin, events: DoseEvents, metric: str, at: float | None) -> np.ndarray:
    start, stop = _span(events)
    if metric in ("final", "change"):
        end = stop if at is None else float(at)
        values = twin.simulate(events, np.array([start, end])).draws
        if metric == "final":
            return values[:, 1]
        return values[:, 1] / np.where(values[:, 0] == 0, np.nan, values[:, 0]) - 1
    if metric == "trough":
        before = np.r_[events.times[1:], stop] - 1e-9
        return twin.simulate(events, np.maximum(before, 0.0)).draws.min(axis=1)
    simulation = twin.simulate(events, _grid(events))
    if metric == "peak":
        return simulation.draws.max(axis=1)
    return trapezoid(simulation.draws, simulation.times, axis=1)
