"""The image augmentation report (HTML + JSON): artificial image grids per class, the
augmentation table and curve, fidelity and memorisation.

Real images are patient data: their grid appears only when the caller asks (`show_real=True`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from jumeau.data.loading import write_text_atomically
from jumeau.images.cohort import ImageCohort
from jumeau.images.models import ImageGenerator
from jumeau.images.protocol import StudyResult
from jumeau.report.html import STYLE, _e, _img, json_safe
from jumeau.report.plots import to_png

GRID = 24  # images per grid


def write_images_report(
    study: StudyResult,
    generators: dict[str, ImageGenerator],
    train: ImageCohort,
    directory: str | Path,
    meta: dict[str, Any],
    *,
    show_real: bool = False,
) -> tuple[Path, Path]:
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    payload = json_safe({"meta": meta, **study.as_dict()})
    json_path = write_text_atomically(
        folder / "report.json", json.dumps(payload, indent=2, allow_nan=False) + "\n"
    )
    html = render_images_html(study, generators, train, meta, show_real=show_real)
    return write_text_atomically(folder / "report.html", html), json_path


def render_images_html(
    study: StudyResult,
    generators: dict[str, ImageGenerator],
    train: ImageCohort,
    meta: dict[str, Any],
    *,
    show_real: bool = False,
) -> str:
    grids = "".join(
        f"<h3>{_e(name)} — {_e(label)}</h3>"
        + _img(_grid(generator.sample(GRID, label=label, seed=0)), f"{name} {label}")
        for name, generator in generators.items()
        for label in generator.classes
        if train.images.ndim == 3  # 2D images; volumes are not drawn
    )
    real = ""
    if show_real and train.images.ndim == 3:
        real = "<h2>Real training images (shown on request)</h2>" + "".join(
            f"<h3>{_e(label)}</h3>" + _img(_grid(train.of_label(label).images[:GRID]), label)
            for label in train.classes
        )
    table = study.table()
    fidelity = study.fidelity_table() if not study.fidelity.empty else pd.DataFrame()
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>jumeau image augmentation report</title><style>{STYLE}</style></head><body>
<h1>Image augmentation report</h1>
<p class="muted">The same CNN trained on real images, real + k× artificial images, artificial
images only and real + k classic augmentations; epochs chosen on the real validation split;
balanced accuracy and ROC AUC on the real test split; mean ± sd over seeds, gain paired with the
real-only classifier of the same seed.</p>
<h2>Augmentation</h2>{_table(table)}{_img(_curve(table), "balanced accuracy against k")}
<h2>Fidelity and memorisation</h2>
<p class="muted">Fréchet distance and k-NN precision/recall in the features of the CNN trained on
the real training images; memorised: artificial images closer to a training image than real
holdout images come (the similarity filter removes them before any export).</p>
{fidelity.to_html(index=False, float_format=lambda v: f"{v:.3f}") if not fidelity.empty else ""}
<h2>Artificial images</h2>{grids or "<p class='na'>3D volumes: no grid drawn.</p>"}
{real}
<h2>Reproducibility</h2><pre>{_e(json.dumps(json_safe(meta), indent=2, default=str))}</pre>
</body></html>
"""


def _table(table: pd.DataFrame) -> str:
    rows = "".join(
        f"<tr><td>{_e(r['regime'])}</td><td>{_e(r['condition'])}</td><td>{r['k']}</td>"
        f"<td>{int(r['n_train'])}</td>"
        f"<td>{_pm(r['balanced_accuracy_mean'], r['balanced_accuracy_sd'])}</td>"
        f"<td>{100 * r['balanced_accuracy_gain']:+.1f}</td>"
        f"<td>{_pm(r['auc_mean'], r['auc_sd'])}</td><td>{100 * r['auc_gain']:+.1f}</td></tr>"
        for _, r in table.iterrows()
    )
    return (
        "<table><tr><th>regime</th><th>condition</th><th>k</th><th>training images</th>"
        "<th>balanced accuracy</th><th>gain (points)</th><th>ROC AUC</th><th>gain (points)</th>"
        f"</tr>{rows}</table>"
    )


def _pm(mean: float, sd: float) -> str:
    return f"{mean:.3f}" if not np.isfinite(sd) else f"{mean:.3f} ± {sd:.3f}"


def _curve(table: pd.DataFrame) -> bytes:
    figure, axes = plt.subplots(1, 1, figsize=(6, 3.6))
    for (regime, condition), part in table.groupby(["regime", "condition"], sort=False):
        if not str(condition).startswith("real + "):
            continue
        real = table[(table["regime"] == regime) & (table["condition"] == "real")]
        points = pd.concat([real, part]).sort_values("k")
        axes.errorbar(points["k"], points["balanced_accuracy_mean"],
                      yerr=points["balanced_accuracy_sd"].fillna(0), marker="o", capsize=3,
                      label=f"{condition} ({regime})")  # fmt: skip
    axes.set_xlabel("k (artificial or augmented images per real image)")
    axes.set_ylabel("balanced accuracy (real test)")
    axes.legend(fontsize=7)
    figure.tight_layout()
    return to_png(figure)


def _grid(images: np.ndarray) -> bytes:
    columns = 8
    rows = math.ceil(len(images) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 0.9, rows * 0.9))
    for axis in np.atleast_1d(axes).flat:
        axis.axis("off")
    for axis, image in zip(np.atleast_1d(axes).flat, images, strict=False):
        axis.imshow(image, cmap="gray", vmin=0, vmax=1)
    return to_png(figure)
