"""The validation report: one self-contained HTML file and one JSON file with every number.

Rendering only: the numbers come from `jumeau.evaluation.evaluate`. The HTML needs no network
(styles inline, figures as PNG data URIs). It never lists a real patient's row: real data appear
only as distributions in the figures, and the tables hold scores, not values.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from jumeau.data.cohort import Cohort
from jumeau.data.loading import write_text_atomically
from jumeau.evaluation.evaluate import Evaluation, Verdict
from jumeau.generators.persistence import versions
from jumeau.report import plots
from jumeau.report.dossier import privacy_sentence, render_dossier
from jumeau.report.style import STYLE


def _e(value: object) -> str:
    return html.escape(str(value))


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return f"<p class='na'>{_e(alt)}: not drawn (too few variables or patients).</p>"
    data = base64.b64encode(png).decode("ascii")
    return f"<img alt='{_e(alt)}' src='data:image/png;base64,{data}'>"


def _state(ok: bool | None) -> str:
    if ok is None:
        return "<span class='na'>—</span>"
    return "<span class='ok'>✓ passes</span>" if ok else "<span class='bad'>✗ below</span>"


def _verdict_rows(lines: list[Verdict]) -> str:
    return "".join(
        f"<tr><td>{_e(v.topic)}</td><td>{_e(v.value)}</td><td>{_e(v.threshold)}</td>"
        f"<td>{_state(v.ok)}</td><td>{_e(v.text)}</td></tr>"
        for v in lines
    )


def _interval(result: Evaluation) -> str:
    if result.dcr_share_interval is None:
        return ""
    low, high = result.dcr_share_interval
    return f" ({low:.3f}–{high:.3f})"


def _fidelity_table(result: Evaluation) -> str:
    f, c = result.fidelity, result.ceiling
    rows = [
        ("column shapes (mean 1−KS / 1−TVD)", f.mean_shapes, c.mean_shapes),
        ("pair trends (mean)", f.pair_trends, c.pair_trends),
        ("detection ROC AUC (0.5 is best)", f.detection_auc, c.detection_auc),
        ("detection score 1 − 2|AUC − 0.5|", f.detection_score, c.detection_score),
        ("fidelity score", f.score, c.score),
        ("rule validity", f.rule_validity, c.rule_validity),
    ]
    if f.missingness_patterns is not None and c.missingness_patterns is not None:
        rows.append(
            ("missingness patterns (1 − TVD)", f.missingness_patterns, c.missingness_patterns)
        )
    body = "".join(f"<tr><td>{_e(n)}</td><td>{a:.3f}</td><td>{b:.3f}</td></tr>" for n, a, b in rows)
    return (
        "<table><tr><th>measure</th><th>artificial</th><th>real holdout (ceiling)</th></tr>"
        f"{body}</table>"
    )


def _column_table(result: Evaluation, real: Cohort) -> str:
    ceiling = result.ceiling.column_shapes
    body = "".join(
        f"<tr><td>{_e(real.schema.columns[name].display_name(name))}</td>"
        f"<td>{score:.3f}</td><td>{ceiling.get(name, float('nan')):.3f}</td></tr>"
        for name, score in result.fidelity.column_shapes.items()
    )
    return (
        "<table><tr><th>variable</th><th>shape score, artificial</th><th>real holdout</th></tr>"
        f"{body}</table>"
    )


def _attack_table(result: Evaluation) -> str:
    if result.attacks is None:
        return "<p class='na'>The anonymeter attacks were not run.</p>"
    rows = []
    for r in result.attacks.results:
        if r.risk is None:
            rows.append(
                f"<tr><td>{_e(r.attack)}</td><td>{_e(r.detail)}</td>"
                f"<td colspan='4' class='na'>{_e(r.error)}</td></tr>"
            )
            continue
        control = "—" if r.control_rate is None else f"{r.control_rate:.3f}"
        rows.append(
            f"<tr><td>{_e(r.attack.replace('_', ' '))}</td><td>{_e(r.detail)}</td>"
            f"<td>{r.risk:.3f} [{r.risk_low:.3f}, {r.risk_high:.3f}]</td>"
            f"<td>{_risk(r.ceiling_risk, r.ceiling_low, r.ceiling_high)}</td>"
            f"<td>{r.attack_rate:.3f}</td><td>{control}</td><td>{r.baseline_rate:.3f}</td></tr>"
        )
    settings = result.attacks.settings
    return (
        "<table><tr><th>attack</th><th>what</th><th>risk [95% CI]</th><th>real sample "
        "(ceiling)</th><th>success on training</th><th>on holdout (control)</th>"
        "<th>random guess</th></tr>" + "".join(rows) + "</table>"
        f"<p class='muted'>anonymeter: {settings['n_attacks']} attacks each, on "
        f"{settings.get('n_patients_per_set', '?')} training, artificial and control patients "
        "each (seeded subsamples of equal size: unequal sets alone read as risk, and the release "
        "size must not count as one); "
        f"quasi-identifiers: {_e(', '.join(settings['quasi_identifiers']) or 'none recognised')} "
        "(set them with --quasi-identifiers). The risk is the attacker's success on training "
        "patients beyond their success on unseen (holdout) patients; the ceiling is the same "
        f"attack with {settings.get('n_ceiling_real_sample', 0)} real holdout patients in place "
        "of the artificial cohort, at the same sizes. Threshold 0.09: the re-identification "
        "risk accepted for clinical data under EMA Policy 0070.</p>"
    )


def _risk(value: float | None, low: float | None, high: float | None) -> str:
    if value is None or low is None or high is None:
        return "<span class='na'>—</span>"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _membership_table(result: Evaluation) -> str:
    if result.membership is None:
        return "<p class='na'>The membership-inference attacks were not run.</p>"
    rows = "".join(
        f"<tr><td>{_e(r.attack)}</td><td>{_risk(r.auc, r.auc_low, r.auc_high)}</td>"
        f"<td>{_risk(r.ceiling_auc, r.ceiling_low, r.ceiling_high)}</td>"
        f"<td>{r.n_members} / {r.n_non_members}</td></tr>"
        for r in result.membership
    )
    return (
        "<p>Membership inference: an attacker holding the artificial cohort scores real patients "
        "and guesses who was in the training set. <em>domias</em>: the artificial cohort's "
        "density over a real reference density (van Breugel et al., AISTATS 2023); "
        "<em>distance</em>: closeness to the nearest artificial patient. ROC AUC 0.5 means no "
        "better than a coin; the ceiling is the same attack with real holdout patients in "
        "place of the artificial cohort.</p>"
        "<table><tr><th>attack</th><th>ROC AUC [95% CI]</th><th>real sample (ceiling)</th>"
        f"<th>members / non-members scored</th></tr>{rows}</table>"
    )


def _utility_tables(result: Evaluation) -> str:
    utility = result.utility
    if utility is None:
        return "<p class='na'>" + _e(" ".join(result.notes) or "Not measured.") + "</p>"
    task = utility.task
    what = f"{task.kind}: {task.target}" + (f" (time: {task.time})" if task.time else "")
    header = "".join(
        f"<th>{_e(m)} · {_e(model)}</th>" for m in task.metrics for model in task.models
    )
    rows = [
        ("TRTR: trained on real train", utility.trtr),
        ("TSTR: trained on artificial", utility.tstr),
    ]
    rows += [(f"real + {k}× artificial", s) for k, s in sorted(utility.augmentation.items()) if k]
    body = ""
    for label, scores in rows:
        if scores.error:
            span = len(task.metrics) * len(task.models)
            cells = f"<td colspan='{span}' class='na'>{_e(scores.error)}</td>"
        else:
            cells = "".join(
                f"<td>{scores.scores.get(m, {}).get(model, float('nan')):.3f}</td>"
                for m in task.metrics
                for model in task.models
            )
        body += f"<tr><td>{_e(label)}</td><td>{scores.n_train}</td>{cells}</tr>"
    return (
        f"<p>Outcome — {_e(what)}; every model is scored on the real holdout.</p>"
        f"<table><tr><th>training data</th><th>patients</th>{header}</tr>{body}</table>"
    )


def render_html(result: Evaluation, real: Cohort, artificial: Cohort, meta: dict[str, Any]) -> str:
    """The whole report as one HTML string."""
    figures: list[tuple[str, Callable[[], bytes | None]]] = [
        ("Per-variable distributions", lambda: plots.distributions(real, artificial)),
        ("Correlation difference", lambda: plots.correlation_difference(real, artificial)),
        ("2-D projection", lambda: plots.projection(real, artificial, result.seed)),
        ("Distances to the closest training patient", lambda: plots.distance_histograms(result)),
        ("Augmentation curve", lambda: plots.augmentation_curve(result)),
    ]
    images = {title: _img(draw(), title) for title, draw in figures}
    title = meta.get("title") or "Validation report"
    filtered = result.similarity
    k = result.shared_profile_k
    notes = "".join(f"<li>{_e(n)}</li>" for n in result.notes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{_e(title)}</h1>
<p class="muted">{_e(result.n_artificial)} artificial patients against {_e(result.n_train)}
training and {_e(result.n_holdout)} holdout patients · seed {_e(result.seed)}
· generated {_e(meta.get("created", ""))} · jumeau {_e(meta.get("versions", {}).get("jumeau", ""))}
</p>

<h2>Summary</h2>
<p>Each line compares the artificial cohort with what an <em>independent real sample</em> — real
patients the generator never saw — reaches against the same training patients.</p>
<table><tr><th>topic</th><th>measured</th><th>threshold</th><th></th><th>meaning</th></tr>
{_verdict_rows(result.verdicts)}</table>
{f"<ul class='muted'>{notes}</ul>" if notes else ""}

<h2>Fidelity</h2>
<p>Fidelity score = (column shapes + pair trends + detection score) / 3, where detection score
= 1 − 2·|AUC − 0.5| and the AUC is that of a gradient-boosting classifier trying to tell artificial
from real training patients (5-fold). Each term is 1 for a cohort indistinguishable from the
training patients. An AUC clearly below 0.5 is not better than 0.5: it points to near-copies.</p>
{_fidelity_table(result)}
{images["Per-variable distributions"]}
{_column_table(result, real)}
{images["Correlation difference"]}
{images["2-D projection"]}

<h2>Privacy</h2>
<p>The privacy dossier, in English and French, for a data-protection officer:
<a href="privacy.html">privacy.html</a>.</p>
<p>{_e(privacy_sentence(meta.get("differential_privacy")))}</p>
<p>Distances are Gower distances (numbers by range, categories by mismatch). DCR share: the
fraction of artificial patients closer to a training patient than to any holdout patient (≈ 50 %
when the model learned the population; more means memorisation). Exact copies, identical to a
training patient whose profile fewer than {k} training patients hold: {result.exact_copies}.
Identical to a profile that {k} or more training patients share, which singles no one out:
{result.shared_profile_matches}; for comparison, {result.holdout_twin_share:.1%} of the real
holdout patients are identical to some training patient.</p>
<table><tr><th>measure</th><th>artificial</th><th>real holdout (ceiling)</th></tr>
<tr><td>DCR share (95 % interval)</td><td>{result.dcr_share:.3f}{_interval(result)}</td>
<td>{result.ceiling_dcr_share:.3f}</td></tr></table>
<p>Similarity filter: artificial patients closer to a training patient than the
{filtered.percentile:g}th percentile of the holdout patients' distances
(threshold {filtered.threshold:.4f}, dashed line) are removed, exact copies always, shared
profiles never.
{filtered.n_removed} of {filtered.n_input} removed ({filtered.pass_rate:.2%} passed).</p>
{images["Distances to the closest training patient"]}
{_membership_table(result)}
{_attack_table(result)}

<h2>Utility</h2>
{_utility_tables(result)}
{images["Augmentation curve"]}

<h2>Reproducibility</h2>
<pre>{_e(json.dumps(meta, indent=2, default=str))}</pre>
</body></html>
"""


def report_meta(
    *,
    seed: int,
    inputs: dict[str, str],
    title: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Seed, package versions and input hashes: what a reader needs to reproduce the report."""
    return {
        "title": title,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "versions": versions(),
        "inputs_sha256": inputs,
        **(extra or {}),
    }


def write_report(
    result: Evaluation,
    real: Cohort,
    artificial: Cohort,
    directory: str | Path,
    meta: dict[str, Any],
) -> tuple[Path, Path]:
    """Write report.html, report.json and privacy.html (the privacy dossier) into `directory`
    (atomically: no half-written file)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    payload = json_safe({"meta": meta, **result.to_dict()})
    text = json.dumps(payload, indent=2, default=_jsonable, allow_nan=False)
    json_path = write_text_atomically(folder / "report.json", text + "\n")
    html = render_html(result, real, artificial, meta)
    html_path = write_text_atomically(folder / "report.html", html)
    write_text_atomically(folder / "privacy.html", render_dossier(result, meta))
    return html_path, json_path


def json_safe(value: Any) -> Any:
    """Plain JSON values: numpy arrays and scalars as Python ones, NaN and infinities as null
    (strict JSON, readable by any tool)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _jsonable(value: object) -> object:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)
