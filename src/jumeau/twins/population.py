"""Virtual populations: new patients drawn from a fitted population model, with covariates drawn
from a jumeau generator fitted on real baseline data (artificial patients, rule-aware) or taken
from a table the user gives; patients whose covariates break the schema's bounds or rules are not
accepted. Their parameters carry the posterior uncertainty of the population (each virtual patient
takes one posterior draw) and the between-patient variability (fresh effects).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.generators.base import Generator
from jumeau.twins.calibrate import PopulationFit
from jumeau.twins.models import MechanisticModel, PaddedDoses
from jumeau.twins.regimen import DoseEvents, Regimen
from jumeau.twins.twin import regimen_events


@dataclass(frozen=True)
class VirtualPopulation:
    """Virtual patients: their covariates and their model parameters (one value each)."""

    model: MechanisticModel
    covariates: pd.DataFrame
    params: dict[str, np.ndarray]
    seed: int

    def __len__(self) -> int:
        return len(self.covariates)

    def simulate(self, regimen: Regimen | str | DoseEvents, times: np.ndarray) -> np.ndarray:
        """The observed quantity of every virtual patient (patients × times), no residual error."""
        events, _ = regimen_events(regimen, self.model)
        grid = np.asarray(times, dtype=np.float64)
        doses = PaddedDoses.stack([events] * len(self))
        params = {k: torch.as_tensor(v) for k, v in self.params.items()}
        with torch.no_grad():
            curves = self.model.predict(
                params, doses, torch.as_tensor(np.tile(grid, (len(self), 1)))
            )
        return curves.numpy()

    def frame(self) -> pd.DataFrame:
        """Covariates and parameters side by side, one row per virtual patient."""
        parameters = pd.DataFrame(self.params, index=self.covariates.index)
        return pd.concat([self.covariates, parameters], axis=1)


def virtual_population(
    fit: PopulationFit,
    n: int,
    *,
    covariates: Generator | Cohort | pd.DataFrame | None = None,
    seed: int = 0,
) -> VirtualPopulation:
    """`n` virtual patients. A fit with a weight effect needs covariates holding that column."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise JumeauError(f"n must be a whole number ≥ 1, not {n!r}")
    rng = np.random.default_rng(seed)
    table = covariate_table(covariates, n, rng, seed)
    weight_ratio, design = covariate_effects(fit, table)
    fresh = fit.fresh_patients(rng, n, 1, weight_ratio, design)
    values = {name: value[:, 0].numpy() for name, value in fresh.params.items()}
    return VirtualPopulation(fit.model, table.reset_index(drop=True), values, seed)


def covariate_effects(fit: PopulationFit, table: pd.DataFrame) -> tuple[Any, Any]:
    """Weight ratios and categorical design of virtual patients, each its own draw with one
    "subject" (parameters n × 1); a clear error when the table lacks what the fit scales with."""
    ratio = None
    if fit.weight is not None:
        if fit.weight not in table.columns:
            raise JumeauError(
                f"the fit scales with {fit.weight!r}: give covariates with that column"
            )
        weights = pd.to_numeric(table[fit.weight], errors="coerce").to_numpy(dtype=float)
        if not (np.isfinite(weights).all() and (weights > 0).all()):
            raise JumeauError(f"every virtual patient needs a positive {fit.weight!r}")
        assert fit.reference_weight is not None
        ratio = torch.as_tensor(weights / fit.reference_weight)[:, None]
    design = None
    if fit.effects is not None and fit.effects.effects:
        design = fit.effects.design(table)[:, None, :]  # each virtual patient's own levels
    return ratio, design


def covariate_table(
    source: Generator | Cohort | pd.DataFrame | None, n: int, rng: np.random.Generator, seed: int
) -> pd.DataFrame:
    if source is None:
        return pd.DataFrame(index=range(n))
    if isinstance(source, Generator):
        return source.sample(n, seed=seed).data  # artificial patients, bounds and rules kept
    cohort = source if isinstance(source, Cohort) else Cohort.from_frame(source)
    valid = cohort.validate().valid_rows
    if not valid.any():
        raise JumeauError("no row of the covariate table meets the schema's bounds and rules")
    rows = np.flatnonzero(valid)
    return cohort.data.iloc[rng.choice(rows, size=n, replace=True)].reset_index(drop=True)
