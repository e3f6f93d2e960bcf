"""How often the memorisation verdict fails an honest release, and how often it catches a leaky one.

The verdict judges one number, the DCR share (the share of artificial patients whose closest real
patient is a training one rather than an unseen one; 0.5 for a model that learned the population).
On a small cohort that number swings with the reference sets — a few dozen holdout patients — so a
rule must be judged by its error rates, not on one table. This benchmark builds releases whose
truth is known, from real cohorts large enough to hold patients back:

- ``fresh real``: real patients who are neither training nor holdout — an ideal generator that
  memorised nobody. A rule that fails it fails an honest release.
- ``copula``: jumeau's copula fitted on the training patients (truth unknown: shown for scale).
- ``memorised 20 %`` / ``memorised 40 %``: fresh real patients, a fifth (two fifths) of them
  replaced by training patients whose numeric values are jittered by 0.15 standard deviations — a
  model that memorised part of its cohort, after the similarity filter has removed what it removes.

Training sizes 100 and 300 (holdout 3/7 of training, as `jumeau run`'s 70/30 split), 1,000
artificial patients, each release passed through the similarity filter as `jumeau run` does. Rules:
``point``: DCR share > 55 %; ``point+baseline``: share > 55 % and above the independent-marginals
baseline's point (session 18); ``paired test`` (the report's rule, `memorisation_shown`): share >
55 % and the paired one-sided 95 % lower bound of (share − baseline) above 0.

    OMP_NUM_THREADS=1 python benchmarks/memorisation_verdict.py --repeats 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
COHORTS = ("TRACE", "survival/colon", "actg", "gbsg2", "breast_cancer")
SIZES = (100, 300)
HOLDOUT_PER_TRAIN = 3 / 7  # jumeau run holds out 30 % of the cohort
ARTIFICIAL = 1000
JITTER_SD = 0.15
SCENARIOS = ("fresh real", "copula", "memorised 20 %", "memorised 40 %")
RULES = ("point", "point+baseline", "paired test")


def load(name: str, folder: Path) -> Any:
    """A real cohort as a jumeau Cohort (bundled schema, or inferred from the CSV)."""
    import jumeau
    from jumeau.data.datasets import load_dataset

    if name in ("gbsg2", "breast_cancer", "lung", "diabetes"):
        return load_dataset(name)
    from generalisation import write_csv  # benchmarks/ is on sys.path when run as a script

    path, _rows, _columns = write_csv(name, folder, 3000, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jumeau.load_cohort(path)


def memorised(train: Any, fresh: Any, share: float, rng: np.random.Generator) -> Any:
    """`fresh` with `share` of its patients replaced by jittered training patients."""
    from jumeau.data.cohort import Cohort
    from jumeau.data.schema import NUMERIC_KINDS, ColumnKind

    frame = fresh.data.copy()
    count = round(share * len(frame))
    rows = rng.choice(len(frame), count, replace=False)
    copies = train.data.iloc[rng.integers(len(train), size=count)].reset_index(drop=True)
    for column in frame.columns:
        values = copies[column]
        kind = train.schema.columns[column].kind if column in train.schema.columns else None
        if kind in NUMERIC_KINDS:
            spread = JITTER_SD * float(np.nanstd(train.data[column].astype(float)))
            jittered = values.astype(float) + rng.normal(0.0, spread, count)
            values = jittered.round() if kind is ColumnKind.INTEGER else jittered
        frame.loc[frame.index[rows], column] = values.to_numpy()
    frame = frame.astype(fresh.data.dtypes.to_dict(), errors="ignore")
    return Cohort.from_typed(frame, fresh.schema, source="memorised", artificial=True)


def one_release(train: Any, holdout: Any, artificial: Any, seed: int) -> dict[str, Any]:
    from jumeau.evaluation.baseline import compare_with_baseline
    from jumeau.evaluation.privacy import distance_to_closest_record
    from jumeau.evaluation.similarity import filter_close
    from jumeau.evaluation.verdicts import DCR_SHARE_MAX, memorisation_shown

    kept = filter_close(artificial, train, holdout).kept
    share = distance_to_closest_record(train, holdout, kept, seed=seed).share_closer_to_train
    base = compare_with_baseline(train, holdout, kept, share, seed=seed)
    return {
        "kept": len(kept) / len(artificial),
        "share": share,
        "baseline": base.baseline_share,
        "excess": base.excess,
        "excess_95": base.excess_interval,
        "point": share > DCR_SHARE_MAX,
        "point+baseline": share > DCR_SHARE_MAX and share > base.baseline_share,
        "paired test": memorisation_shown(share, base.baseline_share, base.excess_interval),
    }


def run_cohort(name: str, repeats: int, folder: Path) -> list[dict[str, Any]]:
    from jumeau.generators.registry import make_generator

    cohort = load(name, folder)
    records = []
    for size in SIZES:
        n_holdout = round(size * HOLDOUT_PER_TRAIN)
        if size + n_holdout + 200 > len(cohort):
            continue
        for repeat in range(repeats):
            rng = np.random.default_rng([repeat, size])
            order = rng.permutation(len(cohort))
            train = cohort.subset(np.sort(order[:size]))
            holdout = cohort.subset(np.sort(order[size : size + n_holdout]))
            rest = order[size + n_holdout :]
            fresh = cohort.subset(np.sort(rest[:ARTIFICIAL]))
            fresh = type(fresh).from_typed(
                fresh.data, fresh.schema, source="fresh", artificial=True
            )
            releases = {"fresh real": fresh}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                copula = make_generator("copula").fit(train, seed=repeat, progress=False)
                releases["copula"] = copula.sample(len(fresh), seed=repeat)
            releases["memorised 20 %"] = memorised(train, fresh, 0.2, rng)
            releases["memorised 40 %"] = memorised(train, fresh, 0.4, rng)
            for scenario, artificial in releases.items():
                record = one_release(train, holdout, artificial, seed=repeat)
                records.append(
                    {"cohort": name, "train": size, "repeat": repeat, "scenario": scenario} | record
                )
            print(f"{name} n={size} repeat {repeat}: done", file=sys.stderr, flush=True)
    return records


def table(records: list[dict[str, Any]]) -> str:
    lines = [
        "| cohort | train | release | DCR share | baseline | excess | kept by filter | "
        + " | ".join(f"fails: {r}" for r in RULES)
        + " |",
        "|---|---|---|---|---|---|---|" + "---|" * len(RULES),
    ]
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["cohort"], r["train"], r["scenario"]), []).append(r)
    for (cohort, size, scenario), rows in groups.items():

        def ms(key: str, rows: list[dict[str, Any]] = rows) -> str:
            values = np.array([r[key] for r in rows], dtype=float)
            return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"

        rates = [f"{np.mean([r[rule] for r in rows]):.0%}" for rule in RULES]
        lines.append(
            f"| {cohort} | {size} | {scenario} | {ms('share')} | {ms('baseline')} | "
            f"{ms('excess')} | {ms('kept')} | " + " | ".join(rates) + " |"
        )
    lines += ["", "Over every cohort:", ""]
    lines.append("| train | release | runs | " + " | ".join(f"fails: {r}" for r in RULES) + " |")
    lines.append("|---|---|---|" + "---|" * len(RULES))
    for size in SIZES:
        for scenario in SCENARIOS:
            rows = [r for r in records if r["train"] == size and r["scenario"] == scenario]
            if rows:
                rates = [f"{np.mean([r[rule] for r in rows]):.1%}" for rule in RULES]
                lines.append(f"| {size} | {scenario} | {len(rows)} | " + " | ".join(rates) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--cohorts", nargs="+", default=list(COHORTS))
    parser.add_argument("--out", type=Path, default=RESULTS / "memorisation_verdict.json")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    wall, cpu = time.perf_counter(), time.process_time()
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.cohorts:
            records += run_cohort(name, args.repeats, Path(folder))
    text = (
        f"# Memorisation verdict: failure rates on releases of known truth ({args.repeats} "
        f"repeats; started {started}; wall {time.perf_counter() - wall:.0f} s, CPU "
        f"{time.process_time() - cpu:.0f} s; {platform.platform()}, {os.cpu_count()} CPUs)\n\n"
        + table(records)
    )
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"started": started, "records": records}, indent=1))
    args.out.with_suffix(".txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    raise SystemExit(main())
