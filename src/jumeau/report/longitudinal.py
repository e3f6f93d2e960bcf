"""The validation report of a longitudinal artificial cohort (HTML + JSON).

The same rules as the tabular report: self-contained HTML (inline style, figures as data URIs),
every number also in JSON, real patients only as distributions and scores — never a row or a
course. Rendering only: the numbers come from `jumeau.longitudinal.evaluation`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from jumeau.data.loading import write_text_atomically
from jumeau.data.longitudinal import LongitudinalCohort
from jumeau.longitudinal.evaluation import LongitudinalEvaluation
from jumeau.longitudinal.mixed_model import MixedModelComparison
from jumeau.longitudinal.plots import trajectory_figure
from jumeau.report.html import STYLE, _e, _img, json_safe

HEADLINES = {
    "window_ks_mean": "per-window marginals: mean KS/TVD (lower is better)",
    "visit_count_tvd": "number of visits: total variation",
    "gap_ks": "gaps between visits: KS",
    "followup_ks": "follow-up length: KS",
    "event_share_diff": "terminal-event share: absolute difference",
    "slope_ks": "per-patient slopes: KS",
    "autocorrelation_diff": "lag-1 autocorrelation: absolute difference",
    "fixed_effects_inside_ci": "mixed-model fixed effects inside the real 95 % CI",
    "detection_auc": "detection AUC on whole courses (0.5: indistinguishable)",
    "dcr_share": "DCR share on whole courses (≈ 0.5: no memorisation)",
}


def write_longitudinal_report(
    evaluation: LongitudinalEvaluation,
    train: LongitudinalCohort,
    artificial: LongitudinalCohort,
    directory: str | Path,
    meta: dict[str, Any],
) -> tuple[Path, Path]:
    """report.html and report.json in `directory`, each written atomically."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    payload = json_safe({"meta": meta, **evaluation.as_dict()})
    json_path = write_text_atomically(
        folder / "report.json", json.dumps(payload, indent=2, allow_nan=False) + "\n"
    )
    html_path = write_text_atomically(
        folder / "report.html", render_longitudinal_html(evaluation, train, artificial, meta)
    )
    return html_path, json_path


def render_longitudinal_html(
    evaluation: LongitudinalEvaluation,
    train: LongitudinalCohort,
    artificial: LongitudinalCohort,
    meta: dict[str, Any],
) -> str:
    try:
        figure: bytes | None = trajectory_figure(train, artificial, seed=evaluation.seed)
    except ValueError:  # no numeric measure to draw
        figure = None
    similarity = evaluation.similarity
    notes = "".join(f"<li>{_e(n)}</li>" for n in evaluation.notes) or "<li>none</li>"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>jumeau longitudinal validation report</title><style>{STYLE}</style></head><body>
<h1>Longitudinal validation report</h1>
<p class="muted">{evaluation.n_artificial} artificial patients
({len(artificial.data)} visits) against {evaluation.n_train} training patients
({len(train.data)} visits); the ceiling is a real holdout of {evaluation.n_holdout} patients
the generator never saw, scored the same way.</p>
<h2>Summary</h2>{_summary_table(evaluation)}
<h2>Trajectories</h2>
<p class="muted">Artificial courses one by one; real patients only as the median and the
10–90 % band per window of visit time.</p>{_img(figure, "trajectories")}
<h2>Statistician's check: linear mixed model</h2>{_mixed_tables(evaluation)}
<h2>Visit windows</h2>{_window_table(evaluation)}
<h2>Similarity filter on whole courses</h2>
<p>{similarity.get("n_removed", 0)} of {similarity.get("n_input", 0)} artificial patients
are closer to a training patient than the {100 * float(similarity.get("percentile", 0)):.0f}th
percentile of real holdout → training distances ({similarity.get("n_exact_copies", 0)} exact
copies); an export should drop them (`filter_close_trajectories`).</p>
<h2>Notes</h2><ul>{notes}</ul>
<h2>Reproducibility</h2><pre>{_e(json.dumps(json_safe(meta), indent=2, default=str))}</pre>
</body></html>
"""


def _number(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or not np.isfinite(value):
        return "—"
    return f"{value:.3f}"


def _summary_table(evaluation: LongitudinalEvaluation) -> str:
    artificial, ceiling = evaluation.artificial.headline(), evaluation.ceiling.headline()
    rows = "".join(
        f"<tr><td>{_e(label)}</td><td>{_number(artificial[key])}</td>"
        f"<td>{_number(ceiling[key])}</td></tr>"
        for key, label in HEADLINES.items()
    )
    return (
        "<table><tr><th>measure</th><th>artificial</th><th>ceiling (real holdout)</th></tr>"
        f"{rows}</table>"
    )


def _mixed_tables(evaluation: LongitudinalEvaluation) -> str:
    parts = []
    for model in evaluation.artificial.mixed_models:
        rows = "".join(
            f"<tr><td>{_e(f.term)}</td><td>{_number(f.real_estimate)} "
            f"[{_number(f.real_ci[0])}, {_number(f.real_ci[1])}]</td>"
            f"<td>{_number(f.artificial_estimate)} [{_number(f.artificial_ci[0])}, "
            f"{_number(f.artificial_ci[1])}]</td>"
            f"<td>{'<span class=ok>✓</span>' if f.inside_real_ci else '<span class=bad>✗</span>'}"
            "</td></tr>"
            for f in model.fixed_effects
        )
        parts.append(
            f"<h3>{_e(model.measure)}</h3><table><tr><th>fixed effect</th><th>real (training) "
            "estimate [95 % CI]</th><th>artificial estimate [95 % CI]</th><th>inside</th></tr>"
            f"{rows}</table>{_variance_table(model)}"
        )
    return "".join(parts) or "<p class='na'>no numeric measure: no mixed model fitted.</p>"


def _variance_table(model: MixedModelComparison) -> str:
    real, artificial = model.real_variance.as_dict(), model.artificial_variance.as_dict()
    rows = "".join(
        f"<tr><td>{_e(name.replace('_', ' '))}</td><td>{_number(real[name])}</td>"
        f"<td>{_number(artificial[name])}</td></tr>"
        for name in real
    )
    kind = "random intercept and slope" if model.random_slope else "random intercept only"
    return (
        f"<table><tr><th>variance component ({kind})</th><th>real</th><th>artificial</th></tr>"
        f"{rows}</table>"
    )


def _window_table(evaluation: LongitudinalEvaluation) -> str:
    table = evaluation.artificial.windows.table
    if table.empty:
        return "<p class='na'>no window.</p>"
    rows = "".join(
        f"<tr><td>{_e(r['label'])}</td><td>{_e(r['column'])}</td><td>{_e(r['statistic'])}</td>"
        f"<td>{_number(r['value'])}</td><td>{int(r['n_real'])}</td>"
        f"<td>{int(r['n_artificial'])}</td></tr>"
        for _, r in table.iterrows()
    )
    return (
        "<table><tr><th>window</th><th>measure</th><th>statistic</th><th>distance</th>"
        f"<th>real visits</th><th>artificial visits</th></tr>{rows}</table>"
    )
