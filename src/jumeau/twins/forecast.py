"""Bayesian forecasting: the twin of a new patient, from the population fit and the patient's
first few measurements (precision dosing), without refitting the population.

The new patient's parameters have the population as prior: draw many (population posterior
draw, fresh between-patient effect) pairs, weight each by the likelihood of the patient's
observations under the fit's residual error model, and resample by weight (sampling importance
resampling). With no observation the twin is the population prior itself. The effective sample
size of the weights says how well the prior covers the patient (a patient far from the
population gets few effective draws; the result then warns).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch

from jumeau.errors import JumeauError, JumeauWarning
from jumeau.twins.calibrate import PopulationFit
from jumeau.twins.events import Subject
from jumeau.twins.models import PaddedDoses
from jumeau.twins.twin import Twin

MIN_EFFECTIVE_DRAWS = 50


def forecast_twin(
    fit: PopulationFit,
    patient: Subject,
    *,
    weight: float | None = None,
    covariates: dict[str, object] | None = None,
    proposals: int = 20_000,
    draws: int = 1000,
    seed: int = 0,
) -> Twin:
    """A `Twin` of `patient` (a `Subject`: their doses and observations so far). `weight` is
    needed when the fit scales with weight; `covariates` (name → level) when it has categorical
    effects (the patient's own covariates are used when not given)."""
    if isinstance(proposals, bool) or not isinstance(proposals, int) or proposals < draws:
        raise JumeauError("proposals must be a whole number ≥ draws")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise JumeauError(f"draws must be a whole number ≥ 1, not {draws!r}")
    ratio = None
    if fit.weight is not None:
        if weight is None or not weight > 0:
            raise JumeauError(f"the fit scales with {fit.weight!r}: give the patient's weight")
        assert fit.reference_weight is not None
        ratio = torch.tensor([weight / fit.reference_weight], dtype=torch.float64)
    design = None
    if fit.effects is not None and fit.effects.effects:
        levels = {**patient.covariates, **(covariates or {})}
        design = fit.effects.design(pd.DataFrame([levels]))
    rng = np.random.default_rng(seed)
    fresh = fit.fresh_patients(rng, proposals, 1, ratio, design)
    log_weights = np.zeros(proposals)
    if len(patient.times):
        doses = PaddedDoses.stack([patient.doses(absorption=fit.model.absorption)])
        times = torch.as_tensor(patient.times[None], dtype=torch.float64)
        with torch.no_grad():
            predicted = fit.model.predict(fresh.params, doses, times).numpy()[:, 0, :]
        variance = np.maximum(fresh.residual_variance(predicted), 1e-12)
        residual = patient.values[None, :] - predicted
        log_weights = -0.5 * (residual**2 / variance + np.log(variance)).sum(axis=1)
    weights = np.exp(log_weights - log_weights.max())
    weights /= weights.sum()
    effective = float(1.0 / np.sum(weights**2))
    if effective < MIN_EFFECTIVE_DRAWS:
        warnings.warn(
            f"patient {patient.id}: only {effective:.0f} effective draws of {proposals}; the "
            "population covers this patient poorly — the twin's bands are unreliable",
            JumeauWarning,
            stacklevel=2,
        )
    chosen = rng.choice(proposals, size=draws, replace=True, p=weights)
    values = {name: value[:, 0].numpy()[chosen] for name, value in fresh.params.items()}
    return Twin(patient.id, fit.model, values, effective_draws=effective)
