"""Validate artificial patients: the whole run, a report on any artificial cohort, the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from jumeau import workflow
from jumeau.cli.app import app
from jumeau.cli.common import (
    DecimalOption,
    DeltaOption,
    EncodingOption,
    EpsilonOption,
    EventOption,
    FollowupOption,
    IdOption,
    LongitudinalOption,
    ParamOption,
    SchemaOption,
    SepOption,
    ShareableOption,
    TimeOption,
    VaryingOption,
    err,
    generator_params,
    guarded,
    out,
    parse_params,
    personal_data_notice,
    print_validation,
    refuse_private_longitudinal,
    split_names,
    warn_inferred_schema_under_dp,
)
from jumeau.data import load_cohort
from jumeau.data.datasets import load_dataset
from jumeau.data.loading import read_table, write_text_atomically
from jumeau.evaluation.attacks import AttackSettings
from jumeau.evaluation.evaluate import Evaluation, EvaluationSettings
from jumeau.evaluation.privacy import SHARED_PROFILE_K
from jumeau.evaluation.similarity import DEFAULT_PERCENTILE
from jumeau.evaluation.utility import SMALL_COHORT_SIZES
from jumeau.generators import available_generators
from jumeau.workflow import SHAREABLE_BY_DEFAULT, load_artificial


def say(text: str) -> None:
    """A step of a long run, dimmed on stderr so that stdout keeps the results."""
    err.print(f"[dim]… {text}[/]")


def _settings(
    seed: int,
    target: str | None,
    attacks: bool,
    quasi_identifiers: str | None,
    secrets: str | None,
    filter_percentile: float,
    shared_profile_k: int = SHARED_PROFILE_K,
    small_cohorts: bool = True,
) -> EvaluationSettings:
    return EvaluationSettings(
        seed=seed,
        small_cohort_sizes=SMALL_COHORT_SIZES if small_cohorts else (),
        target=target,
        run_attacks=attacks,
        attacks=AttackSettings(
            quasi_identifiers=split_names(quasi_identifiers),
            secrets=split_names(secrets),
            seed=seed,
        ),
        filter_percentile=filter_percentile,
        shared_profile_k=shared_profile_k,
    )


TargetOption = Annotated[
    str | None,
    typer.Option("--target", help="Outcome column for utility (default: the schema's target)."),
]
AttacksOption = Annotated[
    bool, typer.Option("--attacks/--no-attacks", help="Run anonymeter's three attacks.")
]
QuasiOption = Annotated[
    str | None,
    typer.Option(
        "--quasi-identifiers", help="Comma-separated columns an attacker knows (default: by name)."
    ),
]
SecretsOption = Annotated[
    str | None,
    typer.Option("--secrets", help="Comma-separated columns the inference attack guesses."),
]
PercentileOption = Annotated[
    float,
    typer.Option(
        "--filter-percentile",
        help="Similarity filter: percentile of holdout → train distances below which an "
        "artificial patient is removed.",
    ),
]
SmallCohortsOption = Annotated[
    bool,
    typer.Option(
        "--small-cohorts/--no-small-cohorts",
        help="Refit the generator on 50 and 100 patients for the small-cohort augmentation "
        "study (the slowest part of the report).",
    ),
]
PrivacySplitsOption = Annotated[
    int | None,
    typer.Option(
        "--privacy-splits",
        min=1,
        help="Refit on this many seeded splits and pool their privacy evidence (default: "
        f"{workflow.PRIVACY_SPLITS} under {workflow.SMALL_PRIVACY_COHORT} patients, else 1).",
    ),
]
SharedProfileOption = Annotated[
    int,
    typer.Option(
        "--shared-profile-k",
        min=2,
        help="An artificial patient identical to a profile this many training patients share "
        "is no copy: kept by the filter, not counted as an exact copy (5 or 11 for the "
        "small-cell rules of health statistics).",
    ),
]


def _print_run(evaluation: Evaluation, files: dict[str, Path]) -> None:
    table = Table(title="Validation summary (ceiling: an independent real sample)")
    for column in ("topic", "measured", "threshold", ""):
        table.add_column(column)
    marks = {True: "[green]✓[/]", False: "[red]✗[/]", None: "—"}
    for verdict in evaluation.verdicts:
        table.add_row(verdict.topic, verdict.value, verdict.threshold, marks[verdict.ok])
    out.print(table)
    for name, path in files.items():
        out.print(f"{name}: {path}")


@app.command(
    "run",
    epilog="Example: [bold]jumeau run patients.csv --model rhvae -n 5000 --target outcome "
    "-o outdir/[/]",
)
def run_command(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file of real patients.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for every output.")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help=f"One of {', '.join(available_generators())} (default rhvae; with "
            "--longitudinal, the model of the baseline columns, default copula).",
        ),
    ] = None,
    n: Annotated[
        int | None,
        typer.Option(
            "-n", help="Artificial patients to write (default 5000; longitudinal: as trained on)."
        ),
    ] = None,
    schema: SchemaOption = None,
    target: TargetOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the whole run.")] = 0,
    param: ParamOption = None,
    shareable: ShareableOption = SHAREABLE_BY_DEFAULT,
    epsilon: EpsilonOption = None,
    delta: DeltaOption = None,
    use_filter: Annotated[
        bool | None,
        typer.Option(
            "--filter/--no-filter",
            help="Apply the similarity filter (default: on; off under --epsilon, whose guarantee "
            "a filter that compares with real patients would void).",
        ),
    ] = None,
    filter_percentile: PercentileOption = DEFAULT_PERCENTILE,
    shared_profile_k: SharedProfileOption = SHARED_PROFILE_K,
    attacks: AttacksOption = True,
    quasi_identifiers: QuasiOption = None,
    secrets: SecretsOption = None,
    small_cohorts: SmallCohortsOption = True,
    privacy_splits: PrivacySplitsOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress output.")] = False,
    longitudinal: LongitudinalOption = False,
    id_column: IdOption = None,
    time_column: TimeOption = None,
    followup: FollowupOption = None,
    event: EventOption = None,
    varying: VaryingOption = None,
    sep: SepOption = None,
    decimal: DecimalOption = None,
    encoding: EncodingOption = None,
) -> None:
    """Split, fit, sample, filter, evaluate and write the validation report, in one go."""

    def go() -> None:
        if longitudinal:
            refuse_private_longitudinal(epsilon)
            _run_longitudinal(
                data, output, schema=schema, id_column=id_column, time_column=time_column,
                varying=varying, followup=followup, event=event, model=model or "copula", n=n,
                seed=seed, params=parse_params(param or []), use_filter=use_filter is not False,
                percentile=filter_percentile, quiet=quiet,
            )  # fmt: skip
            return
        warn_inferred_schema_under_dp(epsilon, schema)
        cohort = load_cohort(data, schema, sep=sep, decimal=decimal, encoding=encoding)
        result = workflow.run(
            cohort,
            output,
            model=model or "rhvae",
            n=5000 if n is None else n,
            seed=seed,
            target=target,
            params=generator_params(param, shareable, epsilon, delta),
            settings=_settings(
                seed,
                target,
                attacks,
                quasi_identifiers,
                secrets,
                filter_percentile,
                shared_profile_k,
                small_cohorts,
            ),
            use_filter=use_filter,
            privacy_splits=privacy_splits,
            progress=not quiet,
            say=None if quiet else say,
        )
        _print_run(result.evaluation, result.files)
        out.print(personal_data_notice(result.model_personal_data))

    guarded(go)


def _run_longitudinal(
    data: Path,
    output: Path,
    *,
    schema: Path | None,
    id_column: str | None,
    time_column: str | None,
    varying: str | None,
    followup: str | None,
    event: str | None,
    model: str,
    n: int | None,
    seed: int,
    params: dict[str, object],
    use_filter: bool,
    percentile: float,
    quiet: bool,
) -> None:
    from jumeau.data.longitudinal import load_longitudinal
    from jumeau.workflow_longitudinal import run_longitudinal

    cohort = load_longitudinal(
        data, id=id_column, time=time_column, schema=schema, varying=split_names(varying),
        followup=followup, event=event,
    )  # fmt: skip
    result = run_longitudinal(
        cohort, output, static_model=model, n=n, seed=seed, params=params,
        use_filter=use_filter, percentile=percentile, progress=not quiet,
        say=None if quiet else say,
    )  # fmt: skip
    _print_longitudinal(result.evaluation)
    out.print(f"similarity filter removed {result.removed} course(s)")
    for name, path in result.files.items():
        out.print(f"{name}: {path}")


def _print_longitudinal(evaluation: Any) -> None:
    table = Table(title="Longitudinal validation (ceiling: an independent real sample)")
    summary = evaluation.summary_table()
    table.add_column("measure")
    for label in summary.index:
        table.add_column(str(label))
    for measure in summary.columns:
        values = summary[measure]
        table.add_row(measure, *(v if isinstance(v, str) else f"{v:.3f}" for v in values))
    out.print(table)


def _report_longitudinal(
    real: Path,
    holdout: Path,
    artificial: Path,
    output: Path,
    *,
    schema: Path | None,
    seed: int,
    layout: tuple[str | None, str | None, str | None, str | None, str | None],
) -> None:
    from jumeau.data.longitudinal import load_longitudinal
    from jumeau.workflow_longitudinal import report_longitudinal

    id_column, time_column, followup, event, varying = layout
    train = load_longitudinal(
        real, id=id_column, time=time_column, schema=schema, varying=split_names(varying),
        followup=followup, event=event,
    )  # fmt: skip
    sources = {"real": str(real), "holdout": str(holdout), "artificial": str(artificial)}
    evaluation, html_path, json_path = report_longitudinal(
        train, read_table(holdout).frame, read_table(artificial).frame, output, seed=seed,
        sources=sources,
    )  # fmt: skip
    _print_longitudinal(evaluation)
    out.print(f"report: {html_path}\nreport_json: {json_path}")


@app.command(
    "report",
    epilog="Example: [bold]jumeau report --real train.csv --holdout holdout.csv "
    "--artificial artificial.csv -o report/[/]",
)
def report_command(
    real: Annotated[Path, typer.Option("--real", help="Real patients the generator saw.")],
    holdout: Annotated[Path, typer.Option("--holdout", help="Real patients it never saw.")],
    artificial: Annotated[Path, typer.Option("--artificial", help="Artificial patients.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the report.")],
    schema: SchemaOption = None,
    target: TargetOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the evaluation.")] = 0,
    filter_percentile: PercentileOption = DEFAULT_PERCENTILE,
    shared_profile_k: SharedProfileOption = SHARED_PROFILE_K,
    attacks: AttacksOption = True,
    quasi_identifiers: QuasiOption = None,
    secrets: SecretsOption = None,
    longitudinal: LongitudinalOption = False,
    id_column: IdOption = None,
    time_column: TimeOption = None,
    followup: FollowupOption = None,
    event: EventOption = None,
    varying: VaryingOption = None,
) -> None:
    """Evaluate any artificial cohort, including one made by another tool."""

    def go() -> None:
        if longitudinal:
            _report_longitudinal(
                real, holdout, artificial, output, schema=schema, seed=seed,
                layout=(id_column, time_column, followup, event, varying),
            )  # fmt: skip
            return
        train = load_cohort(real, schema)
        held = load_cohort(holdout, train.schema)
        made = load_artificial(artificial, train.schema)
        settings = _settings(
            seed, target, attacks, quasi_identifiers, secrets, filter_percentile, shared_profile_k
        )
        evaluation, html_path, json_path = workflow.report_only(
            train, held, made, output, settings=settings, say=say
        )
        _print_run(evaluation, {"report": html_path, "report_json": json_path})

    guarded(go)


@app.command("demo", epilog="Example: [bold]jumeau demo --output demo-output[/]")
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the outputs.")] = Path(
        "demo-output"
    ),
    dataset: Annotated[str, typer.Option(help="Bundled dataset to run on.")] = "gbsg2",
    model: Annotated[str, typer.Option(help="Generator to fit.")] = "rhvae",
    n: Annotated[int, typer.Option("-n", help="Artificial patients to write.")] = 5000,
    seed: Annotated[int, typer.Option(help="Seed of the whole run.")] = 0,
) -> None:
    """`jumeau run` on a bundled real dataset: writes it with its data dictionary, validates it,
    then splits, fits, samples, filters, evaluates and writes the validation report."""

    def go() -> None:
        output.mkdir(parents=True, exist_ok=True)
        cohort = load_dataset(dataset)
        data_path = cohort.to_csv(output / f"{dataset}.csv")
        schema_path = output / f"{dataset}.schema.yaml"
        write_text_atomically(schema_path, cohort.schema.to_yaml())
        checked = load_cohort(data_path, schema_path)
        out.print(f"[bold]loaded and validated[/] {checked} ({schema_path}):")
        print_validation(checked, checked.validate())
        out.print(
            f"[bold]running[/] jumeau run {data_path} --schema {schema_path} --model {model} "
            f"-n {n} --seed {seed} -o {output}"
        )
        result = workflow.run(
            checked,
            output,
            model=model,
            n=n,
            seed=seed,
            say=say,
        )
        _print_run(result.evaluation, result.files)
        out.print(personal_data_notice(result.model_personal_data))
        out.print(f"[bold]validation report:[/] {result.files['report'].resolve()}")

    guarded(go)
