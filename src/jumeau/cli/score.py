"""Prognostic scores: fit on (artificial) patients, validate on real ones, explain."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from jumeau.cli.app import app
from jumeau.cli.common import (
    SchemaOption,
    guarded,
    out,
)
from jumeau.data import Cohort, Schema, load_cohort
from jumeau.data.loading import write_text_atomically
from jumeau.errors import JumeauWarning
from jumeau.generators.provenance import provenance_matches
from jumeau.workflow import load_artificial

score_app = typer.Typer(
    help="Prognostic scores: fit on (artificial) patients, validate on real ones, explain.",
    no_args_is_help=True,
)
app.add_typer(score_app, name="score")


def _training_cohort(data: Path, schema: Path | None, artificial: bool | None) -> Cohort:
    """The score's training patients; artificial when said so, or when jumeau's provenance
    file lies beside them. An artificial cohort is read against the real data's schema without
    the identifier and excluded columns (which it never carries)."""
    if artificial is None:
        described = provenance_matches(data)
        if described is False:
            warnings.warn(
                f"{data}: the provenance file beside it describes another file (left by an "
                "interrupted write, or the CSV was edited since): ignored; pass --artificial if "
                "these patients are artificial",
                JumeauWarning,
                stacklevel=2,
            )
        artificial = bool(described)
    if artificial and schema is not None:
        return load_artificial(data, Schema.from_yaml(schema))
    cohort = load_cohort(data, schema)
    return Cohort(
        cohort.data,
        cohort.schema,
        source=cohort.source,
        sha256=cohort.sha256,
        artificial=artificial,
    )


@score_app.command(
    "fit",
    epilog="Example: [bold]jumeau score fit artificial.csv --schema schema.yaml --target cens "
    "--time time --select 10 -o score.jumeau[/]",
)
def score_fit(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file of (artificial) patients.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Score file to write.")],
    target: Annotated[
        str | None,
        typer.Option(help="Binary outcome, or event indicator with --time (default: schema)."),
    ] = None,
    time: Annotated[str | None, typer.Option(help="Follow-up time of a survival outcome.")] = None,
    horizon: Annotated[
        float | None, typer.Option(help="Survival: risk by this time (default: median event).")
    ] = None,
    select: Annotated[int, typer.Option(help="Variables to keep (0: all candidates).")] = 10,
    model: Annotated[str, typer.Option(help="boosting, or reference (logistic / Cox).")] = (
        "boosting"
    ),
    schema: SchemaOption = None,
    artificial: Annotated[
        bool | None,
        typer.Option(
            "--artificial/--real",
            help="Whether the patients are artificial (default: yes if jumeau's provenance "
            "file lies beside them).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the selection and the model.")] = 0,
) -> None:
    """Fit a prognostic score with variable selection inside cross-validation."""
    from jumeau.prognostic.score import PrognosticScore

    def run() -> None:
        cohort = _training_cohort(data, schema, artificial)
        score = PrognosticScore(
            model=model,  # type: ignore[arg-type]  # checked by fit
            n_variables=select or None,
            horizon=horizon,
        ).fit(cohort, target=target, time=time, seed=seed)
        score.save(str(output))
        kind = "artificial" if cohort.artificial else "real"
        out.print(
            f"fitted a {score.model_.kind} score of {score.task_.describe(score.schema_)} on "
            f"{len(cohort)} "
            f"{kind} patients -> {output}"
        )
        table = Table(title="chosen variables")
        for column in ("variable", "AUC drop (CV)", "selected in folds"):
            table.add_column(column)
        selection = score.selection_
        for variable in score.variables_:
            if selection is None:
                table.add_row(variable, "—", "—")
            else:
                table.add_row(
                    variable,
                    f"{selection.importance[variable]:.4f}",
                    f"{selection.stability[variable]:.0%}",
                )
        out.print(table)

    guarded(run)


@score_app.command(
    "validate",
    epilog="Example: [bold]jumeau score validate score.jumeau real_holdout.csv --real-train "
    "real_train.csv -o card/[/]",
)
def score_validate(
    score_file: Annotated[Path, typer.Argument(help="Score file from `jumeau score fit`.")],
    real: Annotated[Path, typer.Argument(help="Real patients with known outcomes.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for card.html/json.")],
    real_train: Annotated[
        Path | None,
        typer.Option(
            "--real-train",
            help="Other real patients: the same recipe is fitted on them and compared.",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="report.json of the artificial cohort, summarised in the card."),
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the CIs.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and explanations.")] = 0,
) -> None:
    """Validate a score on real patients and write its model card (HTML + JSON)."""
    import json

    from jumeau.prognostic.card import build_card
    from jumeau.prognostic.persistence import load_score
    from jumeau.report.html import report_meta
    from jumeau.report.model_card import write_card

    def run() -> None:
        score = load_score(score_file)
        cohort = load_cohort(real, score.schema_)
        comparison = None if real_train is None else load_cohort(real_train, score.schema_)
        summary = None
        if report is not None:
            summary = _report_summary(json.loads(report.read_text(encoding="utf-8")))
        card = build_card(
            score,
            cohort,
            real_training=comparison,
            bootstrap=bootstrap,
            seed=seed,
            generator_report=summary,
        )
        inputs = {"score": str(score.training_.get("sha256", "")), "real": cohort.sha256}
        if comparison is not None:
            inputs["real_train"] = comparison.sha256
        meta = report_meta(seed=seed, inputs=inputs)
        html_path, json_path = write_card(card, output, meta)
        table = Table(title=f"{score.task_.describe(score.schema_)} on {len(cohort)} real patients")
        table.add_column("metric")
        for side in card.sides:
            table.add_column(side.label)
        for name in card.sides[0].validation.metrics:
            table.add_row(name, *(str(side.validation.metrics[name]) for side in card.sides))
        out.print(table)
        if card.comparison:
            out.print(
                f"{card.comparison['metric']} artificial − real: "
                f"{card.comparison['difference']:+.3f}"
            )
        out.print(f"model card -> {html_path} and {json_path}")

    guarded(run)


def _report_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The lines of a validation report a model card repeats (no patient-level content)."""
    verdicts = [v for v in report.get("verdicts") or [] if isinstance(v, dict)]
    lines = [
        f"{v.get('topic')}: {v.get('value')} ({'passes' if v.get('ok') else 'below'})"
        for v in verdicts
    ]
    return {"summary": "; ".join(lines), "verdicts": verdicts}


@score_app.command(
    "explain",
    epilog="Example: [bold]jumeau score explain score.jumeau patients.csv -o explanations.csv[/]",
)
def score_explain(
    score_file: Annotated[Path, typer.Argument(help="Score file from `jumeau score fit`.")],
    patients: Annotated[Path, typer.Argument(help="Patients to explain (stays on your side).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV of SHAP values.")],
    background: Annotated[
        Path | None,
        typer.Option(help="Reference patients for SHAP (default: the patients themselves)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the explainer.")] = 0,
) -> None:
    """Per-patient risk and SHAP values (one column per variable; base + values = risk)."""
    from jumeau.prognostic.explain import shap_values
    from jumeau.prognostic.persistence import load_score

    def run() -> None:
        score = load_score(score_file)
        cohort = load_cohort(patients, score.schema_)
        reference = cohort if background is None else load_cohort(background, score.schema_)
        table = shap_values(score, cohort, reference, seed=seed)
        table.insert(0, "risk", score.predict_risk(cohort))
        write_text_atomically(output, table.to_csv(index=False))
        out.print(f"explained {len(cohort)} patients -> {output}")

    guarded(run)
