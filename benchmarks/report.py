"""End-to-end timing of `jumeau run` and of its validation report (issue "Validation report").

For every dataset and seed ``s`` the script does what ``jumeau.workflow.run`` (behind
``jumeau run``) does, with the same settings as the command line, and times each step with
``time.perf_counter``:

- split: ``split_cohort`` (70/30, stratified on the outcome, seeded by ``s``);
- fit: ``make_generator(model).fit(train, seed=s)``;
- sample + filter: ``filtered_sample``, n artificial patients that pass the similarity filter
  (removed ones are replaced by sampling again);
- evaluate: ``evaluate()`` with the refitting closure of ``workflow.run``. Its seconds per metric
  family come from ``Evaluation.timings`` (fidelity, fidelity ceiling, distances, similarity
  filter, privacy attacks, utility, small cohorts); "evaluate, not timed by evaluate()" is the
  rest of its wall time (chiefly the ceiling's DCR share, computed on two halves of the holdout);
- write outputs: model file, artificial CSV, provenance and split.json, as ``workflow.run``;
- render: ``report_meta`` + ``write_report`` (HTML with its figures, and JSON), in a temporary
  folder that is deleted afterwards.

**Report total** = the wall time of ``evaluate()`` without the small-cohort study, plus render:
what the validation report costs once a model is fitted and its patients drawn. The small-cohort
study refits the generator (``small_cohort_repeats`` times per size) and is model fitting: it is
shown on its own line, with the part spent in the refits themselves. The issue's target: a report
total under 60 s per dataset with n = 5,000 on 2 CPU cores and anonymeter's default number of
attacks (``DEFAULT_ATTACKS``; jumeau caps it at the number of training and holdout patients).

``python benchmarks/report.py --quick`` is a smoke test (one dataset, n = 500, the copula, one
small-cohort repeat, 100 attacks); the full run prints, per dataset, the timing table, whether
the target holds, the report's summary table (topic, measured, threshold, ok) and its key numbers,
and writes every timing and each run's ``Evaluation.to_dict()`` (scores only, never a patient's
values) to ``--out`` (JSON). ``--render JSON`` prints the tables of an earlier run again. Progress
lines go to stderr.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from jumeau.data.cohort import Cohort
from jumeau.data.loading import write_text_atomically
from jumeau.datasets import load
from jumeau.errors import JumeauWarning
from jumeau.evaluation.attacks import DEFAULT_ATTACKS, AttackSettings
from jumeau.evaluation.evaluate import EvaluationSettings, evaluate
from jumeau.generators.persistence import versions
from jumeau.generators.provenance import write_provenance
from jumeau.generators.registry import available_generators, make_generator
from jumeau.report import report_meta, write_report
from jumeau.report.html import json_safe
from jumeau.workflow import HOLDOUT_SHARE, filtered_sample, split_cohort

DEFAULT_DATASETS = ("breast_cancer", "gbsg2", "lung")
TARGET_SECONDS = 60.0
TARGET_N = 5000
TARGET_CPUS = 2
QUICK = {"n": 500, "model": "copula", "n_attacks": 100, "small_cohort_repeats": 1}
FULL = {
    "n": TARGET_N,
    "model": "rhvae",
    "n_attacks": DEFAULT_ATTACKS,
    "small_cohort_repeats": EvaluationSettings().small_cohort_repeats,
}

# Steps, in the order of the timing table. FAMILIES are evaluate()'s own names (its timings).
SPLIT = "split"
FIT = "fit"
SAMPLE = "sample + filter"
FAMILIES = (
    "fidelity",
    "fidelity ceiling",
    "distances",
    "similarity filter",
    "privacy attacks",
    "utility",
)
SMALL_COHORTS = "small cohorts (refits the generator)"
EVALUATE_OTHER = "evaluate, not timed by evaluate()"
WRITE = "write outputs (model, CSV, provenance, split)"
RENDER = "render (write_report: HTML + JSON)"
REPORT_STEPS = (*FAMILIES, EVALUATE_OTHER, RENDER)  # the report total
STEPS = (SPLIT, FIT, SAMPLE, *FAMILIES, SMALL_COHORTS, EVALUATE_OTHER, WRITE, RENDER)
REFITS = "small cohorts: of which refits (fit + sample)"  # inside SMALL_COHORTS
REPORT_TOTAL = "report total (excluding fit, sampling, small-cohort study)"
NOT_FITTING = "everything but model fitting (fit, small-cohort refits)"
END_TO_END = "end to end (every step)"
MAX_WARNINGS = 20


# ---------------------------------------------------------------------- one run
@dataclass
class Record:
    """One dataset and seed: every timing and the evaluation's scores (JSON-ready)."""

    dataset: str
    seed: int
    model: str
    n_requested: int
    status: str = "ok"  # ok or failed
    error: str | None = None
    n_train: int = 0
    n_holdout: int = 0
    n_artificial: int = 0
    n_removed_at_sampling: int = 0  # by the similarity filter, over every sampling round
    n_attacks: int | None = None  # attacks anonymeter actually ran (after jumeau's cap)
    load_average: float | None = None  # 1-minute load average when the run started
    timings_s: dict[str, float] = field(default_factory=dict)
    small_cohort_fits: int = 0
    small_cohort_refit_s: float = 0.0  # fit + sample inside the small-cohort study
    report_total_s: float | None = None
    not_fitting_s: float | None = None  # end to end without the fit and the small-cohort refits
    end_to_end_s: float | None = None
    warnings: list[str] = field(default_factory=list)
    evaluation: dict[str, Any] | None = None  # Evaluation.to_dict(), NaN as null

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Clock:
    """Progress lines on stderr, stamped with the seconds since the start."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def say(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:8.1f}s] {text}", file=sys.stderr, flush=True)


def run_one(
    cohort: Cohort, dataset: str, seed: int, options: argparse.Namespace, clock: Clock
) -> Record:
    """`workflow.run`, step by step, each step timed; failures are recorded, not raised."""
    record = Record(dataset, seed, options.model, options.n, load_average=_load())
    prefix = f"{dataset} seed={seed}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", JumeauWarning)
        try:
            _steps(record, cohort, options, lambda text: clock.say(f"{prefix}: {text}"))
        except Exception as exc:
            record.status, record.error = "failed", _describe(exc)
            clock.say(f"{prefix}: FAILED: {record.error}")
    seen: list[str] = []
    for message in caught:
        text = f"{message.category.__name__}: {str(message.message).strip().splitlines()[0]}"
        if text not in seen:
            seen.append(text)
            if issubclass(message.category, JumeauWarning):
                clock.say(f"{prefix}: {text}")
    record.warnings = seen[:MAX_WARNINGS]
    if record.status == "ok":
        record.report_total_s = sum(record.timings_s.get(step, 0.0) for step in REPORT_STEPS)
        record.end_to_end_s = sum(record.timings_s.values())
        fitting = record.timings_s.get(FIT, 0.0) + record.small_cohort_refit_s
        record.not_fitting_s = record.end_to_end_s - fitting
        clock.say(
            f"{prefix}: report total {record.report_total_s:.1f} s, "
            f"end to end {record.end_to_end_s:.1f} s"
        )
    return record


def _steps(
    record: Record, cohort: Cohort, options: argparse.Namespace, say: Callable[[str], None]
) -> None:
    seed, model, n = record.seed, options.model, options.n
    timings = record.timings_s
    settings = EvaluationSettings(
        seed=seed,
        attacks=AttackSettings(n_attacks=options.n_attacks, seed=seed),  # as `jumeau run`
        small_cohort_repeats=options.small_cohort_repeats,
    )

    start = time.perf_counter()
    train, holdout, holdout_rows = split_cohort(cohort, seed=seed)
    timings[SPLIT] = time.perf_counter() - start
    record.n_train, record.n_holdout = len(train), len(holdout)

    say(f"fitting {model} on {len(train)} patients")
    start = time.perf_counter()
    generator = make_generator(model).fit(train, seed=seed, progress=False)
    timings[FIT] = time.perf_counter() - start

    say(f"sampling {n} patients through the similarity filter")
    start = time.perf_counter()
    artificial, removed = filtered_sample(
        generator, n, train, holdout, seed=seed, percentile=settings.filter_percentile
    )
    timings[SAMPLE] = time.perf_counter() - start
    record.n_artificial, record.n_removed_at_sampling = len(artificial), removed

    def fit_and_sample(real: Cohort, count: int, run_seed: int) -> Cohort:
        began = time.perf_counter()
        small = make_generator(model).fit(real, seed=run_seed, progress=False)
        drawn = small.sample(count, seed=run_seed)
        record.small_cohort_fits += 1
        record.small_cohort_refit_s += time.perf_counter() - began
        return drawn

    start = time.perf_counter()
    evaluation = evaluate(
        train,
        holdout,
        artificial,
        settings,
        fit_and_sample=None if options.no_small_cohorts else fit_and_sample,
        progress=say,
    )
    evaluate_s = time.perf_counter() - start
    for name, seconds in evaluation.timings.items():
        timings[name] = seconds
    timings[EVALUATE_OTHER] = max(0.0, evaluate_s - sum(evaluation.timings.values()))
    if evaluation.attacks is not None:
        record.n_attacks = int(evaluation.attacks.settings["n_attacks"])

    with tempfile.TemporaryDirectory(prefix="jumeau-report-") as name:
        folder = Path(name)
        say("writing the outputs")
        start = time.perf_counter()
        model_file = generator.save(folder / "model.jumeau")
        csv = artificial.to_csv(folder / "artificial.csv")
        write_provenance(csv, generator, model_file=model_file)
        split = {
            "seed": seed,
            "holdout_share": HOLDOUT_SHARE,
            "input_sha256": cohort.sha256,
            "holdout_rows": holdout_rows.tolist(),
        }
        write_text_atomically(folder / "split.json", json.dumps(split) + "\n")
        timings[WRITE] = time.perf_counter() - start

        say("rendering the report")
        start = time.perf_counter()
        meta = report_meta(
            seed=seed,
            inputs={"data": cohort.sha256, "train": train.sha256, "holdout": holdout.sha256},
            title=f"Validation report — {model} on {cohort.schema.name or cohort.source}",
            extra={"model": model, "params": generator.get_params(), "n_requested": n},
        )
        write_report(evaluation, train, artificial, folder, meta)
        timings[RENDER] = time.perf_counter() - start
    record.evaluation = json_safe(evaluation.to_dict())


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


# ---------------------------------------------------------------------- tables
def _escape(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    """A markdown table; columns from `numeric_from` on are right-aligned."""
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(_escape(c) for c in line) + " |" for line in lines)


def _mean_sd(values: Sequence[float], fmt: str) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(float(np.mean(values)), fmt)} ± {format(float(np.std(values, ddof=1)), fmt)}"


def _seed_columns(records: Sequence[Record]) -> list[str]:
    return [f"seed {r.seed}" for r in records]


def timing_table(records: Sequence[Record]) -> str:
    """Step → seconds, one column per seed, and mean ± sd when there are several."""
    if not any(r.status == "ok" for r in records):
        return "no successful run"
    several = len(records) > 1
    header = ["step (seconds)", *_seed_columns(records)] + (["mean ± sd"] if several else [])
    rows: list[list[str]] = []

    def row(label: str, values: list[float | None]) -> None:
        cells = ["—" if v is None else f"{v:.2f}" for v in values]
        present = [v for v in values if v is not None]
        if not present:
            return
        rows.append([label, *cells] + ([_mean_sd(present, ".2f")] if several else []))

    for step in STEPS:
        row(step, [r.timings_s.get(step) if r.status == "ok" else None for r in records])
        if step == SMALL_COHORTS:
            row(
                REFITS,
                [
                    r.small_cohort_refit_s
                    if r.status == "ok" and SMALL_COHORTS in r.timings_s
                    else None
                    for r in records
                ],
            )
    row(f"**{REPORT_TOTAL}**", [r.report_total_s for r in records])
    row(NOT_FITTING, [r.not_fitting_s for r in records])
    row(END_TO_END, [r.end_to_end_s for r in records])
    return markdown(header, rows)


def target_line(records: Sequence[Record], args: dict[str, Any]) -> str:
    """Whether every seed's report total is under the target, and under which conditions."""
    totals = [r.report_total_s for r in records if r.report_total_s is not None]
    if not totals:
        return "target: not assessed (no successful run)"
    worst = max(totals)
    holds = all(t < TARGET_SECONDS for t in totals) and len(totals) == len(records)
    differs = []
    if args["n"] != TARGET_N:
        differs.append(f"n = {args['n']:,}")
    if args["n_attacks"] != DEFAULT_ATTACKS:
        differs.append(f"{args['n_attacks']} attacks instead of {DEFAULT_ATTACKS}")
    cpus = args.get("cpus")
    if cpus is not None and cpus != TARGET_CPUS:
        differs.append(f"{cpus} CPU cores")
    loads = [r.load_average for r in records if r.load_average is not None]
    if cpus and loads and max(loads) >= cpus:
        differs.append(f"a busy machine, load average up to {max(loads):.1f} at a run's start")
    attacks = sorted({r.n_attacks for r in records if r.n_attacks is not None})
    ran = f"; anonymeter ran {', '.join(map(str, attacks))} attacks" if attacks else ""
    verdict = "HOLDS" if holds else "MISSED"
    if len(totals) < len(records):
        verdict += f" ({len(records) - len(totals)} run(s) failed)"
    line = (
        f"target (report total < {TARGET_SECONDS:.0f} s per dataset, n = {TARGET_N:,}, "
        f"{TARGET_CPUS} cores, anonymeter's default {DEFAULT_ATTACKS} attacks): {verdict}, "
        f"slowest seed {worst:.1f} s{ran}"
    )
    strict = [r.not_fitting_s for r in records if r.not_fitting_s is not None]
    if strict:
        line += f"; everything but model fitting, slowest seed: {max(strict):.1f} s"
    if differs:
        line += f" — measured under other conditions ({', '.join(differs)}): indicative only"
    return line


def verdict_table(record: Record) -> str:
    """The report's summary, as `jumeau run` prints it."""
    marks = {True: "✓", False: "✗", None: "—"}
    lines = (record.evaluation or {}).get("verdicts", [])
    rows = [[v["topic"], v["value"], v["threshold"], marks[v["ok"]]] for v in lines]
    return markdown(["topic", "measured", "threshold", "ok"], rows, numeric_from=4)


def key_numbers(evaluation: dict[str, Any], record: Record) -> list[tuple[str, float | None, str]]:
    """(label, number for the mean, cell text) for the numbers a reader looks for first."""
    out: list[tuple[str, float | None, str]] = []

    def add(label: str, value: float | None, fmt: str, text: str | None = None) -> None:
        cell = text if text is not None else ("—" if value is None else format(value, fmt))
        out.append((label, value, cell))

    fidelity = evaluation["fidelity"]
    add("fidelity score, artificial", fidelity["artificial"]["fidelity_score"], ".3f")
    add("fidelity score, real holdout (ceiling)", fidelity["ceiling"]["fidelity_score"], ".3f")
    add("detection AUC, artificial", fidelity["artificial"]["detection_auc"], ".3f")
    privacy = evaluation["privacy"]
    add("DCR share, artificial", privacy["dcr_share"], ".3f")
    add("DCR share, real holdout (ceiling)", privacy["ceiling_dcr_share"], ".3f")
    add("exact copies", float(privacy["exact_copies"]), ".0f")
    drawn = record.n_artificial + record.n_removed_at_sampling
    add(
        "filter pass rate at sampling",
        record.n_artificial / drawn if drawn else None,
        ".2%",
    )
    add("filter pass rate, report (re-check)", privacy["similarity_filter"]["pass_rate"], ".2%")
    attacks = privacy.get("attacks")
    if attacks:
        secrets = list(attacks["settings"].get("secrets") or [])
        for result in attacks["results"]:
            label = result["attack"].replace("_", " ")
            if result["attack"] == "inference" and secrets:
                label += f" ({secrets.pop(0)})"
            label += " risk [95% CI]"
            if result["risk"] is None:
                add(label, None, "", "error: " + str(result["error"]))
            else:
                text = f"{result['risk']:.3f} [{result['risk_low']:.3f}, {result['risk_high']:.3f}]"
                add(label, result["risk"], ".3f", text)
    utility = evaluation.get("utility")
    if utility:
        metric = utility["task"]["metrics"][-1]
        for model in utility["task"]["models"]:
            for way in ("tstr", "trtr"):
                scores = utility[way]
                value = None if scores["error"] else scores["scores"].get(metric, {}).get(model)
                add(f"{way.upper()} {metric} ({model})", value, ".3f")
    return out


def key_table(records: Sequence[Record]) -> str:
    ok = [r for r in records if r.status == "ok" and r.evaluation]
    if not ok:
        return "no successful run"
    several = len(ok) > 1
    per_seed = [{label: (v, t) for label, v, t in key_numbers(r.evaluation or {}, r)} for r in ok]
    labels: list[str] = []
    for numbers in per_seed:
        labels += [label for label in numbers if label not in labels]
    rows = []
    for label in labels:
        cells = [numbers.get(label, (None, "—"))[1] for numbers in per_seed]
        row = [label, *cells]
        if several:
            values = [
                v for numbers in per_seed if (v := numbers.get(label, (None, ""))[0]) is not None
            ]
            fmt = ".2%" if "pass rate" in label else ".0f" if label == "exact copies" else ".3f"
            row.append(_mean_sd(values, fmt))
        rows.append(row)
    header = ["measure", *_seed_columns(ok)] + (["mean ± sd"] if several else [])
    return markdown(header, rows)


def report(records: Sequence[Record], args: dict[str, Any]) -> str:
    """Per dataset: timings, the target line, the summary table(s) and the key numbers."""
    blocks = []
    for dataset in args["datasets"]:
        mine = [r for r in records if r.dataset == dataset]
        if not mine:
            continue
        first = mine[0]
        blocks.append(
            f"## {dataset}: {first.model}, n = {first.n_requested:,} artificial patients, "
            f"{first.n_train} train / {first.n_holdout} holdout patients"
        )
        blocks.append(timing_table(mine))
        blocks.append(target_line(mine, args))
        for r in mine:
            if r.status != "ok":
                blocks.append(f"seed {r.seed} failed: {r.error}")
                continue
            removed = f"{r.n_removed_at_sampling} removed by the filter while sampling"
            blocks.append(
                f"### Summary, seed {r.seed} ({r.n_artificial:,} artificial patients, {removed})"
            )
            blocks.append(verdict_table(r))
            notes = (r.evaluation or {}).get("notes") or []
            if notes:
                blocks.append("\n".join(f"- {note}" for note in notes))
        blocks.append("### Key numbers")
        blocks.append(key_table(mine))
    blocks.append(
        "\n".join(
            [
                f"Report total = {', '.join(FAMILIES)}, the rest of evaluate()'s wall time and "
                "render; fit, sample + filter, the small-cohort study (it refits the generator) "
                "and writing the model and CSV are left out.",
                "Filter pass rate at sampling: kept / drawn over every sampling round; the "
                "report's re-check runs the same filter on the cohort already filtered.",
            ]
        )
    )
    return "\n\n".join(blocks)


# ---------------------------------------------------------------------- main
def _versions() -> dict[str, Any]:
    found = dict(versions())
    for package in ("anonymeter", "lifelines", "matplotlib"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:  # not available on this system
        return None


def _threads() -> dict[str, Any]:
    """Thread pools and the variables that size them: a shared or oversubscribed machine slows
    OpenMP code (scikit-learn's gradient boosting) by orders of magnitude."""
    from threadpoolctl import threadpool_info

    pools = [
        {"api": p.get("internal_api"), "library": p.get("prefix"), "threads": p.get("num_threads")}
        for p in threadpool_info()
    ]
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    found: dict[str, Any] = {"pools": pools, "env": {n: os.environ.get(n) for n in names}}
    if "torch" in sys.modules:
        found["torch_threads"] = sys.modules["torch"].get_num_threads()
    return found


def _cpus() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count()


def write_json(
    path: Path, args: dict[str, Any], records: Sequence[Record], clock: Clock, finished: bool
) -> None:
    """Every timing and evaluation so far, written atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "report",
        "arguments": args,
        "versions": _versions(),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "cpus_available": _cpus(),
            "load_average_now": _load(),
            "threads": _threads(),
        },
        "finished": finished,
        "total_seconds": time.perf_counter() - clock.started,
        "records": [r.to_dict() for r in records],
    }
    write_text_atomically(path, json.dumps(json_safe(payload), indent=2, allow_nan=False) + "\n")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--datasets", default=",".join(DEFAULT_DATASETS))
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0 .. n-1 (default 1)")
    parser.add_argument(
        "--model",
        choices=available_generators(),
        help=f"generator (default {FULL['model']}; {QUICK['model']} with --quick)",
    )
    parser.add_argument(
        "-n",
        type=int,
        help=f"artificial patients (default {FULL['n']:,}; {QUICK['n']} with --quick)",
    )
    parser.add_argument(
        "--n-attacks",
        type=int,
        help=f"anonymeter attacks of each kind (default {DEFAULT_ATTACKS}, anonymeter's own; "
        f"{QUICK['n_attacks']} with --quick)",
    )
    parser.add_argument(
        "--small-cohort-repeats",
        type=int,
        help=f"refits per small-cohort size (default {FULL['small_cohort_repeats']}; "
        f"{QUICK['small_cohort_repeats']} with --quick)",
    )
    parser.add_argument(
        "--no-small-cohorts",
        action="store_true",
        help="skip the small-cohort study (no refitting), as for another tool's cohort",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/report.json"))
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1 dataset, 1 seed, n = 500, copula, 1 repeat, 100 attacks",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="print the tables of a run's JSON output again, measuring nothing",
    )
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if args.n < 1 or args.n_attacks < 1 or args.small_cohort_repeats < 1:
        parser.error("-n, --n-attacks and --small-cohort-repeats must be at least 1")
    if args.quick:
        args.seeds = 1
        args.datasets = args.datasets[:1]
    return args


def render(path: Path) -> str:
    """The printed report of an earlier run, from its JSON output."""
    payload = json.loads(path.read_text(encoding="utf-8"))
    names = set(Record.__dataclass_fields__)
    records = [Record(**{k: v for k, v in r.items() if k in names}) for r in payload["records"]]
    text = report(records, payload["arguments"])
    return f"{text}\n\ntotal runtime: {payload['total_seconds']:.0f} s"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        print(render(args.render))
        return 0
    clock = Clock()
    recorded = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    recorded |= {"cpus": _cpus(), "started": datetime.now(timezone.utc).isoformat()}
    busy, cpus = _load(), _cpus()
    if busy is not None and cpus and busy >= cpus:
        clock.say(
            f"warning: load average {busy:.1f} on {cpus} cores: the machine is busy and the "
            "timings will be inflated (OpenMP code by far more than the load suggests)"
        )
    records: list[Record] = []
    for dataset in args.datasets:
        cohort = load(dataset)
        for seed in range(args.seeds):
            clock.say(f"{dataset} seed={seed}: {args.model}, n = {args.n}")
            records.append(run_one(cohort, dataset, seed, args, clock))
            write_json(args.out, recorded, records, clock, finished=False)
    write_json(args.out, recorded, records, clock, finished=True)
    print(report(records, recorded))
    print(f"\ntotal runtime: {time.perf_counter() - clock.started:.0f} s")
    return 0 if all(r.status == "ok" for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
