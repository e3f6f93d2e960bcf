"""In-silico trials benchmark (issue 6).

1. Speed: 1,000 simulated trials × 500 patients (three analyses each), on 2 CPU cores.
2. The real GBSG2 trial (lifelines ``gbsg2``: 686 patients, hormonal therapy or not) re-analysed
   on the 5-year restricted mean survival time (RMST pseudo-values, days): unadjusted, ANCOVA on
   three pre-specified covariates (age, tgrade, pnodes), and PROCOVA with a prognostic score on
   every baseline variable, cross-fitted on control patients of the other folds; beside them, the
   Cox log hazard ratios.
3. Operating characteristics (power, type-I error, bias, coverage, patients needed for 80 %
   power) of unadjusted vs ANCOVA vs PROCOVA on two scenarios:
   - gbsg2-based: 10,000 artificial patients from a jumeau generator fitted on the real control
     arm; endpoint 5-year RMST, effect +100 days;
   - twin-based: a Gompertz tumour-growth population (tgi_gompertz, NUTS) calibrated on the real
     erlotinib xenografts; endpoint the change in tumour volume 3 weeks after randomisation, after
     a one-week run-in; vehicle vs daily erlotinib.
   Type-I error from separate null trials (goal: PROCOVA at 5 % ± 1 % over 2,000).
4. Power curves over sample sizes on Ray (docs/images/trials-power.png).
5. Borrowing on gbsg2: the control arm split at random into a "historical" half and a
   "concurrent" half; a generator is fitted on the historical controls only and samples
   artificial controls; hormonal therapy is compared with the concurrent controls alone, and with
   the concurrent plus weighted artificial controls (no discount, test-then-pool, power prior
   a0 = 0.5); each estimate and interval beside the full-trial analysis, over many splits. The
   generator never sees a patient of the analysis set.
6. Drift: the same borrowing when the borrowed controls' outcome drifts by 0–200 days: bias and
   type-I error of each method.

Usage: python benchmarks/trials.py [--trials 1000 --null-trials 2000 --splits 50]
       [--generator copula] [--skip-twins] [--out benchmarks/results/trials.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jumeau.data.cohort import Cohort
from jumeau.data.schema import Role
from jumeau.datasets import load
from jumeau.generators.persistence import versions
from jumeau.generators.registry import make_generator
from jumeau.trials import (
    Arm,
    CohortPopulation,
    Endpoint,
    TrialDesign,
    TwinPopulation,
    simulate,
)
from jumeau.trials.borrowing import DISCOUNTS, augmented_control, borrowing_simulation
from jumeau.trials.procova import cross_fitted_scores
from jumeau.trials.survival import rmst_pseudo_values
from jumeau.trials.sweep import plot_power_curves, sweep
from jumeau.trials.workflow import analyse_table

TAU = 1826.0  # 5 years, in days
COVARIATES = ["age", "menostat", "tsize", "tgrade", "pnodes", "progrec", "estrec"]
# what a protocol would pre-specify for ANCOVA: a few strong prognostic factors; the prognostic
# score (PROCOVA) may use every baseline variable
PRESPECIFIED = ["age", "tgrade", "pnodes"]
POWER_FIGURE = Path("docs/images/trials-power.png")
WEEK = 168.0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def with_rmst(frame: pd.DataFrame) -> pd.DataFrame:
    time_ = frame["time"].astype(float).to_numpy()
    event = frame["cens"].astype(int).to_numpy(dtype=float)
    return frame.assign(rmst=rmst_pseudo_values(time_, event, TAU))


def rmst_design(n: int, shift: float) -> TrialDesign:
    return TrialDesign(
        name="gbsg2-rmst",
        arms=[Arm(name="control", control=True), Arm(name="therapy", shift=shift)],
        sample_size=n,
        endpoint=Endpoint(outcome="rmst"),
        covariates=PRESPECIFIED,
        prognostic_features=COVARIATES,
        historical_size=1000,
    )


def control_generator(frame: pd.DataFrame, schema: Any, name: str, seed: int) -> Any:
    """A generator fitted on control patients only, arm column excluded from the model."""
    excluded = schema.model_copy(deep=True)
    excluded.columns["horTh"].role = Role.EXCLUDED
    cohort = Cohort(frame.reset_index(drop=True), excluded)
    return make_generator(name).fit(cohort, seed=seed, progress=False)


# --------------------------------------------------------------------------- sections
def speed(population: CohortPopulation) -> dict[str, Any]:
    design = rmst_design(500, 100.0)
    seconds = []
    for repeat in range(2):
        began = time.perf_counter()
        simulate(design, population, 1000, seed=repeat, null=False, progress=False)
        seconds.append(time.perf_counter() - began)
    return {"trials": 1000, "patients": 500, "analyses": 3, "seconds": seconds}


def reanalysis(real: pd.DataFrame) -> dict[str, Any]:
    arms = (real["horTh"] == "yes").to_numpy()
    scores, rho2 = cross_fitted_scores(
        real, real["rmst"].to_numpy(), ~arms, COVARIATES, folds=5, seed=0
    )
    rmst = analyse_table(
        real,
        arm="horTh",
        control="no",
        outcome="rmst",
        covariates=PRESPECIFIED,
        prognostic=scores,
    )
    hazard_scores, _ = cross_fitted_scores(
        real,
        real["time"].astype(float).to_numpy(),
        ~arms,
        COVARIATES,
        folds=5,
        kind="time_to_event",
        event=real["cens"].astype(int).to_numpy(dtype=float),
        seed=0,
    )
    cox = analyse_table(
        real.assign(time=real["time"].astype(float)),
        arm="horTh",
        control="no",
        outcome="time",
        event="cens",
        covariates=PRESPECIFIED,
        kind="time_to_event",
        prognostic=hazard_scores,
    )
    return {"rmst": rmst.to_dict("records"), "cox": cox.to_dict("records"), "rho2": rho2}


def operating(design: TrialDesign, population: Any, args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    alternative = simulate(design, population, args.trials, seed=1, null=False, progress=False)
    null = simulate(design.null(), population, args.null_trials, seed=2, null=False, progress=False)
    summary = pd.concat(
        [
            alternative.summary(),
            null.summary().assign(scenario="null"),
        ],
        ignore_index=True,
    )
    return {
        "design": design.model_dump(),
        "summary": summary.to_dict("records"),
        "rho2": alternative.prognostic_rho2,
        "prognostic_model": alternative.prognostic_model,
        "seconds": time.perf_counter() - began,
    }


def twin_population(args: argparse.Namespace) -> tuple[TwinPopulation, dict[str, Any]]:
    from jumeau.twins.calibrate import fit_population
    from jumeau.twins.datasets import load_study

    study = load_study("erlotinib")
    began = time.perf_counter()
    fit = fit_population(
        study,
        "tgi_gompertz",
        method="nuts",
        error="proportional",
        chains=2,
        warmup=args.twin_warmup,
        samples=args.twin_samples,
        seed=0,
        progress=False,
        parallel=True,
    )
    info = {
        "seconds": time.perf_counter() - began,
        "diagnostics": fit.diagnostics,
        "typical": {k: float(np.median(v)) for k, v in fit.typical.items()},
    }
    return TwinPopulation(fit), info


def twin_design(n: int) -> TrialDesign:
    return TrialDesign(
        name="xenograft-erlotinib",
        arms=[
            Arm(name="vehicle", control=True),
            Arm(name="erlotinib", regimen="0.2 mg q24h x21"),
        ],
        sample_size=n,
        endpoint=Endpoint(baseline="volume", at=3 * WEEK, run_in=WEEK),
        historical_size=1000,
    )


def borrowing_splits(real: pd.DataFrame, schema: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Half the real controls become 'historical': a generator learns from them alone and lends
    artificial controls to the trial made of the treated patients and the other half."""
    full = analyse_table(real, arm="horTh", control="no", outcome="rmst", covariates=COVARIATES)
    reference = full.set_index("analysis").loc["ancova"]
    controls = np.flatnonzero(real["horTh"] == "no")
    rows = []
    for split in range(args.splits):
        rng = np.random.default_rng(10_000 + split)
        historical_rows = rng.choice(controls, size=len(controls) // 2, replace=False)
        historical = real.iloc[historical_rows]
        analysis_set = real.drop(index=real.index[historical_rows])
        generator = control_generator(
            historical.drop(columns=["rmst"]), schema, args.generator, seed=split
        )
        artificial = generator.sample(len(historical), seed=split).data
        artificial = artificial.assign(horTh="no")
        # pseudo-values from the survival data each analysis actually has
        concurrent = with_rmst(analysis_set.drop(columns=["rmst"]))
        pooled = with_rmst(
            pd.concat([analysis_set.drop(columns=["rmst"]), artificial], ignore_index=True)
        )
        trial_part = pooled.iloc[: len(analysis_set)]
        borrowed_part = pooled.iloc[len(analysis_set) :]
        alone = (
            analyse_table(
                concurrent, arm="horTh", control="no", outcome="rmst", covariates=COVARIATES
            )
            .set_index("analysis")
            .loc["ancova"]
        )
        record: dict[str, Any] = {"split": split, "concurrent": _interval(alone)}
        for discount in DISCOUNTS:
            result = augmented_control(
                trial_part,
                borrowed_part,
                arm="horTh",
                control="no",
                outcome="rmst",
                covariates=COVARIATES,
                discount=discount,
                a0=0.5,
            )
            estimate = result.estimate
            record[discount] = {
                "estimate": estimate.estimate,
                "lower": estimate.lower,
                "upper": estimate.upper,
                "se": estimate.se,
                "borrowed": result.borrowed,
                "max_abs_smd_after": float(result.balance["smd_after"].abs().max()),
                "max_abs_smd_before": float(result.balance["smd_before"].abs().max()),
            }
        rows.append(record)
        say(
            f"borrowing split {split}: concurrent {alone['estimate']:.0f}, "
            f"pooled {record['none']['estimate']:.0f} (full {reference['estimate']:.0f})"
        )
    return {"full": _interval(reference), "splits": rows, "generator": args.generator}


def _interval(row: pd.Series) -> dict[str, float]:
    return {k: float(row[k]) for k in ("estimate", "se", "lower", "upper")}


# --------------------------------------------------------------------------- rendering
def render(result: dict[str, Any]) -> str:
    lines: list[str] = []
    if "speed" in result:
        s = result["speed"]
        values = np.array(s["seconds"])
        lines += [
            f"== speed: {s['trials']} trials × {s['patients']} patients, {s['analyses']} analyses "
            "each (2 CPU cores) ==",
            f"seconds: {values.mean():.1f} ± {values.std(ddof=1):.1f} (goal: well under 60)",
            "",
        ]
    if "reanalysis" in result:
        r = result["reanalysis"]
        lines.append("== gbsg2, the real trial (686 patients): hormonal therapy vs none ==")
        lines.append(
            f"5-year RMST (days), pseudo-values; prognostic score cross-fitted on "
            f"controls, ρ² = {r['rho2']:.3f}"
        )
        lines.append("analysis   | estimate | se    | 95 % CI          | p      | se reduction")
        for row in r["rmst"]:
            lines.append(
                f"{row['analysis']:10s} | {row['estimate']:8.1f} | {row['se']:5.1f} | "
                f"[{row['lower']:6.1f}, {row['upper']:6.1f}] | {row['p_value']:.4f} | "
                f"{row['se_reduction']:+.1%}"
            )
        lines.append("Cox log hazard ratio (conditional when adjusted):")
        for row in r["cox"]:
            lines.append(
                f"{row['analysis']:10s} | {row['estimate']:+.3f} | {row['se']:.3f} | HR "
                f"{np.exp(row['estimate']):.2f} [{np.exp(row['lower']):.2f}, "
                f"{np.exp(row['upper']):.2f}] | p {row['p_value']:.4f}"
            )
        lines.append("")
    for key, title in (("gbsg2_scenario", "gbsg2-based"), ("twin_scenario", "twin-based")):
        if key not in result:
            continue
        block = result[key]
        design = block["design"]
        lines.append(
            f"== {title} scenario: {design['name']}, {design['sample_size']} patients, "
            f"prognostic model {block['prognostic_model']} (ρ² {block['rho2']:.3f}) =="
        )
        lines.append(
            "analysis   | power | type-I (null trials) | bias     | mean se  | coverage | "
            "n for 80 % power | saved vs unadjusted"
        )
        summary = pd.DataFrame(block["summary"])
        alt = summary[summary["scenario"] == "alternative"].set_index("analysis")
        nul = summary[summary["scenario"] == "null"].set_index("analysis")
        base = alt.loc["unadjusted", "n_for_power"]
        for analysis in alt.index:
            a, n = alt.loc[analysis], nul.loc[analysis]
            lines.append(
                f"{analysis:10s} | {a['rejection_rate']:.3f} | {n['rejection_rate']:.4f} "
                f"({int(n['trials'])})     | {a['bias']:+8.3f} | {a['mean_se']:8.3f} | "
                f"{a['coverage']:.3f}    | {a['n_for_power']:8.0f}         | "
                f"{1 - a['n_for_power'] / base:+.1%}"
            )
        lines.append("")
    if "twin_fit" in result:
        t = result["twin_fit"]
        lines.append(
            f"twin population: tgi_gompertz NUTS on erlotinib in {t['seconds']:.0f} s, "
            f"typical {', '.join(f'{k} {v:.3g}' for k, v in t['typical'].items())}"
        )
        lines.append("")
    if "sweep" in result:
        lines.append("== power curves (Ray), gbsg2-based, effect +100 days ==")
        table = pd.DataFrame(result["sweep"])
        table = table[table["scenario"] == "alternative"]
        pivot = table.pivot_table(index="sample_size", columns="analysis", values="rejection_rate")
        lines.append(pivot.round(3).to_string())
        lines.append(f"figure: {POWER_FIGURE}; {result['sweep_seconds']:.0f} s on Ray")
        lines.append("")
    if "borrowing" in result:
        b = result["borrowing"]
        full = b["full"]
        lines.append(
            f"== borrowing on gbsg2: {len(b['splits'])} random splits of the control arm, "
            f"artificial controls from `{b['generator']}` fitted on the historical half =="
        )
        lines.append(
            f"full trial (686 patients, ANCOVA): {full['estimate']:.1f} days "
            f"[{full['lower']:.1f}, {full['upper']:.1f}]"
        )
        lines.append(
            "method          | mean estimate | mean |est − full| | CI width / full | "
            "CI covers full | borrowed"
        )
        width = full["upper"] - full["lower"]
        for method in ("concurrent", *DISCOUNTS):
            values = [s[method] for s in b["splits"]]
            estimates = np.array([v["estimate"] for v in values])
            widths = np.array([v["upper"] - v["lower"] for v in values])
            covers = np.mean([v["lower"] <= full["estimate"] <= v["upper"] for v in values])
            borrowed = np.mean([v.get("borrowed", False) for v in values])
            lines.append(
                f"{method:15s} | {estimates.mean():7.1f} ± {estimates.std(ddof=1):5.1f} | "
                f"{np.abs(estimates - full['estimate']).mean():16.1f} | "
                f"{(widths / width).mean():15.2f} | {covers:14.2f} | {borrowed:.2f}"
            )
        smd_before = np.mean([s["none"]["max_abs_smd_before"] for s in b["splits"]])
        smd_after = np.mean([s["none"]["max_abs_smd_after"] for s in b["splits"]])
        lines.append(
            f"balance: max |SMD| trial vs artificial controls {smd_before:.3f} before "
            f"weighting, {smd_after:.3f} after (mean over splits)"
        )
        lines.append("")
    if "drift" in result:
        lines.append("== drift: borrowed controls' outcome shifted (days), null trials ==")
        table = pd.DataFrame(result["drift"])
        null = table[table["scenario"] == "null"]
        lines.append(
            null.pivot_table(index="drift", columns="method", values="rejection_rate")
            .round(3)
            .to_string()
        )
        lines.append("bias under the alternative (days):")
        alt = table[table["scenario"] == "alternative"]
        lines.append(
            alt.pivot_table(index="drift", columns="method", values="bias").round(1).to_string()
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--null-trials", type=int, default=2000)
    parser.add_argument("--splits", type=int, default=50)
    parser.add_argument("--drift-trials", type=int, default=300)
    parser.add_argument("--generator", default="copula")
    parser.add_argument("--twin-warmup", type=int, default=500)
    parser.add_argument("--twin-samples", type=int, default=300)
    parser.add_argument("--twin-size", type=int, default=40)
    parser.add_argument("--gbsg2-size", type=int, default=500)
    parser.add_argument("--skip-twins", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--out", default="benchmarks/results/trials.json")
    args = parser.parse_args()
    result: dict[str, Any] = {"args": vars(args), "versions": versions()}
    started = time.perf_counter()
    out = Path(args.out)

    def checkpoint() -> None:  # a crash late in the run keeps what was measured
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, default=str))

    gbsg2 = load("gbsg2")
    real = with_rmst(gbsg2.data)
    controls = real[real["horTh"] == "no"]
    say(f"fitting {args.generator} on the {len(controls)} real control patients")
    generator = control_generator(
        controls.drop(columns=["rmst"]), gbsg2.schema, args.generator, seed=0
    )
    artificial = with_rmst(generator.sample(10_000, seed=0).data).drop(columns=["time", "cens"])
    population = CohortPopulation(artificial, seed=0)

    result["speed"] = speed(population)
    say(f"speed: {result['speed']['seconds']}")
    checkpoint()
    result["reanalysis"] = reanalysis(real)
    checkpoint()
    result["gbsg2_scenario"] = operating(rmst_design(args.gbsg2_size, 100.0), population, args)
    say(f"gbsg2 scenario done in {result['gbsg2_scenario']['seconds']:.0f} s")
    checkpoint()
    if not args.skip_twins:
        twins, info = twin_population(args)
        result["twin_fit"] = info
        say(f"twin population fitted in {info['seconds']:.0f} s")
        result["twin_scenario"] = operating(twin_design(args.twin_size), twins, args)
        say(f"twin scenario done in {result['twin_scenario']['seconds']:.0f} s")
        checkpoint()
    if not args.skip_sweep:
        began = time.perf_counter()
        table = sweep(
            rmst_design(args.gbsg2_size, 100.0),
            population,
            sample_sizes=[200, 400, 600, 800, 1000],
            n_trials=400,
            seed=3,
            progress=False,
        )
        result["sweep_seconds"] = time.perf_counter() - began
        result["sweep"] = table.to_dict("records")
        POWER_FIGURE.parent.mkdir(parents=True, exist_ok=True)
        plot_power_curves(table, POWER_FIGURE)
        checkpoint()
    result["borrowing"] = borrowing_splits(real, gbsg2.schema, args)
    checkpoint()
    drift = borrowing_simulation(
        rmst_design(300, 100.0),
        population,
        external_size=300,
        drifts=[0.0, 50.0, 100.0, 200.0],
        n_trials=args.drift_trials,
        seed=4,
        progress=False,
    )
    result["drift"] = drift.to_dict("records")
    result["total_seconds"] = time.perf_counter() - started
    checkpoint()
    print(render(result))
    print(f"\ntotal runtime: {result['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
