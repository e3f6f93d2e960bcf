"""Simulating whole studies from a population fit: new patients drawn from the fitted population
(fresh between-patient effects, posterior uncertainty of the typical values and variability
carried through, residual error added), on the study's own doses and sampling times. This is what
a visual predictive check compares with the observations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from jumeau.errors import JumeauError
from jumeau.twins.calibrate import PopulationFit, StudyTensors
from jumeau.twins.events import PKData


@dataclass(frozen=True)
class SimulatedStudies:
    """`values` (replicates × subjects × times) at `times` (subjects × times); `observed` marks
    the real sampling slots (the rest is padding)."""

    values: np.ndarray
    individual_predictions: np.ndarray  # the same slots, each patient's own posterior median
    times: np.ndarray
    observed: np.ndarray


def simulate_studies(
    fit: PopulationFit, data: PKData, replicates: int = 200, *, seed: int = 0
) -> SimulatedStudies:
    """`replicates` studies like `data`, each patient replaced by a new one from the population."""
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 1:
        raise JumeauError(f"replicates must be a whole number ≥ 1, not {replicates!r}")
    if [str(i) for i in data.ids] != [str(i) for i in fit.subject_ids]:
        raise JumeauError("the study does not match the fit (different subjects)")
    rng = np.random.default_rng(seed)
    tensors = StudyTensors.build(data, fit.model, fit.weight)
    subjects = len(data)
    ratio = None if fit.weight_ratio is None else torch.as_tensor(fit.weight_ratio)
    fresh = fit.fresh_patients(rng, replicates, subjects, ratio)
    with torch.no_grad():
        predicted = fit.model.predict(fresh.params, tensors.doses, tensors.times).numpy()
        own = fit.individual_all()
        median = {
            name: torch.as_tensor(np.median(v.reshape(-1, subjects), axis=0))
            for name, v in own.items()
        }
        individual = fit.model.predict(median, tensors.doses, tensors.times).numpy()
    variance = fresh.residual_variance(predicted)
    values = predicted + np.sqrt(variance) * rng.standard_normal(predicted.shape)
    return SimulatedStudies(values, individual, tensors.times.numpy(), tensors.observed.numpy())
