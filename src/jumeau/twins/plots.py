"""Figures of a population fit, as PNG bytes (headless): a patient's fit with its band, the
goodness-of-fit pair (observed vs predicted, residuals vs time) and a visual predictive check.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from jumeau.twins.calibrate import PopulationFit
from jumeau.twins.events import PKData
from jumeau.twins.simulate import SimulatedStudies, simulate_studies


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def individual_fit(fit: PopulationFit, data: PKData, subject_id: Any, level: float = 0.9) -> bytes:
    """The patient's observations over their posterior band under their own doses."""
    subject = data.subject(subject_id)
    twin = fit.twin(subject_id)
    events = subject.doses(absorption=fit.model.absorption)
    end = float(max(subject.times.max(initial=0.0), events.times.max(initial=0.0)) * 1.05 + 1)
    simulation = twin.simulate(events, np.linspace(0.0, end, 300), level=level)
    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.fill_between(
        simulation.times,
        simulation.lower,
        simulation.upper,
        alpha=0.3,
        label=f"{level:.0%} credible band",
    )
    axis.plot(simulation.times, simulation.median, label="posterior median")
    axis.plot(subject.times, subject.values, "o", color="black", label="observed")
    axis.set(xlabel="time (h)", ylabel=fit.model.observed, title=f"subject {subject_id}")
    axis.legend(fontsize=8)
    return _png(figure)


def goodness_of_fit(
    fit: PopulationFit, data: PKData, simulated: SimulatedStudies | None = None
) -> bytes:
    """Observed vs individual prediction, and relative residuals vs time."""
    simulated = simulated or simulate_studies(fit, data, replicates=1)
    mask = simulated.observed
    observed = np.zeros_like(simulated.times)
    for i, subject in enumerate(data):
        observed[i, : len(subject.values)] = subject.values
    predicted = simulated.individual_predictions[mask]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(predicted, observed[mask], "o", alpha=0.5)
    top = float(max(predicted.max(initial=0.0), observed[mask].max(initial=0.0)))
    left.plot([0, top], [0, top], color="grey", linestyle="--")
    left.set(xlabel="individual prediction", ylabel="observed", title="observed vs predicted")
    relative = (observed[mask] - predicted) / np.maximum(np.abs(predicted), 1e-9)
    right.plot(simulated.times[mask], relative, "o", alpha=0.5)
    right.axhline(0.0, color="grey", linestyle="--")
    right.set(xlabel="time (h)", ylabel="(observed − predicted) / predicted", title="residuals")
    return _png(figure)


def visual_predictive_check(
    fit: PopulationFit, data: PKData, replicates: int = 200, bins: int = 8, seed: int = 0
) -> bytes:
    """Observed 5th, 50th and 95th percentiles per time bin over the 90 % intervals of the same
    percentiles in studies simulated from the fit."""
    simulated = simulate_studies(fit, data, replicates=replicates, seed=seed)
    mask = simulated.observed
    times = simulated.times[mask]
    observed = np.concatenate([s.values for s in data])
    edges = np.unique(np.quantile(times, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, len(edges) - 2)
    centres, observed_q, band_low, band_high = [], [], [], []
    for b in range(len(edges) - 1):
        inside = which == b
        if inside.sum() < 3:
            continue
        centres.append(float(np.median(times[inside])))
        observed_q.append(np.quantile(observed[inside], [0.05, 0.5, 0.95]))
        per_study = np.quantile(simulated.values[:, mask][:, inside], [0.05, 0.5, 0.95], axis=1)
        band_low.append(np.quantile(per_study, 0.05, axis=1))
        band_high.append(np.quantile(per_study, 0.95, axis=1))
    figure, axis = plt.subplots(figsize=(6.5, 4))
    axis.plot(times, observed, "o", color="grey", alpha=0.4, markersize=3, label="observed")
    x, obs, low, high = (
        np.array(centres),
        np.array(observed_q),
        np.array(band_low),
        np.array(band_high),
    )
    for j, (name, colour) in enumerate(
        (("5th", "tab:blue"), ("50th", "tab:red"), ("95th", "tab:blue"))
    ):
        axis.fill_between(x, low[:, j], high[:, j], color=colour, alpha=0.2)
        axis.plot(x, obs[:, j], color=colour, label=f"observed {name} percentile")
    axis.set(xlabel="time (h)", ylabel=fit.model.observed, title="visual predictive check")
    axis.legend(fontsize=8)
    return _png(figure)
