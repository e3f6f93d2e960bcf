"""Digital twins beyond PK (issue 5): tumour growth inhibition on a real xenograft study, and
simulation speed of every response model.

1. Erlotinib xenografts (bundled from chi-drm; Eigenmann et al. 2016): 30 mice, 8 untreated and
   22 on daily oral erlotinib at three dose levels, 397 tumour volumes over 30 days. Each TGI
   model (tgi_claret, tgi_gompertz, tgi_stein; proportional error) is fitted by SVI and by NUTS;
   printed: fit time, typical values (median [90 % CrI]), the residual sd, convergence, and a
   visual-predictive-check figure of merit — the share of observed volumes inside the 90 %
   prediction interval of 200 studies simulated from the fitted population (goal ≈ 90 %).
2. Simulation speed: 10,000 virtual patients × 100 time points for every non-PK model (the PK
   models are timed by benchmarks/twins.py). Goal: under 5 s.
3. Parameter recovery (`--recovery`): studies simulated with known typical values and
   between-patient variability for one model of each family — emax_kpd and idr3_kpd (24
   patients at four dose levels, 8 samples over 3 days), tgi_claret (24 tumours, control and
   three dose levels, weekly for 8 weeks), dp_linear (40 patients, half treated, visits every
   3 months for 2 years) — fitted by NUTS (SVI for the ODE model), reporting the bias of the
   typical values' medians and the coverage of individual 90 % credible intervals (goal 80–97 %).

Usage: python benchmarks/twins_response.py [--chains 2 --warmup 300 --samples 300]
       [--models tgi_claret,tgi_gompertz,tgi_stein] [--out benchmarks/results/twins-response.json]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jumeau.twins.calibrate import fit_population
from jumeau.twins.datasets import load_study
from jumeau.twins.events import PKData
from jumeau.twins.models import BUILT_IN, PaddedDoses, make_model
from jumeau.twins.regimen import Regimen
from jumeau.twins.simulate import simulate_studies, simulate_study

SPEED_REGIMEN = "100 mg iv q24h x10"


def vpc_coverage(fit: Any, study: Any, seed: int) -> float:
    simulated = simulate_studies(fit, study, replicates=200, seed=seed)
    low = np.quantile(simulated.values, 0.05, axis=0)
    high = np.quantile(simulated.values, 0.95, axis=0)
    observed = np.zeros_like(low)
    for i, subject in enumerate(study):
        observed[i, : len(subject.values)] = subject.values
    inside = (observed >= low) & (observed <= high)
    return float(inside[simulated.observed].mean())


def erlotinib(args: argparse.Namespace) -> list[dict[str, Any]]:
    study = load_study("erlotinib")
    rows = []
    for model in args.models:
        for method in ("svi", "nuts"):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fit = fit_population(
                    study,
                    model,
                    method=method,
                    error="proportional",
                    chains=args.chains,
                    warmup=args.warmup,
                    samples=args.samples,
                    seed=0,
                    progress=False,
                )
            row = {
                "model": model,
                "method": method,
                "seconds": fit.seconds,
                "summary": fit.summary(),
                "diagnostics": fit.diagnostics,
                "vpc_coverage": vpc_coverage(fit, study, seed=1),
                "warnings": sorted(
                    {str(w.message)[:90] for w in caught if "jit" not in str(w.message)}
                ),
            }
            print(
                f"{model} {method}: {fit.seconds:.0f}s, VPC {row['vpc_coverage']:.2f}", flush=True
            )
            rows.append(row)
    return rows


def speed() -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    patients, points = 10_000, 100
    times = torch.as_tensor(np.tile(np.linspace(0, 480, points), (patients, 1)))
    doses = PaddedDoses.stack([Regimen.parse(SPEED_REGIMEN).events()] * patients)
    rows = []
    for cls in BUILT_IN:
        model = cls()
        if model.name.startswith("pk"):
            continue
        params = {
            p.name: p.constrain(
                torch.as_tensor(p.unconstrain(p.typical) + 0.2 * rng.standard_normal(patients))
            )
            for p in model.parameters
        }
        seconds = []
        for _ in range(3):
            began = time.perf_counter()
            with torch.no_grad():
                model.predict(params, doses, times)
            seconds.append(time.perf_counter() - began)
        rows.append({"model": model.name, "seconds": seconds})
        print(f"speed {model.name}: {np.mean(seconds):.2f}s", flush=True)
    return rows


DAY, WEEK, YEAR = 24.0, 168.0, 8766.0
RECOVERY = {
    "emax_kpd": {
        "typical": {"E0": 100.0, "Emax": -40.0, "EDK50": 2.0, "KDE": 0.1},
        "omega": {"E0": 0.1, "Emax": 0.2, "EDK50": 0.3, "KDE": 0.2},
        "regimens": ["1 mg iv q24h x3", "3 mg iv q24h x3", "10 mg iv q24h x3", "30 mg iv q24h x3"],
        "times": [1, 4, 8, 24, 26, 48, 50, 72],
        "subjects": 24,
        "method": "nuts",
        "error": "combined",
    },
    "idr3_kpd": {
        "typical": {"R0": 50.0, "kout": 0.1, "Smax": 2.0, "SC50": 2.0, "KDE": 0.1},
        "omega": {"R0": 0.1, "kout": 0.2, "Smax": 0.2, "SC50": 0.3, "KDE": 0.2},
        "regimens": ["1 mg iv q24h x3", "3 mg iv q24h x3", "10 mg iv q24h x3", "30 mg iv q24h x3"],
        "times": [2, 6, 12, 24, 30, 48, 60, 72],
        "subjects": 24,
        "method": "svi",
        "error": "proportional",
    },
    "tgi_claret": {
        "typical": {"y0": 0.2, "KL": 0.006, "KD": 0.3, "lambda": 0.002},
        "omega": {"y0": 0.3, "KL": 0.2, "KD": 0.3, "lambda": 0.3},
        "regimens": [None, "0.5 mg q24h x56", "1 mg q24h x56", "2 mg q24h x56"],
        "times": [WEEK * w for w in range(9)],
        "subjects": 24,
        "method": "nuts",
        "error": "proportional",
    },
    "dp_linear": {
        "typical": {"S0": 25.0, "alpha": 5 / YEAR, "Esym": -3.0, "keq": 0.002, "theta_dm": 0.3},
        "omega": {"S0": 4.0, "alpha": 1.5 / YEAR, "Esym": 1.0},
        "regimens": [None, "10 mg q24h x1"],
        "times": [YEAR / 4 * q for q in range(9)],
        "subjects": 40,
        "method": "nuts",
        "error": "additive",
    },
}


def recovery(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for name, design in RECOVERY.items():
        if args.recovery_models and name not in args.recovery_models:
            continue
        model = make_model(name)
        n = design["subjects"]
        regimens = [None if r is None else Regimen.parse(r) for r in (design["regimens"] * n)[:n]]
        frame, truth = simulate_study(
            model,
            design["typical"],
            design["omega"],
            subjects=n,
            times=np.asarray(design["times"], dtype=float),
            regimens=regimens,
            sigma_prop=0.08 if design["error"] != "additive" else 0.0,
            sigma_add=1.0 if design["error"] != "proportional" else 0.0,
            seed=7,
        )
        study = PKData.from_frame(frame, needs_dose=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = fit_population(
                study,
                model,
                method=design["method"],
                error=design["error"],
                chains=args.chains,
                warmup=args.warmup,
                samples=args.samples,
                seed=0,
                progress=False,
                parallel=True,
            )
        draws = fit.individual_all()
        row: dict[str, Any] = {"model": name, "method": design["method"], "seconds": fit.seconds}
        for parameter, value in design["typical"].items():
            flat = draws[parameter].reshape(-1, n)
            low, high = np.quantile(flat, [0.05, 0.95], axis=0)
            median = float(np.median(fit.typical[parameter]))
            row[f"bias {parameter}"] = median / value - 1 if value else median - value
            if parameter in design["omega"]:
                inside = (truth[parameter] >= low) & (truth[parameter] <= high)
                row[f"coverage {parameter}"] = float(inside.mean())
        row["warnings"] = sorted(
            {str(w.message)[:80] for w in caught if "jit" not in str(w.message)}
        )
        print(f"recovery {name}: {fit.seconds:.0f}s", flush=True)
        rows.append(row)
    return rows


def render(result: dict[str, Any]) -> str:
    args = result["args"]
    lines = [
        f"== erlotinib xenografts (30 mice, 397 volumes): NUTS {args['chains']} chain(s) × "
        f"({args['warmup']} + {args['samples']}), SVI 3000 steps ==",
        "model        | method | fit s | typical values, median [90 % CrI] (rates per hour) "
        "| σ prop | VPC 90 % coverage | R-hat max | divergences",
    ]
    for row in result.get("erlotinib", []):
        typical = [r for r in row["summary"] if r["parameter"].endswith("(typical)")]
        values = ", ".join(
            f"{r['parameter'].split()[0]} {r['median']:.3g} [{r['q05']:.3g}, {r['q95']:.3g}]"
            for r in typical
        )
        sigma = next(r for r in row["summary"] if r["parameter"] == "sigma_prop")["median"]
        rhat = max(row["diagnostics"].get("rhat_max", {}).values(), default=float("nan"))
        lines.append(
            f"{row['model']:12s} | {row['method']:6s} | {row['seconds']:5.0f} | {values} "
            f"| {sigma:.3f} | {row['vpc_coverage']:.2f} | {rhat:.3f} | "
            f"{row['diagnostics'].get('divergences', '-')}"
        )
    lines += [
        "",
        f"== simulation: 10,000 patients × 100 time points, {SPEED_REGIMEN} (CPU) ==",
        "model        | seconds (mean ± sd of 3)",
    ]
    for row in result.get("speed", []):
        s = np.asarray(row["seconds"])
        lines.append(f"{row['model']:12s} | {s.mean():.2f} ± {s.std(ddof=1):.2f}")
    lines.append("goal: under 5 s")
    if result.get("recovery"):
        lines += [
            "",
            "== parameter recovery: one simulated study per model "
            "(bias of typical medians; coverage of individual 90 % CrI, parameters with ω) ==",
        ]
        for row in result["recovery"]:
            cells = [
                f"{k} {v:+.2f}" if k.startswith("bias") else f"{k} {v:.2f}"
                for k, v in row.items()
                if k.startswith(("bias", "coverage"))
            ]
            lines.append(
                f"{row['model']:10s} | {row['method']} | {row['seconds']:.0f} s | "
                + ", ".join(cells)
                + (f" | warnings: {row['warnings']}" if row["warnings"] else "")
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--models", default="tgi_claret,tgi_gompertz,tgi_stein")
    parser.add_argument("--skip-fits", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--recovery", action="store_true")
    parser.add_argument("--recovery-models", default="", help="comma-separated subset")
    parser.add_argument("--out", default="benchmarks/results/twins-response.json")
    args = parser.parse_args()
    args.models = [m for m in args.models.split(",") if m]
    args.recovery_models = [m for m in args.recovery_models.split(",") if m]
    result: dict[str, Any] = {"args": vars(args), "torch_threads": torch.get_num_threads()}
    if not args.skip_speed:
        result["speed"] = speed()
    if not args.skip_fits:
        result["erlotinib"] = erlotinib(args)
    if args.recovery:
        result["recovery"] = recovery(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))
    print(render(result))


if __name__ == "__main__":
    main()
