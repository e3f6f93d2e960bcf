"""The report's figures, as PNG bytes (embedded in the HTML as data URIs, so it opens offline).

Privacy by design: real patients appear only as distributions — histograms, bar charts, density
contours — never as individual points; artificial patients may be drawn as points.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display, no GUI toolkit: the report is rendered headless

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from scipy.stats import spearmanr
from sklearn.decomposition import PCA

from jumeau.data.cohort import Cohort
from jumeau.data.schema import CATEGORY_KINDS
from jumeau.evaluation.evaluate import Evaluation
from jumeau.evaluation.features import category_codes, feature_matrix, shared_columns
from jumeau.generators.encoding import numeric_values

REAL = "#1f4e79"
ARTIFICIAL = "#e07b00"
HOLDOUT = "#5b8c3a"
PANELS_PER_ROW = 4
MAX_CATEGORY_BARS = 12


def to_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def distributions(
    real: Cohort,
    artificial: Cohort,
    *,
    columns: Sequence[str] | None = None,
    labels: tuple[str, str] = ("real (training)", "artificial"),
) -> bytes:
    """One small panel per variable: real vs artificial (or observed vs imputed values, with
    other `labels`), with the schema's labels and units."""
    columns = shared_columns(real, artificial) if columns is None else list(columns)
    rows = max(1, math.ceil(len(columns) / PANELS_PER_ROW))
    figure, axes = plt.subplots(
        rows, PANELS_PER_ROW, figsize=(3.2 * PANELS_PER_ROW, 2.4 * rows), squeeze=False
    )
    for axis, name in zip(axes.flat, columns, strict=False):
        column = real.schema.columns[name]
        if column.kind in CATEGORY_KINDS:
            _category_bars(axis, real, artificial, name)
        else:
            _histograms(axis, real, artificial, name)
        axis.set_title(column.display_name(name), fontsize=8)
        axis.tick_params(labelsize=7)
    for axis in list(axes.flat)[len(columns) :]:
        axis.axis("off")
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=REAL, alpha=0.5),
        plt.Rectangle((0, 0), 1, 1, color=ARTIFICIAL, alpha=0.5),
    ]
    figure.legend(handles, list(labels), loc="upper center", ncol=2)
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    return to_png(figure)


def _histograms(axis: plt.Axes, real: Cohort, artificial: Cohort, name: str) -> None:
    kind = real.schema.columns[name].kind
    x = numeric_values(real.data[name], kind)
    y = numeric_values(artificial.data[name], kind)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if x.size == 0:
        return
    low, high = np.percentile(x, [0.5, 99.5])  # bins from the bulk: no bin isolates an extreme
    if high <= low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, 25)
    if not (np.isfinite(high - low) and (np.diff(edges) > 0).all()):
        # a range past the float limit (values of ±1e308), or values no bins can separate at
        # their magnitude: neither the bins nor the axis's ticks can be computed; no panel
        axis.text(0.5, 0.5, "range too wide to draw", ha="center", va="center", fontsize=7)
        return
    bins = edges.tolist()
    axis.hist(np.clip(x, low, high), bins=bins, density=True, color=REAL, alpha=0.5)
    if y.size:
        axis.hist(np.clip(y, low, high), bins=bins, density=True, color=ARTIFICIAL, alpha=0.5)


def _category_bars(axis: plt.Axes, real: Cohort, artificial: Cohort, name: str) -> None:
    levels = list(real.schema.columns[name].categories or [])[:MAX_CATEGORY_BARS]
    positions = np.arange(len(levels))
    for offset, cohort, colour in ((-0.2, real, REAL), (0.2, artificial, ARTIFICIAL)):
        codes = category_codes(cohort.data[name], levels)
        shares = np.array([(codes == i).mean() for i in range(len(levels))])
        axis.bar(positions + offset, shares, width=0.4, color=colour, alpha=0.7)
    axis.set_xticks(positions, [str(v) for v in levels], rotation=30, fontsize=7)


def correlation_difference(real: Cohort, artificial: Cohort) -> bytes | None:
    """|Spearman(real) − Spearman(artificial)| for every pair of variables."""
    columns = shared_columns(real, artificial)
    if len(columns) < 2:
        return None
    differences = np.abs(_spearman_matrix(real, columns) - _spearman_matrix(artificial, columns))
    size = max(4.0, 0.28 * len(columns) + 2)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(differences, vmin=0, vmax=1, cmap="Reds")
    labels = [real.schema.columns[c].display_name(c) for c in columns]
    axis.set_xticks(range(len(columns)), labels, rotation=90, fontsize=7)
    axis.set_yticks(range(len(columns)), labels, fontsize=7)
    figure.colorbar(image, ax=axis, label="|Δ Spearman correlation|")
    axis.set_title("Correlation difference, real vs artificial")
    return to_png(figure)


def _spearman_matrix(cohort: Cohort, columns: Sequence[str]) -> np.ndarray:
    x = feature_matrix(cohort.data, cohort.schema, list(columns))
    n = x.shape[1]
    result = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            both = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
            if both.sum() < 3 or np.ptp(x[both, i]) == 0 or np.ptp(x[both, j]) == 0:
                value = 0.0
            else:
                value = float(spearmanr(x[both, i], x[both, j]).statistic)
            result[i, j] = result[j, i] = value
    return result


def projection(real: Cohort, artificial: Cohort, seed: int) -> bytes | None:
    """PCA of the real training patients: real as density contours, artificial as points."""
    columns = shared_columns(real, artificial)
    x_real = feature_matrix(real.data, real.schema, columns)
    x_art = feature_matrix(artificial.data, real.schema, columns)
    if x_real.shape[1] < 2 or len(x_real) < 5:
        return None
    with np.errstate(all="ignore"):
        medians = np.nan_to_num(np.nanmedian(x_real, axis=0))
        scale = np.nanstd(x_real, axis=0)
    scale = np.where(np.nan_to_num(scale) > 0, scale, 1.0)

    def prepared(x: np.ndarray) -> np.ndarray:
        return (np.where(np.isnan(x), medians, x) - medians) / scale

    pca = PCA(n_components=2, random_state=seed).fit(prepared(x_real))
    real_2d, art_2d = pca.transform(prepared(x_real)), pca.transform(prepared(x_art))
    figure, axis = plt.subplots(figsize=(6, 5))
    shown = art_2d[np.random.default_rng(seed).permutation(len(art_2d))[:2000]]
    axis.scatter(shown[:, 0], shown[:, 1], s=4, alpha=0.35, color=ARTIFICIAL, label="artificial")
    counts, x_edges, y_edges = np.histogram2d(real_2d[:, 0], real_2d[:, 1], bins=30)
    smoothed = _smooth(counts)
    if smoothed.max() > 0:
        levels = np.quantile(smoothed[smoothed > 0], [0.25, 0.5, 0.75, 0.9])
        centres_x = (x_edges[:-1] + x_edges[1:]) / 2
        centres_y = (y_edges[:-1] + y_edges[1:]) / 2
        axis.contour(centres_x, centres_y, smoothed.T, levels=np.unique(levels), colors=REAL)
    axis.plot([], [], color=REAL, label="real training patients (density)")
    ratio = pca.explained_variance_ratio_
    axis.set_xlabel(f"PC 1 ({ratio[0]:.0%} of variance)")
    axis.set_ylabel(f"PC 2 ({ratio[1]:.0%} of variance)")
    axis.legend(loc="best", fontsize=8)
    axis.set_title("Principal components of the real patients")
    return to_png(figure)


def _smooth(counts: np.ndarray) -> np.ndarray:
    """A small Gaussian blur, so contours show the density and not single patients."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(counts, sigma=1.5)


def distance_histograms(result: Evaluation) -> bytes:
    figure, axis = plt.subplots(figsize=(6, 3.5))
    values = np.concatenate([result.dcr_artificial, result.dcr_holdout])
    finite = values[np.isfinite(values)]
    high = float(np.percentile(finite, 99)) if finite.size else 1.0
    bins = np.linspace(0, max(high, 1e-6), 40).tolist()
    for distances, colour, who in (
        (result.dcr_artificial, ARTIFICIAL, "artificial"),
        (result.dcr_holdout, HOLDOUT, "real holdout"),
    ):
        axis.hist(
            np.clip(distances, 0, high),
            bins=bins,
            density=True,
            alpha=0.55,
            color=colour,
            label=f"{who} → closest training patient",
        )
    axis.axvline(result.similarity.threshold, color="black", linestyle="--", linewidth=1)
    axis.set_xlabel("Gower distance to the closest training patient")
    axis.legend(fontsize=8)
    return to_png(figure)


def augmentation_curve(result: Evaluation) -> bytes | None:
    """Score on the holdout against the number of artificial patients added (× real)."""
    utility = result.utility
    if utility is None:
        return None
    metric, model = utility.task.metrics[-1], utility.task.models[0]
    figure, axis = plt.subplots(figsize=(6, 3.8))

    def value(scores: object) -> float:
        table = getattr(scores, "scores", {})
        return float(table.get(metric, {}).get(model, np.nan))

    factors = sorted(utility.augmentation)
    axis.plot(
        factors,
        [value(utility.augmentation[k]) for k in factors],
        marker="o",
        color=REAL,
        label=f"all {result.n_train} training patients",
    )
    for size, runs in sorted(utility.small_cohorts.items()):
        values = np.array([[value(run[k]) for k in factors] for run in runs])
        axis.errorbar(
            factors,
            np.nanmean(values, axis=0),
            yerr=np.nanstd(values, axis=0),
            marker="s",
            capsize=3,
            label=f"{size} patients (mean ± sd of {len(runs)})",
        )
    axis.set_xlabel("artificial patients added (× the real ones)")
    axis.set_ylabel(f"{metric} on the holdout ({model.replace('_', ' ')})")
    axis.legend(fontsize=8)
    return to_png(figure)
