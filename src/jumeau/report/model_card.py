"""A score's model card: one self-contained HTML file and one JSON file with every number.

Rendering only: the numbers come from `jumeau.prognostic.card`. Like the validation report, the
card lists no patient — validation metrics, curves by risk tenths, effect curves on a grid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jumeau.data.loading import write_text_atomically
from jumeau.prognostic.card import ScoreCard, ScoreSide
from jumeau.report import score_plots
from jumeau.report.html import STYLE, _e, _img, json_safe

METRIC_LABELS = {
    "c_index": "C-index (Harrell)",
    "auc_at_horizon": "time-dependent AUC at the horizon (IPCW)",
    "roc_auc": "ROC AUC",
    "brier": "Brier score (lower is better)",
    "calibration_slope": "calibration slope (ideal 1)",
    "calibration_intercept": "calibration intercept (ideal 0)",
    "observed_risk": "observed risk",
    "mean_predicted_risk": "mean predicted risk",
}


def _metrics_table(sides: list[ScoreSide]) -> str:
    head = "".join(f"<th>{_e(side.label)}</th>" for side in sides)
    rows = []
    for name, label in METRIC_LABELS.items():
        if name not in sides[0].validation.metrics:
            continue
        cells = "".join(f"<td>{_e(side.validation.metrics[name])}</td>" for side in sides)
        rows.append(f"<tr><td>{_e(label)}</td>{cells}</tr>")
    title = "<th>on real patients (95 % bootstrap CI)</th>"
    return f"<table><tr>{title}{head}</tr>{''.join(rows)}</table>"


def _variables_table(side: ScoreSide) -> str:
    selection = side.score.selection_
    shapes = {c.variable: c.shape for c in side.curves}
    rows = []
    for variable in side.score.variables_:
        stability = "—" if selection is None else f"{selection.stability.get(variable, 0):.0%}"
        rows.append(
            f"<tr><td>{_e(variable)}</td><td>{side.importance.get(variable, float('nan')):.4f}</td>"
            f"<td>{side.shap_importance.get(variable, float('nan')):.4f}</td>"
            f"<td>{_e(stability)}</td><td>{_e(shapes.get(variable, ''))}</td></tr>"
        )
    return (
        f"<h3>{_e(side.label)} — {_e(side.score.model_.kind)}</h3><table><tr><th>variable</th>"
        "<th>AUC drop when shuffled</th><th>mean |SHAP|</th><th>selected in folds</th>"
        f"<th>effect</th></tr>{''.join(rows)}</table>"
    )


def _comparison(card: ScoreCard) -> str:
    comparison = card.comparison
    if not comparison:
        return (
            "<p class='na'>No real training patients were given: the loss from training on "
            "artificial patients is not measured here.</p>"
        )
    shap = comparison["shap_agreement"]
    permutation = comparison["permutation_importance_agreement"]
    return f"""<table>
<tr><td>{_e(comparison["metric"])}: artificial-trained − real-trained</td>
<td>{comparison["difference"]:+.3f}</td></tr>
<tr><td>chosen variables in common (Jaccard)</td><td>{comparison["variables_overlap"]:.2f}
({_e(", ".join(comparison["shared_variables"]))})</td></tr>
<tr><td>rank agreement of permutation importances (Spearman, shared variables)</td>
<td>{permutation["spearman"]:.2f}</td></tr>
<tr><td>rank agreement of mean |SHAP| (Spearman, shared variables)</td>
<td>{shap["spearman"]:.2f}</td></tr></table>"""


def render_card_html(card: ScoreCard, meta: dict[str, Any]) -> str:
    sides = card.sides
    first = sides[0]
    training = first.score.training_
    report = card.generator_report or {}
    report_line = ""
    if report:
        report_line = (
            f"<p>Validation report of the artificial cohort: {_e(report.get('summary', ''))}</p>"
        )
    limits = "".join(f"<li>{_e(text)}</li>" for text in card.limits)
    variables = "".join(_variables_table(side) for side in sides)
    outcome = card.task.get("description") or card.task.get("outcome")
    title = meta.get("title") or f"Model card: risk of {outcome}"
    horizon = card.task.get("horizon")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{_e(title)}</h1>
<p class="muted">generated {_e(meta.get("created", ""))} · seed {_e(meta.get("seed", ""))}
· jumeau {_e(meta.get("versions", {}).get("jumeau", ""))}</p>

<h2>Intended use</h2>
<p>{_e(card.intended_use)}</p>

<h2>Data</h2>
<p>Trained on {_e(training.get("rows"))} {"artificial" if training.get("artificial") else "real"}
patients ({_e(training.get("known_outcomes"))} with a known outcome,
{_e(training.get("outcomes"))} with the outcome){
        f"; risk by time {horizon:g}" if horizon is not None else ""
    }. Validated on
{first.validation.patients} real patients ({first.validation.outcomes} with the outcome).</p>
{report_line}

<h2>Performance on real patients</h2>
{_metrics_table(sides)}
{_img(score_plots.calibration(sides), "Calibration")}
{_img(score_plots.decision_curve(sides), "Decision curve")}

<h2>Artificial against real training</h2>
{_comparison(card)}

<h2>Variables and explanations</h2>
<p>Importance is measured on the real validation patients. Effect curves show the mean predicted
risk when every patient is given one value of a variable (partial dependence).</p>
{variables}
{_img(score_plots.effects(sides), "Effect curves")}

<h2>Limits</h2>
<ul>{limits}</ul>

<h2>Reproducibility</h2>
<pre>{_e(json.dumps(meta, indent=2, default=str))}</pre>
</body></html>
"""


def write_card(card: ScoreCard, directory: str | Path, meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write card.html and card.json into `directory` (atomically)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    payload = json_safe({"meta": meta, **card.to_dict()})
    text = json.dumps(payload, indent=2, allow_nan=False)
    json_path = write_text_atomically(folder / "card.json", text + "\n")
    html_path = write_text_atomically(folder / "card.html", render_card_html(card, meta))
    return html_path, json_path
