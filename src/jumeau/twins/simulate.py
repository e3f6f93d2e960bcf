"""Simulating whole studies from a population fit: new patients drawn from the fitted population
(fresh between-patient effects, posterior uncertainty of the typical values and variability
carried through, residual error added), on the study's own doses and sampling times. This is what
a visual predictive check compares with the observations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from jumeau.errors import JumeauError
from jumeau.twins.calibrate import PopulationFit, StudyTensors, residual_variance
from jumeau.twins.events import CENTRAL, DEPOT, PKData
from jumeau.twins.models import MechanisticModel, PaddedDoses
from jumeau.twins.regimen import DoseEvents, Regimen


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
    tensors = StudyTensors.build(data, fit.model, fit.weight, fit.clearance_exponent)
    subjects = len(data)
    ratio = None if fit.weight_ratio is None else torch.as_tensor(fit.weight_ratio)
    fresh = fit.fresh_patients(rng, replicates, subjects, ratio, fit.design)
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


def simulate_study(
    model: MechanisticModel,
    typical: dict[str, float],
    omega: dict[str, float],
    *,
    subjects: int,
    times: np.ndarray,
    regimens: Sequence[Regimen | None] | Regimen | None = None,
    sigma_prop: float = 0.1,
    sigma_add: float = 0.0,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """A study with known truth, for parameter recovery and for designing a study before running
    it: `subjects` patients whose parameters vary around `typical` with sd `omega` on each
    parameter's transformed scale (log-normal for positive ones), each given their regimen
    (one for all, one per patient, or None: untreated) and observed at `times` (hours) with
    combined residual error. Returns the long-format frame (ID, TIME, DV, AMT, EVID, CMT, RATE)
    and each patient's true parameters."""
    if set(typical) != set(model.parameter_names) or not set(omega) <= set(typical):
        raise JumeauError(
            f"{model.name}: give a typical value for each of {', '.join(model.parameter_names)}"
        )
    if isinstance(subjects, bool) or not isinstance(subjects, int) or subjects < 1:
        raise JumeauError(f"subjects must be a whole number ≥ 1, not {subjects!r}")
    grid = np.asarray(times, dtype=np.float64)
    if grid.ndim != 1 or not len(grid) or (grid < 0).any() or (np.diff(grid) < 0).any():
        raise JumeauError("times must be increasing hours ≥ 0")
    per_subject = list(regimens) if isinstance(regimens, Sequence) else [regimens] * subjects
    if len(per_subject) != subjects:
        raise JumeauError(f"give one regimen per subject ({subjects}), not {len(per_subject)}")
    rng = np.random.default_rng(seed)
    individual: dict[str, np.ndarray] = {}
    for parameter in model.parameters:
        centre = parameter.unconstrain(typical[parameter.name])
        spread = omega.get(parameter.name, 0.0) * rng.standard_normal(subjects)
        individual[parameter.name] = parameter.constrain(torch.as_tensor(centre + spread)).numpy()
    events = [
        r.events() if r is not None else DoseEvents(*(np.zeros(0),) * 3, np.zeros(0, bool))
        for r in per_subject
    ]
    doses = PaddedDoses.stack(events)
    with torch.no_grad():
        curves = model.predict(
            {k: torch.as_tensor(v) for k, v in individual.items()},
            doses,
            torch.as_tensor(np.tile(grid, (subjects, 1))),
        ).numpy()
    noise = np.sqrt(residual_variance(curves, sigma_add or None, sigma_prop or None))
    observed = curves + noise * rng.standard_normal(curves.shape)
    rows = []
    for i, dosing in enumerate(events):
        for t, amount, duration, oral in zip(
            dosing.times, dosing.amounts, dosing.durations, dosing.oral, strict=True
        ):
            rate = amount / duration if duration > 0 else 0.0
            rows.append((i + 1, t, np.nan, amount, 1, DEPOT if oral else CENTRAL, rate))
        rows += [
            (i + 1, t, y, 0.0, 0, CENTRAL, 0.0) for t, y in zip(grid, observed[i], strict=True)
        ]
    frame = pd.DataFrame(rows, columns=["ID", "TIME", "DV", "AMT", "EVID", "CMT", "RATE"])
    frame = frame.sort_values(["ID", "TIME", "EVID"], ascending=[True, True, False], kind="stable")
    return frame.reset_index(drop=True), individual
