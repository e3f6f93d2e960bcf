"""Artificial longitudinal cohorts: the longitudinal VAE against the random-walk baseline (issue 9).

For each real long-format cohort (csl: prothrombin at irregular visits in liver cirrhosis; aids:
CD4 at 0/2/6/12/18 months in HIV; both from SurvSet, GPL, installed with the `gpl` extra) and each
seed, the patients are split 70/30 (`split_patients`, each patient with all their visits); both
generators are fitted on the 70 % with default settings and draw as many patients as were
trained on; `evaluate_longitudinal` scores each artificial cohort against the training patients,
and the 30 % real holdout is scored the same way (the ceiling: an independent real sample).

Columns (distances: lower is better, unless noted):
- FE in CI: fixed effects of the same linear mixed model (statsmodels MixedLM, measure ~ time +
  baseline covariates, random intercept and slope on time by patient) fitted on an artificial
  cohort whose estimate lies in the 95 % CI of the fit on the training patients, summed over
  seeds. "10×": a cohort ten times the training size, which measures the generator's own fixed
  effects (a perfect generator: ≈ 95 % of terms inside); "1×": the cohort of training size that
  the other columns use (a perfect generator, or the real holdout: ≈ 83 % per term, since both
  estimates are noisy);
- visit TVD: total variation between the distributions of the number of visits; gap KS:
  Kolmogorov–Smirnov distance between gaps between consecutive visits;
- window KS: per visit-time window (quantiles of the real visit times), KS of each measure,
  averaged; slope KS: KS of per-patient OLS slopes; AC diff: |lag-1 autocorrelation difference|;
- detection AUC: cross-validated classifier telling artificial from real patients on whole-course
  summary features (0.5: indistinguishable); DCR share: share of artificial patients closer to a
  training patient than to a holdout one on those features (≈ 0.5 expected, > 0.5 memorises);
- fit s, sample s: seconds to fit on the training patients and to draw the cohort (2 CPU cores).

Goal (issue 9): the generator's fixed effects inside the real 95 % CIs on both cohorts, and a
lower detection AUC than the baseline.

Usage: python benchmarks/longitudinal.py [--seeds 5] [--datasets csl aids] [--out results/...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from jumeau.data.datasets.longitudinal import load_longitudinal_dataset
from jumeau.data.longitudinal import LongitudinalCohort
from jumeau.generators.persistence import versions
from jumeau.longitudinal import LongitudinalVAE
from jumeau.longitudinal.baseline import RandomWalkBaseline
from jumeau.longitudinal.evaluation import evaluate_longitudinal, split_patients
from jumeau.longitudinal.mixed_model import mixed_model_comparison

RESULTS = Path(__file__).parent / "results"
LARGE = 10  # the generator's own fixed effects: a cohort 10 × the training size
NUMBERS = ["visit_count_tvd", "gap_ks", "window_ks_mean", "slope_ks", "autocorrelation_diff",
           "detection_auc", "dcr_share"]  # fmt: skip


def run_seed(name: str, seed: int) -> dict[str, Any]:
    cohort = load_longitudinal_dataset(name)
    train, holdout = split_patients(cohort, share=0.3, seed=seed)
    rows: dict[str, Any] = {}
    generators: dict[str, Any] = {
        "longitudinal VAE": LongitudinalVAE(),
        "random-walk baseline": RandomWalkBaseline(),
    }
    for label, generator in generators.items():
        start = time.perf_counter()
        if isinstance(generator, LongitudinalVAE):
            generator.fit(train, seed=seed, progress=False)
        else:
            generator.fit(train, seed=seed)
        fitted = time.perf_counter()
        artificial = generator.sample(train.n_patients, seed=seed + 1000)
        sampled = time.perf_counter()
        evaluation = evaluate_longitudinal(train, holdout, artificial, seed=seed)
        large = generator.sample(LARGE * train.n_patients, seed=seed + 2000)
        comparisons = [
            mixed_model_comparison(train, large, measure, covariates=list(train.columns.static))
            for measure in _numeric_measures(train)
        ]
        rows[label] = _row(evaluation.artificial) | {
            "fit_s": fitted - start,
            "sample_s": sampled - fitted,
            "fe_inside_large": sum(c.n_inside_real_ci for c in comparisons),
            "fe_total_large": sum(len(c.fixed_effects) for c in comparisons),
            "mixed_models_large": [c.as_dict() for c in comparisons],
        }
        rows["ceiling (real holdout)"] = _row(evaluation.ceiling)
        rows[label]["mixed_models"] = [m.as_dict() for m in evaluation.artificial.mixed_models]
        rows[label]["similarity"] = evaluation.similarity
    return {"dataset": name, "seed": seed, "train": train.n_patients,
            "holdout": holdout.n_patients, "rows": rows}  # fmt: skip


def _numeric_measures(cohort: LongitudinalCohort) -> list[str]:
    kinds = ("continuous", "integer")
    return [n for n in cohort.columns.varying if cohort.schema.columns[n].kind.value in kinds]


def _row(scores: Any) -> dict[str, Any]:
    headline = scores.headline()
    inside, total = (int(x) for x in headline["fixed_effects_inside_ci"].split("/"))
    return {key: headline[key] for key in NUMBERS} | {"fe_inside": inside, "fe_total": total}


def _cell(values: list[float], digits: int = 3) -> str:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return "—"
    if len(finite) == 1:
        return f"{finite[0]:.{digits}f}"
    return f"{np.mean(finite):.{digits}f} ± {np.std(finite, ddof=1):.{digits}f}"


def render(records: list[dict[str, Any]]) -> str:
    lines = []
    for dataset in dict.fromkeys(r["dataset"] for r in records):
        runs = [r for r in records if r["dataset"] == dataset]
        lines.append(
            f"\n== {dataset}: {runs[0]['train']} training / {runs[0]['holdout']} holdout "
            f"patients, mean ± sd over {len(runs)} seeds =="
        )
        header = ["generator", "FE in CI 10×", "FE in CI 1×", "visit TVD", "gap KS",
                  "window KS", "slope KS", "AC diff", "detect AUC", "DCR share", "fit s",
                  "sample s"]  # fmt: skip
        table = [header]
        for label in runs[0]["rows"]:
            cells = [r["rows"][label] for r in runs]
            inside = sum(c["fe_inside"] for c in cells)
            total = sum(c["fe_total"] for c in cells)
            large = (
                f"{sum(c['fe_inside_large'] for c in cells)}/"
                f"{sum(c['fe_total_large'] for c in cells)}"
                if "fe_inside_large" in cells[0]
                else "—"
            )
            row = [label, large, f"{inside}/{total}"]
            row += [_cell([c[k] for c in cells]) for k in NUMBERS]
            row += [_cell([c.get("fit_s", np.nan) for c in cells], 1),
                    _cell([c.get("sample_s", np.nan) for c in cells], 2)]  # fmt: skip
            table.append(row)
        widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
        for row in table:
            lines.append(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
        outside: dict[str, int] = {}
        for r in runs:
            for model in r["rows"]["longitudinal VAE"]["mixed_models_large"]:
                for effect in model["fixed_effects"]:
                    if not effect["inside_real_ci"]:
                        outside[effect["term"]] = outside.get(effect["term"], 0) + 1
        if outside:
            described = ", ".join(f"{t} ({k} of {len(runs)})" for t, k in outside.items())
            lines.append(f"VAE fixed effects (10× cohort) outside the real 95 % CI: {described}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", nargs="+", default=["csl", "aids"])
    parser.add_argument("--out", type=Path, default=RESULTS / "longitudinal")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # small networks: one thread is faster and timings are stable
    records = []
    for dataset in args.datasets:
        for seed in range(args.seeds):
            records.append(run_seed(dataset, seed))
            print(render(records[-1:]), flush=True)
    text = render(records)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".txt").write_text(text.lstrip() + "\n", encoding="utf-8")
    payload = {"versions": versions(), "seeds": args.seeds, "records": records}
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=1, default=float))


if __name__ == "__main__":
    main()
