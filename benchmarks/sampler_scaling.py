"""How the RHVAE's geometry-aware sampler scales with the number of training patients (issue 3).

The metric G⁻¹(z) sums over every training patient, so a naive sampler costs O(N) per leapfrog
step and per chain (pythae's takes over 100 s for 5,000 patients from N ≈ 400). jumeau writes the
sums as dense matrix products, and past 1,024 patients (`exact_metric_limit`) sums over a random
subset of 1,024 codes with scaled matrices, so that a leapfrog step costs the same whatever N.
(Until session 14 each chain kept its k nearest codes for a trajectory instead; that shortcut
misjudged the density on a low-dimensional latent: docs/generators.md. The stored table was
rerun with the subset in session 16.)

No bundled clinical cohort has 10,000 patients, so this script fits the RHVAE on gbsg2 and then
replaces its stored codes and metric matrices by N copies of the real ones, each code moved by a
little Gaussian noise (sd 0.05). Only the time is measured: the sampler's arithmetic does not
depend on where the codes came from. Each cell: seconds to draw ``--n`` latent codes (the HMC
alone, then with decoding and rule checks), mean ± sd over ``--repeats``.

    python benchmarks/sampler_scaling.py                 # N = 686 (as fitted), 1,000 … 10,000
    python benchmarks/sampler_scaling.py --quick         # N = 686 and 1,000, 500 codes
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from jumeau.datasets import load
from jumeau.generators.persistence import versions
from jumeau.generators.rhvae.model import RHVAE


def replicate(model: RHVAE, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`size` codes and matrices: the fitted ones repeated, codes jittered."""
    generator = torch.Generator().manual_seed(seed)
    index = torch.arange(size) % len(model.centroids_)
    codes = model.centroids_[index] + 0.05 * torch.randn(
        size, model.centroids_.shape[1], generator=generator
    )
    return codes, model.matrices_[index]


def seconds(action: object, repeats: int) -> list[float]:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        timings.append(time.perf_counter() - start)
    return timings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--sizes", default="0,1000,2000,4000,10000", help="0 = as fitted")
    parser.add_argument("-n", "--n", type=int, default=5000, help="codes drawn per call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sampler_scaling.json"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        sizes, args.n, args.repeats = [0, 1000], 500, 1
    train = load("gbsg2")
    model = RHVAE().fit(train, seed=0, progress=False)
    fitted = (model.centroids_, model.matrices_)
    rows = []
    for size in sizes:
        model.centroids_, model.matrices_ = replicate(model, size, 0) if size else fitted
        latent = seconds(
            lambda: model._geometry_samples(args.n, torch.Generator().manual_seed(1)),
            args.repeats,
        )
        full = seconds(lambda: model.sample(args.n, seed=1), args.repeats)
        rows.append({"patients": len(model.centroids_), "latent_s": latent, "sample_s": full})
        print(f"N={len(model.centroids_)} done", file=sys.stderr, flush=True)
    print(f"| training patients N | HMC only, {args.n} codes (s) | sample({args.n}) (s) |")
    print("|---|---|---|")
    for row in rows:
        cells = [
            f"{np.mean(row[k]):.2f} ± {np.std(row[k], ddof=1) if len(row[k]) > 1 else 0:.2f}"
            for k in ("latent_s", "sample_s")
        ]
        print(f"| {row['patients']} | {cells[0]} | {cells[1]} |")
    payload = {
        "benchmark": "sampler_scaling",
        "arguments": vars(args) | {"out": str(args.out)},
        "versions": versions(),
        "machine": platform.platform(),
        "threads": torch.get_num_threads(),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
