"""Figures of a score's model card, as PNG bytes. Every curve is an aggregate (risk tenths, grid
values, thresholds): no patient is drawn."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from jumeau.prognostic.card import ScoreSide
from jumeau.report.plots import ARTIFICIAL, PANELS_PER_ROW, REAL, to_png

COLOURS = (ARTIFICIAL, REAL)


def calibration(sides: list[ScoreSide]) -> bytes | None:
    """Mean predicted against observed risk by tenths of predicted risk."""
    if not any(side.validation.calibration_curve for side in sides):
        return None
    figure, axis = plt.subplots(figsize=(4.6, 4.2))
    top = 0.0
    for side, colour in zip(sides, COLOURS, strict=False):
        curve = side.validation.calibration_curve
        predicted = [point["predicted"] for point in curve]
        observed = [point["observed"] for point in curve]
        axis.plot(predicted, observed, "o-", color=colour, label=side.label)
        top = max(top, *predicted, *observed)
    top = min(1.0, top * 1.05 + 0.02)
    axis.plot([0, top], [0, top], ":", color="#888", label="ideal")
    axis.set_xlabel("predicted risk")
    axis.set_ylabel("observed risk")
    axis.set_title("Calibration on real patients (tenths of risk)")
    axis.legend(fontsize=8)
    return to_png(figure)


def decision_curve(sides: list[ScoreSide]) -> bytes:
    """Net benefit against the threshold risk at which one would act."""
    figure, axis = plt.subplots(figsize=(5.2, 4.0))
    thresholds = sides[0].validation.thresholds
    for side, colour in zip(sides, COLOURS, strict=False):
        values = [e.value for e in side.validation.net_benefit["model"]]
        axis.plot(thresholds, values, "-", color=colour, label=side.label)
    everyone = [e.value for e in sides[0].validation.net_benefit["treat all"]]
    axis.plot(thresholds, everyone, "--", color="#888", label="treat all")
    axis.axhline(0.0, color="#444", linewidth=0.8, label="treat none")
    low = min(min(everyone), 0.0)
    axis.set_ylim(max(low, -0.05), None)
    axis.set_xlabel("threshold risk")
    axis.set_ylabel("net benefit")
    axis.set_title("Decision curve on real patients")
    axis.legend(fontsize=8)
    return to_png(figure)


def effects(sides: list[ScoreSide]) -> bytes | None:
    """Partial dependence of the risk on each variable, every score of the card overlaid."""
    variables: list[str] = []
    for side in sides:
        variables += [c.variable for c in side.curves if c.variable not in variables]
    if not variables:
        return None
    rows = math.ceil(len(variables) / PANELS_PER_ROW)
    figure, axes = plt.subplots(
        rows, PANELS_PER_ROW, figsize=(3.2 * PANELS_PER_ROW, 2.6 * rows), squeeze=False
    )
    for axis, variable in zip(axes.ravel(), variables, strict=False):
        for side, colour in zip(sides, COLOURS, strict=False):
            curve = next((c for c in side.curves if c.variable == variable), None)
            if curve is None:
                continue
            if curve.categorical:
                positions = np.arange(len(curve.values))
                offset = -0.2 if colour == COLOURS[0] else 0.2
                axis.bar(positions + offset, curve.risk, width=0.4, color=colour, label=side.label)
                axis.set_xticks(positions, [str(v) for v in curve.values], fontsize=7)
            else:
                axis.plot(curve.values, curve.risk, "-", color=colour, label=side.label)
        axis.set_title(variable, fontsize=9)
        axis.tick_params(labelsize=7)
    for axis in axes.ravel()[len(variables) :]:
        axis.set_visible(False)
    axes.ravel()[0].set_ylabel("mean predicted risk")
    axes.ravel()[0].legend(fontsize=7)
    figure.tight_layout()
    return to_png(figure)
