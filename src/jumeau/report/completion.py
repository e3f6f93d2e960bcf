"""The completion report and files: the m completed CSVs, report.html and report.json.

The completed files are the user's own cohort with its holes filled (they hold real records by
nature and stay where the input was); the report holds aggregates only — missingness counts and
patterns, observed-vs-imputed summaries and histograms, the model's diagnostics, the seed and the
input's hash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from jumeau.completion.impute import Completion
from jumeau.completion.summary import imputed_vs_observed, missingness
from jumeau.data.cohort import Cohort
from jumeau.data.loading import write_text_atomically
from jumeau.report import plots
from jumeau.report.html import STYLE, _e, _img, json_safe


def completion_payload(incomplete: Cohort, completion: Completion) -> dict[str, Any]:
    columns = completion.generator.schema_.names
    return {
        "completion": completion.report.as_dict(),
        "missingness_before": missingness(incomplete, columns),
        "imputed_vs_observed": imputed_vs_observed(incomplete, completion.cohorts, columns),
    }


def write_completion(
    incomplete: Cohort,
    completion: Completion,
    directory: str | Path,
    meta: dict[str, Any],
    *,
    stem: str = "completed",
) -> dict[str, Path]:
    """Write `{stem}_1.csv` … `{stem}_m.csv`, report.json and report.html into `directory`."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    width = len(str(len(completion)))
    for copy, cohort in enumerate(completion.cohorts, start=1):
        files[f"copy {copy}"] = cohort.to_csv(folder / f"{stem}_{copy:0{width}d}.csv")
    payload = json_safe({"meta": meta, **completion_payload(incomplete, completion)})
    text = json.dumps(payload, indent=2, allow_nan=False)
    files["report.json"] = write_text_atomically(folder / "report.json", text + "\n")
    html = render_completion_html(incomplete, completion, payload)
    files["report.html"] = write_text_atomically(folder / "report.html", html)
    return files


def render_completion_html(
    incomplete: Cohort, completion: Completion, payload: dict[str, Any]
) -> str:
    report = completion.report
    before = payload["missingness_before"]
    columns = list(before["missing_by_column"])
    schema = incomplete.schema
    by_column = "".join(
        f"<tr><td>{_e(schema.columns[name].display_name(name))}</td><td>{count}</td>"
        f"<td>{count / max(before['rows'], 1):.1%}</td></tr>"
        for name, count in before["missing_by_column"].items()
    )
    patterns = "".join(
        f"<tr><td>{_e(', '.join(p['missing']) or '(complete)')}</td><td>{p['rows']}</td></tr>"
        for p in before["patterns"]
    )
    if before["other_patterns_rows"]:
        patterns += f"<tr><td>other patterns</td><td>{before['other_patterns_rows']}</td></tr>"
    figure = None
    if columns:
        imputed = _imputed_only(incomplete, completion, columns)
        figure = plots.distributions(
            incomplete, imputed, columns=columns, labels=("observed values", "imputed values")
        )
    numbers = "".join(
        f"<tr><td>{_e(schema.columns[name].display_name(name))}</td>"
        f"<td>{_fmt(s['observed']['mean'])} ({_fmt(s['observed']['sd'])})</td>"
        f"<td>{_fmt(s['imputed']['mean'])} ({_fmt(s['imputed']['sd'])})</td>"
        f"<td>{_fmt(s['observed']['q50'])}</td><td>{_fmt(s['imputed']['q50'])}</td></tr>"
        for name, s in payload["imputed_vs_observed"].items()
        if s["type"] == "number"
    )
    diagnostics = "".join(
        f"<tr><td>{_e(k.replace('_', ' '))}</td><td>{_fmt(v)}</td></tr>"
        for k, v in report.diagnostics.items()
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>jumeau completion report</title><style>{STYLE}</style></head><body>
<h1>Completion report</h1>
<p>{report.m} completed copies of a cohort of {report.rows} patients by the
<b>{_e(report.model)}</b> model (seed {report.seed}): {report.cells_completed} missing values in
{report.rows_completed} patients drawn from the model given each patient's observed values;
observed values unchanged. {report.redrawn} draws were repeated because an imputed value broke a
bound or rule; {report.unresolved} still did after every attempt.</p>
<h2>Missing values before</h2>
<table><tr><th>variable</th><th>missing</th><th>share</th></tr>{by_column}</table>
<h3>Patterns (which variables are missing together)</h3>
<table><tr><th>missing variables</th><th>patients</th></tr>{patterns}</table>
<h2>Imputed vs observed values</h2>
<p class="muted">Imputed values pooled over the {report.m} copies. Under missingness at random
they may differ from the observed ones (the patients with holes differ); a large gap with no
clinical reason is worth a look.</p>
<table><tr><th>variable</th><th>observed mean (sd)</th><th>imputed mean (sd)</th>
<th>observed median</th><th>imputed median</th></tr>{numbers}</table>
{_img(figure, "observed vs imputed distributions") if figure is not None else ""}
<h2>Model diagnostics</h2>
<table>{diagnostics}</table>
<h2>Reproducibility</h2>
<pre>{_e(json.dumps(payload["meta"], indent=2, default=str))}</pre>
</body></html>
"""


def _imputed_only(incomplete: Cohort, completion: Completion, columns: list[str]) -> Cohort:
    """A cohort of the imputed cells only (every other cell missing), copies stacked."""
    holes = incomplete.data.isna()
    parts = [cohort.data.where(holes) for cohort in completion.cohorts]
    stacked = pd.concat(parts, ignore_index=True)
    # typed already; most columns are all-missing on purpose (the constructor would refuse them)
    return Cohort.from_typed(stacked, incomplete.schema, source="imputed values")


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return _e(value)
