"""Trajectory figures. Real patients appear only as distributions (median and 10–90 % band per
time window), never as individual courses; artificial patients may be drawn one by one."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from jumeau.data.longitudinal import LongitudinalCohort
from jumeau.report.plots import ARTIFICIAL, REAL, to_png

WINDOWS = 8
LINES = 40


def trajectory_figure(
    real: LongitudinalCohort,
    artificial: LongitudinalCohort,
    *,
    measures: list[str] | None = None,
    lines: int = LINES,
    seed: int = 0,
) -> bytes:
    """A spaghetti plot per numeric measure: `lines` artificial courses over the real and the
    artificial median and 10–90 % band in windows of visit time (PNG bytes)."""
    columns = real.columns
    numeric = [
        n for n in columns.varying if real.schema.columns[n].kind.value in ("continuous", "integer")
    ]
    measures = numeric if measures is None else measures
    if not measures:
        raise ValueError("no numeric measure to plot")
    edges = _window_edges(real.data[columns.time].to_numpy(float))
    figure, axes = plt.subplots(1, len(measures), figsize=(5.5 * len(measures), 3.6), squeeze=False)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(
        artificial.patients[columns.id].to_numpy(),
        size=min(lines, artificial.n_patients),
        replace=False,
    )
    for axis, name in zip(axes.flat, measures, strict=True):
        for patient in chosen:
            course = artificial.data[artificial.data[columns.id] == patient]
            axis.plot(
                course[columns.time], pd.to_numeric(course[name]), color=ARTIFICIAL,
                alpha=0.35, linewidth=0.8,
            )  # fmt: skip
        for cohort, colour, label in ((real, REAL, "real"), (artificial, ARTIFICIAL, "artificial")):
            centre, low, high, middle = _bands(cohort, name, edges)
            axis.plot(middle, centre, color=colour, linewidth=2.2, label=f"{label}: median")
            axis.fill_between(middle, low, high, color=colour, alpha=0.18,
                              label=f"{label}: 10–90 %")  # fmt: skip
        spec = real.schema.columns[name]
        time_spec = real.schema.columns[columns.time]
        axis.set_xlabel(time_spec.display_name(columns.time))
        axis.set_ylabel(spec.display_name(name))
        axis.set_title(f"{spec.label or name}: {len(chosen)} artificial courses")
        axis.legend(fontsize=7, loc="best")
    figure.tight_layout()
    return to_png(figure)


def _window_edges(times: np.ndarray) -> np.ndarray:
    edges = np.unique(np.quantile(times, np.linspace(0, 1, WINDOWS + 1)))
    if edges.size < 2:
        edges = np.array([times.min(), times.min() + 1.0])
    return edges


def _bands(
    cohort: LongitudinalCohort, name: str, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    times = cohort.data[cohort.columns.time].to_numpy(float)
    values = pd.to_numeric(cohort.data[name], errors="coerce").to_numpy(float)
    window = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, edges.size - 2)
    centre, low, high, middle = [], [], [], []
    for w in range(edges.size - 1):
        inside = values[(window == w) & np.isfinite(values)]
        if inside.size < 5:  # too few to show a distribution (and too close to individuals)
            continue
        low_, centre_, high_ = np.quantile(inside, [0.1, 0.5, 0.9])
        centre.append(centre_)
        low.append(low_)
        high.append(high_)
        middle.append(float(np.median(times[window == w])))
    return np.array(centre), np.array(low), np.array(high), np.array(middle)
