"""Numerical stability of the neural generators: seeded trainings that go wrong (issue 3).

Public RHVAE implementations are known for NaN losses and exploding leapfrog norms. This script
trains `vae` and `rhvae` with their default settings on each dataset's 70/30 train part (the
split of seed 0, as in ``generators.py``) under ``--seeds`` training seeds, and counts for each
model and dataset:

- failures: the fit raised, a training or validation loss is not finite, a weight is not finite,
  or the 500 patients sampled afterwards hold an infinite number or fail ``Cohort.validate()``
  (a NaN where the schema allows no missing value fails it); any one of these counts;
- trainings in which some batch had a non-finite loss and was skipped (the guard in
  ``jumeau.generators.neural.training``: such a batch is counted and not applied; a training that
  needed the guard is listed even when it then finished cleanly);
- fit seconds (mean ± sd).

``python benchmarks/stability.py`` prints the table and writes ``--out`` (JSON, every training);
``--quick`` trains one seed on one dataset with few epochs (a smoke test).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jumeau.data.cohort import Cohort
from jumeau.datasets import load
from jumeau.generators.persistence import versions
from jumeau.generators.registry import make_generator
from jumeau.generators.vae.model import VAE

DEFAULT_DATASETS = ("breast_cancer", "gbsg2", "lung")
MODELS = ("vae", "rhvae")
TRAIN_SHARE = 0.7
SAMPLED = 500
QUICK_SETTINGS: dict[str, dict[str, Any]] = {
    "vae": {"epochs": 5},
    "rhvae": {"epochs": 5, "flow_epochs": 3},
}


@dataclass
class Training:
    dataset: str
    model: str
    seed: int
    fit_s: float | None = None
    error: str | None = None
    finite_losses: bool = True
    finite_weights: bool = True
    finite_samples: bool = True
    skipped_batches: int = 0

    @property
    def failed(self) -> bool:
        return bool(
            self.error
            or not self.finite_losses
            or not self.finite_weights
            or not self.finite_samples
        )


def train_part(cohort: Cohort) -> Cohort:
    """The train part of seed 0's 70/30 split (the split ``generators.py`` uses)."""
    rows = np.random.default_rng(0).permutation(len(cohort))
    return cohort.subset(rows[: round(TRAIN_SHARE * len(cohort))])


def histories(model: VAE) -> list[Any]:
    """Every training history the model keeps (the RHVAE adds its VAE warm-up's)."""
    found = [model.history_]
    warmup = getattr(model, "warmup_history_", None)
    return found if warmup is None else [warmup, *found]


def check(dataset: str, name: str, seed: int, train: Cohort, quick: bool) -> Training:
    record = Training(dataset, name, seed)
    params = QUICK_SETTINGS[name] if quick else {}
    start = time.perf_counter()
    try:
        model = make_generator(name, **params)
        assert isinstance(model, VAE)
        model.fit(train, seed=seed, progress=False)
        record.fit_s = time.perf_counter() - start
        for history in histories(model):
            losses = [*history.train_loss, *history.validation_loss]
            record.finite_losses &= all(math.isfinite(v) for v in losses)
            record.skipped_batches += history.skipped_batches
        record.finite_weights = all(
            bool(torch.isfinite(p).all()) for p in model.module_.parameters()
        )
        artificial = model.sample(SAMPLED, seed=seed)
        numbers = artificial.data.select_dtypes("number").to_numpy(dtype=float)
        # NaN may be a legitimate missing value; validate() refuses it where none is allowed.
        record.finite_samples = not np.isinf(numbers).any() and artificial.validate().ok
    except Exception as exc:  # a failure is what this script counts
        record.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return record


def table(records: list[Training], datasets: Sequence[str]) -> str:
    header = "| dataset | model | trainings | failures | with skipped batches | fit s |"
    lines = [header, "|---|---|---|---|---|---|"]
    for dataset in datasets:
        for name in MODELS:
            group = [r for r in records if r.dataset == dataset and r.model == name]
            if not group:
                continue
            seconds = [r.fit_s for r in group if r.fit_s is not None]
            timing = (
                f"{np.mean(seconds):.1f} ± {np.std(seconds, ddof=1) if len(seconds) > 1 else 0:.1f}"
                if seconds
                else "—"
            )
            lines.append(
                f"| {dataset} | {name} | {len(group)} | {sum(r.failed for r in group)} | "
                f"{sum(r.skipped_batches > 0 for r in group)} | {timing} |"
            )
    failures = [r for r in records if r.failed]
    for r in failures:
        lines.append(f"\nFAILED {r.dataset} {r.model} seed={r.seed}: {r.error or 'non-finite'}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--datasets", default=",".join(DEFAULT_DATASETS))
    parser.add_argument("--seeds", type=int, default=10, help="training seeds 0 .. n-1")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/stability.json"))
    parser.add_argument("--quick", action="store_true", help="1 seed, 1 dataset, few epochs")
    args = parser.parse_args(argv)
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if args.quick:
        args.seeds, args.datasets = 1, args.datasets[:1]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    records: list[Training] = []
    for dataset in args.datasets:
        train = train_part(load(dataset))
        for name in MODELS:
            for seed in range(args.seeds):
                record = check(dataset, name, seed, train, args.quick)
                records.append(record)
                state = "FAILED" if record.failed else "ok"
                print(f"{dataset} {name} seed={seed}: {state}", file=sys.stderr, flush=True)
    print(table(records, args.datasets))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "stability",
        "arguments": {"datasets": args.datasets, "seeds": args.seeds, "quick": args.quick},
        "versions": versions(),
        "machine": platform.platform(),
        "total_seconds": time.perf_counter() - started,
        "trainings": [asdict(r) | {"failed": r.failed} for r in records],
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 1 if any(r.failed for r in records) else 0


if __name__ == "__main__":
    raise SystemExit(main())
