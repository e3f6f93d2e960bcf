"""The `jumeau` command line: parses, calls the Python API, prints. No logic of its own.

Exit codes: 0 success, 1 the data break some rule (validate), 2 an error the user can fix.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml
from rich.console import Console
from rich.table import Table

import jumeau
from jumeau import workflow
from jumeau.data import Cohort, Schema, load_cohort
from jumeau.data.datasets import dataset_schema, list_datasets, load_dataset
from jumeau.data.loading import read_table, write_text_atomically
from jumeau.errors import JumeauError
from jumeau.evaluation.attacks import AttackSettings
from jumeau.evaluation.evaluate import Evaluation, EvaluationSettings
from jumeau.evaluation.similarity import DEFAULT_PERCENTILE
from jumeau.generators import available_generators, load_generator, make_generator
from jumeau.generators.provenance import write_provenance
from jumeau.workflow import load_artificial

app = typer.Typer(
    name="jumeau",
    help="Artificial patients and digital twins for clinical research.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
schema_app = typer.Typer(
    help="Infer or check a data dictionary (schema YAML).", no_args_is_help=True
)
app.add_typer(schema_app, name="schema")
score_app = typer.Typer(
    help="Prognostic scores: fit on (artificial) patients, validate on real ones, explain.",
    no_args_is_help=True,
)
app.add_typer(score_app, name="score")
review_app = typer.Typer(
    help="Blinded clinician review: can experts tell real patients from artificial ones?",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")
twin_app = typer.Typer(
    help="Digital twins: calibrate a PK model on a study, simulate a patient's twin.",
    no_args_is_help=True,
)
app.add_typer(twin_app, name="twin")
images_app = typer.Typer(
    help="Medical images: per-class VAE/RHVAE, artificial images, augmentation evaluation.",
    no_args_is_help=True,
)
app.add_typer(images_app, name="images")
trial_app = typer.Typer(
    help="In-silico trials: simulate a design on artificial patients or twins; analyse a trial.",
    no_args_is_help=True,
)
app.add_typer(trial_app, name="trial")
federated_app = typer.Typer(
    help="Federated training: one generator learned across hospitals; no record leaves a site.",
    no_args_is_help=True,
)
app.add_typer(federated_app, name="federated")

out = Console()
err = Console(stderr=True)

T = TypeVar("T")

SepOption = Annotated[
    str | None, typer.Option("--sep", help="CSV separator (default: detected; e.g. ';').")
]
DecimalOption = Annotated[
    str | None, typer.Option("--decimal", help="Decimal mark, '.' or ',' (default: detected).")
]
EncodingOption = Annotated[
    str | None,
    typer.Option("--encoding", help="File encoding (default: UTF-8, else cp1252/latin-1)."),
]


@contextmanager
def _user_errors() -> Iterator[None]:
    """One line per problem, never a traceback, for everything the user can fix."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", jumeau.JumeauWarning)
        try:
            yield
        except JumeauError as exc:
            _print_warnings(caught)
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        _print_warnings(caught)


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    for message in caught:
        if issubclass(message.category, jumeau.JumeauWarning):
            err.print(f"[yellow]warning:[/] {message.message}", highlight=False, soft_wrap=True)


def _run(action: Callable[[], T]) -> T:
    with _user_errors():
        return action()
    raise AssertionError("unreachable")  # pragma: no cover


def _version(value: bool) -> None:
    if value:
        out.print(f"jumeau {jumeau.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Artificial patients and digital twins for clinical research."""


@app.command(
    "datasets",
    epilog="Examples: [bold]jumeau datasets[/]  |  "
    "[bold]jumeau datasets gbsg2 -o gbsg2.csv --schema-out gbsg2.yaml[/]",
)
def datasets_command(
    name: Annotated[str | None, typer.Argument(help="A dataset to export.")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the dataset as CSV here.")
    ] = None,
    schema_out: Annotated[
        Path | None, typer.Option("--schema-out", help="Write its data dictionary (YAML) here.")
    ] = None,
) -> None:
    """List the bundled real clinical datasets, or export one as CSV with its schema."""
    if name is None:
        table = Table(title="Bundled real datasets (no download needed)")
        for column in ("name", "rows", "package", "target", "what"):
            table.add_column(column)
        for info in list_datasets():
            table.add_row(info.name, str(info.rows), info.package, info.target, info.summary)
        out.print(table)
        return

    def export() -> None:
        cohort = load_dataset(name)
        if output is None and schema_out is None:
            out.print(cohort)
            out.print(cohort.data.describe(include="all").T.to_string())
        if output is not None:
            cohort.to_csv(output)
            out.print(f"wrote {len(cohort)} rows to {output}")
        if schema_out is not None:
            dataset_schema(name).to_yaml(schema_out)
            out.print(f"wrote its schema to {schema_out}")

    _run(export)


@schema_app.command(
    "infer", epilog="Example: [bold]jumeau schema infer patients.csv -o schema.yaml[/]"
)
def schema_infer(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the YAML here.")
    ] = None,
    sep: SepOption = None,
    decimal: DecimalOption = None,
    encoding: EncodingOption = None,
) -> None:
    """Guess a data dictionary (kinds, roles, categories, bounds) and say why for each column."""

    def infer() -> None:
        table = read_table(data, sep=sep, decimal=decimal, encoding=encoding)
        schema = Schema.infer(table.frame, name=data.stem)
        view = Table(title=f"Inferred schema for {data} ({len(table.frame)} rows)")
        for column in ("column", "kind", "role", "why"):
            view.add_column(column)
        for name, entry in schema.columns.items():
            view.add_row(name, entry.kind.value, entry.role.value, entry.why or "")
        out.print(view)
        if output is not None:
            write_text_atomically(output, schema.to_yaml())
            out.print(f"wrote {output}: edit it (units, labels, bounds, rules), then validate")
        else:
            out.print(schema.to_yaml(), highlight=False)

    _run(infer)


@schema_app.command("check", epilog="Example: [bold]jumeau schema check schema.yaml[/]")
def schema_check(schema: Annotated[Path, typer.Argument(help="Schema YAML file.")]) -> None:
    """Check a hand-edited schema file on its own (kinds, bounds, rules)."""
    loaded = _run(lambda: Schema.from_yaml(schema))
    out.print(
        f"{schema}: {len(loaded.columns)} columns ({len(loaded.modelled_columns)} modelled), "
        f"{len(loaded.rules)} rules — OK"
    )


@app.command(
    "validate", epilog="Example: [bold]jumeau validate patients.csv --schema schema.yaml[/]"
)
def validate(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file.")],
    schema: Annotated[
        Path | None, typer.Option("--schema", "-s", help="Schema YAML (default: inferred).")
    ] = None,
    sep: SepOption = None,
    decimal: DecimalOption = None,
    encoding: EncodingOption = None,
) -> None:
    """Check data against its schema: types, categories, hard bounds and clinical rules.

    Exits 1 when some rows break a bound or rule, 2 when the file or schema cannot be used.
    """
    cohort = _run(lambda: load_cohort(data, schema, sep=sep, decimal=decimal, encoding=encoding))
    report = cohort.validate()
    _print_validation(cohort, report)
    if not report.ok:
        raise typer.Exit(code=1)


def _parse_params(pairs: list[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise JumeauError(f"--param takes key=value (e.g. --param latent_dim=8), not {pair!r}")
        params[key.strip()] = yaml.safe_load(value)
    return params


LongitudinalOption = Annotated[
    bool, typer.Option("--longitudinal", help="One row per visit: model whole courses.")
]
IdOption = Annotated[str | None, typer.Option("--id", help="Longitudinal: the patient column.")]
TimeOption = Annotated[
    str | None, typer.Option("--time", help="Longitudinal: the visit-time column.")
]
FollowupOption = Annotated[
    str | None, typer.Option("--followup", help="Longitudinal: end-of-follow-up column.")
]
EventOption = Annotated[
    str | None, typer.Option("--event", help="Longitudinal: terminal-event column (0/1).")
]
VaryingOption = Annotated[
    str | None,
    typer.Option(
        "--varying",
        help="Longitudinal: comma-separated measured columns (default: those that change "
        "within a patient).",
    ),
]


def _model_params(pairs: list[str]) -> dict[str, dict[str, object]]:
    """model.key=value pairs -> {model: {key: value}}."""
    params: dict[str, dict[str, object]] = {}
    for key, value in _parse_params(pairs).items():
        model, dot, name = key.partition(".")
        if not dot or not name:
            raise JumeauError(f"--param {key}: write it as model.key=value, e.g. vae.epochs=100")
        params.setdefault(model, {})[name] = value
    return params


def _names(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


@app.command(
    "fit",
    epilog="Examples: [bold]jumeau fit patients.csv --model rhvae --schema schema.yaml "
    "-o model.jumeau[/]; [bold]jumeau fit visits.csv --longitudinal --id patient --time day "
    "-o course.jumeau[/]",
)
def fit(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file of real patients.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write.")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help=f"One of {', '.join(available_generators())} (default rhvae; with "
            "--longitudinal, the model of the baseline columns, default copula).",
        ),
    ] = None,
    schema: Annotated[
        Path | None, typer.Option("--schema", "-s", help="Schema YAML (default: inferred).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the training run.")] = 0,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Hyper-parameter key=value (repeatable)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
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
    """Fit a generator on a real cohort and save it (safetensors + JSON; never pickle)."""

    def run() -> None:
        if longitudinal:
            from jumeau.longitudinal.workflow import fit_longitudinal_file

            fitted = fit_longitudinal_file(
                data, output, id=id_column, time=time_column, schema=schema,
                varying=_names(varying), followup=followup, event=event,
                static_model=model or "copula", params=_parse_params(param or []), seed=seed,
                progress=not quiet,
            )  # fmt: skip
            out.print(fitted)
            return
        cohort = load_cohort(data, schema, sep=sep, decimal=decimal, encoding=encoding)
        generator = make_generator(model or "rhvae", **_parse_params(param or []))
        generator.fit(cohort, seed=seed, progress=not quiet)
        generator.save(output)
        out.print(
            f"fitted {generator!r} on {len(cohort)} patients "
            f"({len(generator.schema.names)} modelled columns) -> {output}"
        )

    _run(run)


@app.command(
    "sample",
    epilog="Example: [bold]jumeau sample model.jumeau -n 5000 --where 'age > 70' "
    "-o artificial.csv[/]",
)
def sample(
    model_file: Annotated[Path, typer.Argument(help="Model file written by `jumeau fit`.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV of artificial patients.")],
    n: Annotated[int, typer.Option("-n", help="Number of artificial patients.")] = 1000,
    where: Annotated[
        str | None, typer.Option("--where", help="Condition, e.g. 'age > 70 and sex == \"F\"'.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sampling run.")] = 0,
) -> None:
    """Draw artificial patients that satisfy every bound and rule (and --where, if given).

    A longitudinal model writes one row per visit. Writes the CSV and, beside it, a
    .provenance.json with the seed, versions and hashes.
    """

    def run() -> None:
        from jumeau.longitudinal.workflow import is_longitudinal_model, sample_longitudinal_file

        if is_longitudinal_model(model_file):
            out.print(sample_longitudinal_file(model_file, output, n=n, seed=seed, where=where))
            return
        generator = load_generator(model_file)
        cohort = generator.sample(n, seed=seed, where=where)
        cohort.to_csv(output)
        record = write_provenance(output, generator, model_file=model_file)
        report = generator.last_sampling_
        out.print(
            f"wrote {len(cohort)} artificial patients to {output} "
            f"(rejected {report.rejection_rate:.1%} of draws by bounds/rules"
            f"{' and --where' if where else ''}); provenance: {record}"
        )

    _run(run)


def _settings(
    seed: int,
    target: str | None,
    attacks: bool,
    quasi_identifiers: str | None,
    secrets: str | None,
    filter_percentile: float,
) -> EvaluationSettings:
    def names(text: str | None) -> list[str] | None:
        return [t.strip() for t in text.split(",") if t.strip()] if text else None

    return EvaluationSettings(
        seed=seed,
        target=target,
        run_attacks=attacks,
        attacks=AttackSettings(
            quasi_identifiers=names(quasi_identifiers), secrets=names(secrets), seed=seed
        ),
        filter_percentile=filter_percentile,
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
    "complete",
    epilog="Example: [bold]jumeau complete registry.csv --model rhvae -m 5 --schema schema.yaml "
    "-o completed/[/]",
)
def complete_command(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file with missing values.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Folder for the m files and the report.")
    ],
    model: Annotated[
        str, typer.Option("--model", help=f"One of {', '.join(available_generators())}.")
    ] = "rhvae",
    copies: Annotated[int, typer.Option("-m", "--copies", help="Completed copies (m).")] = 5,
    schema: Annotated[
        Path | None, typer.Option("--schema", "-s", help="Schema YAML (default: inferred).")
    ] = None,
    model_file: Annotated[
        Path | None,
        typer.Option("--model-file", help="Use this fitted model instead of fitting one."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the fit and of the draws.")] = 0,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Hyper-parameter key=value (repeatable)."),
    ] = None,
    max_attempts: Annotated[
        int, typer.Option(help="Redraws of a value that breaks a bound or rule.")
    ] = 20,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    sep: SepOption = None,
    decimal: DecimalOption = None,
    encoding: EncodingOption = None,
) -> None:
    """Fill missing values m times (multiple imputation) and write a short report.

    The model learns from every patient, incomplete ones included; observed values are never
    changed. Pool an analysis over the copies with jumeau.completion.pool (Rubin's rules).
    """

    def go() -> None:
        from jumeau.completion import complete
        from jumeau.report.completion import write_completion
        from jumeau.report.html import report_meta

        cohort = load_cohort(data, schema, sep=sep, decimal=decimal, encoding=encoding)
        params = _parse_params(param or [])
        if model_file is not None and params:
            raise JumeauError("--param applies to a model fitted here, not to --model-file")
        chosen = load_generator(model_file) if model_file is not None else model
        result = complete(
            cohort,
            copies,
            model=chosen,
            seed=seed,
            max_attempts=max_attempts,
            progress=not quiet,
            **params,
        )
        meta = report_meta(
            seed=seed,
            inputs={"data": cohort.sha256},
            title=f"completion of {data.name}",
            extra={"model": result.generator.name, "m": copies},
        )
        files = write_completion(cohort, result, output, meta, stem=data.stem)
        report = result.report
        out.print(
            f"completed {report.cells_completed} missing values in {report.rows_completed} of "
            f"{report.rows} patients, {copies} times, with {result.generator.name} -> {output}"
        )
        for name, path in files.items():
            out.print(f"  {name}: {path}")

    _run(go)


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
    schema: Annotated[
        Path | None, typer.Option("--schema", "-s", help="Schema YAML (default: inferred).")
    ] = None,
    target: TargetOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the whole run.")] = 0,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Hyper-parameter key=value (repeatable)."),
    ] = None,
    use_filter: Annotated[
        bool, typer.Option("--filter/--no-filter", help="Apply the similarity filter.")
    ] = True,
    filter_percentile: PercentileOption = DEFAULT_PERCENTILE,
    attacks: AttacksOption = True,
    quasi_identifiers: QuasiOption = None,
    secrets: SecretsOption = None,
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
            _run_longitudinal(
                data, output, schema=schema, id_column=id_column, time_column=time_column,
                varying=varying, followup=followup, event=event, model=model or "copula", n=n,
                seed=seed, params=_parse_params(param or []), use_filter=use_filter,
                percentile=filter_percentile, quiet=quiet,
            )  # fmt: skip
            return
        cohort = load_cohort(data, schema, sep=sep, decimal=decimal, encoding=encoding)
        result = workflow.run(
            cohort,
            output,
            model=model or "rhvae",
            n=5000 if n is None else n,
            seed=seed,
            target=target,
            params=_parse_params(param or []),
            settings=_settings(
                seed, target, attacks, quasi_identifiers, secrets, filter_percentile
            ),
            use_filter=use_filter,
            progress=not quiet,
            say=None if quiet else (lambda text: err.print(f"[dim]… {text}[/]")),
        )
        _print_run(result.evaluation, result.files)

    _run(go)


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
        data, id=id_column, time=time_column, schema=schema, varying=_names(varying),
        followup=followup, event=event,
    )  # fmt: skip
    result = run_longitudinal(
        cohort, output, static_model=model, n=n, seed=seed, params=params,
        use_filter=use_filter, percentile=percentile, progress=not quiet,
        say=None if quiet else (lambda text: err.print(f"[dim]… {text}[/]")),
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
        real, id=id_column, time=time_column, schema=schema, varying=_names(varying),
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
    schema: Annotated[
        Path | None, typer.Option("--schema", "-s", help="Schema YAML (default: inferred).")
    ] = None,
    target: TargetOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the evaluation.")] = 0,
    filter_percentile: PercentileOption = DEFAULT_PERCENTILE,
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
        settings = _settings(seed, target, attacks, quasi_identifiers, secrets, filter_percentile)
        evaluation, html_path, json_path = workflow.report_only(
            train, held, made, output, settings=settings, say=lambda t: err.print(f"[dim]… {t}[/]")
        )
        _print_run(evaluation, {"report": html_path, "report_json": json_path})

    _run(go)


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
        _print_validation(checked, checked.validate())
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
            say=lambda text: err.print(f"[dim]… {text}[/]"),
        )
        _print_run(result.evaluation, result.files)
        out.print(f"[bold]validation report:[/] {result.files['report'].resolve()}")

    _run(go)


# ---------------------------------------------------------------------- prognostic scores
def _training_cohort(data: Path, schema: Path | None, artificial: bool | None) -> Cohort:
    """The score's training patients; artificial when said so, or when jumeau's provenance
    file lies beside them. An artificial cohort is read against the real data's schema without
    the identifier and excluded columns (which it never carries)."""
    if artificial is None:
        artificial = data.with_name(data.name + ".provenance.json").is_file()
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
    schema: Annotated[
        Path | None, typer.Option("--schema", "-s", help="Schema YAML (default: inferred).")
    ] = None,
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

    _run(run)


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

    _run(run)


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

    _run(run)


# ---------------------------------------------------------------------- blinded review
@review_app.command(
    "create",
    epilog="Example: [bold]jumeau review create --real holdout.csv --artificial artificial.csv "
    "--schema schema.yaml --records 100 --reviewers alice,bob,carol -o study.db[/]",
)
def review_create(
    real: Annotated[Path, typer.Option(help="Real patients (the holdout, never the training).")],
    artificial: Annotated[Path, typer.Option(help="Artificial patients.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Study database (SQLite).")],
    reviewers: Annotated[str, typer.Option(help="Comma-separated reviewer names.")],
    schema: Annotated[
        Path | None, typer.Option("--schema", "-s", help="Schema YAML (default: inferred).")
    ] = None,
    records: Annotated[int, typer.Option(help="Records each reviewer sees.")] = 100,
    real_share: Annotated[float, typer.Option(help="Share of real records.")] = 0.5,
    seed: Annotated[int, typer.Option(help="Seed of the draw and the orders.")] = 0,
    name: Annotated[str, typer.Option(help="Study name shown to the owner.")] = "review study",
    base_url: Annotated[
        str, typer.Option(help="Address reviewers will open.")
    ] = "http://127.0.0.1:8000",
    allow_changes: Annotated[
        bool, typer.Option(help="Let reviewers change a submitted vote.")
    ] = False,
) -> None:
    """Draw a seeded, stratified, shuffled record set and print one personal link per reviewer."""
    from jumeau.review.study import create_study

    def run() -> None:
        if output.exists():
            raise JumeauError(f"{output} exists; choose a new file for a new study")
        real_cohort = load_cohort(real, schema)
        artificial_cohort = load_artificial(artificial, real_cohort.schema)
        made = create_study(
            real_cohort,
            artificial_cohort,
            output,
            reviewers=reviewers.split(","),
            records=records,
            real_share=real_share,
            seed=seed,
            name=name,
            allow_changes=allow_changes,
        )
        out.print(f"study of {made.records} records -> {output}")
        out.print("personal links (send each privately; a link is a password):")
        for reviewer, link in made.links(base_url).items():
            out.print(f"  {reviewer}: {link}", soft_wrap=True)
        out.print(f"owner (results): {made.admin_link(base_url)}", soft_wrap=True)

    _run(run)


@review_app.command("serve", epilog="Example: [bold]jumeau review serve study.db --port 8000[/]")
def review_serve(
    database: Annotated[str, typer.Argument(help="Study database: SQLite file or SQLAlchemy URL.")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    secure_cookies: Annotated[
        bool, typer.Option(help="Mark cookies Secure (behind HTTPS).")
    ] = False,
) -> None:
    """Serve the review app (no access log: login links are credentials)."""
    import uvicorn

    from jumeau.review.app import create_app

    application = _run(lambda: create_app(database, secure_cookies=secure_cookies))
    uvicorn.run(application, host=host, port=port, access_log=False, log_level="warning")


@review_app.command(
    "results", epilog="Example: [bold]jumeau review results study.db -o results.json[/]"
)
def review_results(
    database: Annotated[str, typer.Argument(help="Study database: SQLite file or SQLAlchemy URL.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="results.json or .html")],
) -> None:
    """Accuracy per reviewer with exact binomial tests, Fleiss' kappa, cited variables, remarks."""
    import json

    from jumeau.report.html import json_safe
    from jumeau.review.results import study_results
    from jumeau.review.store import StudyStore

    def run() -> None:
        results = study_results(StudyStore(database))
        if output.suffix.lower() == ".html":
            from jumeau.review.app import render_results_html

            write_text_atomically(output, render_results_html(results))
        else:
            text = json.dumps(json_safe(results), indent=2, allow_nan=False)
            write_text_atomically(output, text + "\n")
        table = Table(title=f"{results['records']} records, {results['votes']} votes")
        for column in ("reviewer", "votes", "accuracy [95 % CI]", "p vs 50 %"):
            table.add_column(column)
        for row in results["reviewers"]:
            if not row["votes"]:
                table.add_row(row["reviewer"], "0", "—", "—")
                continue
            table.add_row(
                row["reviewer"],
                str(row["votes"]),
                f"{row['accuracy']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]",
                f"{row['p_value']:.3g}",
            )
        out.print(table)
        out.print(f"-> {output}")

    _run(run)


def _print_validation(cohort: Cohort, report: jumeau.data.ValidationReport) -> None:
    out.print(
        f"{cohort.source}: {len(cohort)} rows, {len(cohort.schema.columns)} columns, "
        f"{len(cohort.schema.rules)} rules"
    )
    if report.ok:
        out.print(f"[green]OK[/]: {report}")
        return
    table = Table(
        title=f"{len(report.violations)} check(s) violated; {report.share_valid:.1%} rows valid"
    )
    for column in ("check", "what", "rows", "example rows (0-based)"):
        table.add_column(column)
    for v in report.violations:
        table.add_row(v.check, v.detail, str(v.n_rows), ", ".join(map(str, v.example_rows)))
    out.print(table)


# ------------------------------------------------------------------ images
ImageSource = Annotated[str, typer.Argument(help="Folder of images, or a bundled dataset name.")]
ImageLabels = Annotated[
    Path | None, typer.Option("--labels", help="CSV with columns id, label (folders).")
]


@images_app.command(
    "fit",
    epilog="Examples: [bold]jumeau images fit breastmnist --model rhvae -o m.jumeau[/]  |  "
    "[bold]jumeau images fit scans/ --labels labels.csv -o m.jumeau[/]",
)
def images_fit(
    source: ImageSource,
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write.")],
    labels: ImageLabels = None,
    model: Annotated[str, typer.Option("--model", "-m", help="vae or rhvae.")] = "rhvae",
    seed: Annotated[int, typer.Option(help="Seed of the training run.")] = 0,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Hyper-parameter key=value (repeatable)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Fit one image model per class (safetensors + JSON; never pickle)."""

    def run() -> None:
        from jumeau.images.workflow import fit_images_file

        out.print(
            fit_images_file(source, output, labels=labels, model=model,
                            params=_parse_params(param or []), seed=seed, progress=not quiet)
        )  # fmt: skip

    _run(run)


@images_app.command(
    "sample",
    epilog="Example: [bold]jumeau images sample m.jumeau -n 500 --label malignant -o out/[/]",
)
def images_sample(
    model_file: Annotated[Path, typer.Argument(help="Model file of `jumeau images fit`.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the images.")],
    label: Annotated[str, typer.Option("--label", help="Class of the images to draw.")],
    n: Annotated[int, typer.Option("-n", help="Number of images.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the sampling run.")] = 0,
    sampler: Annotated[
        str | None, typer.Option("--sampler", help="rhvae: geometry (default) or prior.")
    ] = None,
    real: Annotated[
        str | None,
        typer.Option(
            "--real",
            help="Training images (folder or dataset name): apply the "
            "memorisation filter before writing.",
        ),
    ] = None,
    labels: Annotated[
        Path | None, typer.Option("--labels", help="Labels CSV of the --real folder.")
    ] = None,
) -> None:
    """Draw artificial images of one class: PNG files (2D) or a .npy array (3D)."""

    def run() -> None:
        from jumeau.images.workflow import sample_images_file

        out.print(
            sample_images_file(model_file, output, n=n, label=label, seed=seed, sampler=sampler,
                               real=real, labels=labels)
        )  # fmt: skip

    _run(run)


@images_app.command(
    "evaluate",
    epilog="Example: [bold]jumeau images evaluate breastmnist --models vae,rhvae --seeds 5 "
    "-o report/[/]",
)
def images_evaluate(
    source: ImageSource,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the report.")],
    labels: ImageLabels = None,
    models: Annotated[str, typer.Option("--models", help="Comma-separated: vae, rhvae.")] = (
        "vae,rhvae"
    ),
    ks: Annotated[str, typer.Option("--ks", help="Artificial images per real one.")] = "1,2,5,10",
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds (generators refitted each).")] = 5,
    small: Annotated[
        int, typer.Option("--small", help="Small-data regime: real images per class (0: skip).")
    ] = 50,
    max_epochs: Annotated[int, typer.Option("--max-epochs", help="CNN epochs at most.")] = 60,
    show_real: Annotated[
        bool, typer.Option("--show-real", help="Also draw real images (patient data).")
    ] = False,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="Generator hyper-parameter model.key=value, e.g. rhvae.epochs=200 (repeatable).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Does augmentation help? The same CNN on real, real + k x artificial, artificial only and
    classic augmentation; balanced accuracy and ROC AUC on the real test split."""

    def run() -> None:
        from jumeau.images.workflow import evaluate_images_file

        html, json_path, table = evaluate_images_file(
            source, output, labels=labels, models=_names(models) or [],
            ks=[int(k) for k in _names(ks) or []], seeds=seeds, small_per_class=small or None,
            max_epochs=max_epochs, show_real=show_real, progress=not quiet,
            params=_model_params(param or []),
        )  # fmt: skip
        out.print(table)
        out.print(f"report: {html}\nreport_json: {json_path}")

    _run(run)


# ------------------------------------------------------------------ twins
@twin_app.command(
    "fit",
    epilog="Example: [bold]jumeau twin fit theoph.csv --model pk1_oral -o fit.jumeau[/]",
)
def twin_fit(
    data: Annotated[Path, typer.Argument(help="Long-format CSV: ID, TIME, DV, AMT, EVID...")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Fit file to write.")],
    model: Annotated[
        str,
        typer.Option(
            help="PK: pk1_iv, pk1_oral, pk2_iv, pk2_oral; PD (K-PD): emax_kpd, idr1_kpd..idr4_kpd; "
            "tumour: tgi_claret, tgi_gompertz, tgi_stein; progression: dp_linear, dp_logistic."
        ),
    ] = "pk1_oral",
    method: Annotated[str, typer.Option(help="nuts (exact) or svi (fast, approximate).")] = (
        "nuts"
    ),
    error: Annotated[str, typer.Option(help="additive, proportional or combined.")] = "combined",
    weight: Annotated[
        str | None, typer.Option(help="Covariate with body weight, for allometric scaling.")
    ] = None,
    clearance_exponent: Annotated[
        float, typer.Option(help="Allometric exponent of weight on clearances (1: per kg).")
    ] = 0.75,
    chains: Annotated[int, typer.Option(help="NUTS chains.")] = 2,
    warmup: Annotated[int, typer.Option(help="NUTS warm-up iterations per chain.")] = 500,
    samples: Annotated[int, typer.Option(help="Posterior draws per chain.")] = 500,
    steps: Annotated[int, typer.Option(help="SVI optimisation steps.")] = 3000,
    seed: Annotated[int, typer.Option(help="Seed of the sampler.")] = 0,
    parallel: Annotated[
        bool, typer.Option(help="Run the NUTS chains in parallel processes (one per core).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Calibrate a population model (Bayesian mixed effects) and save the posterior."""

    def run() -> None:
        from jumeau.twins import PKData, make_model
        from jumeau.twins.calibrate import fit_population

        study = PKData.from_csv(str(data), needs_dose=make_model(model).needs_dose)
        fit = fit_population(
            study,
            model,
            method=method,
            error=error,
            weight=weight,
            clearance_exponent=clearance_exponent,
            chains=chains,
            warmup=warmup,
            samples=samples,
            steps=steps,
            seed=seed,
            progress=not quiet,
            parallel=parallel,
        )
        fit.save(output)
        out.print(
            f"fitted {model} ({method}) on {len(study)} subjects, {study.n_observations} "
            f"observations in {fit.seconds:.0f} s -> {output}"
        )
        table = Table(title="population estimates (median, 90 % credible interval)")
        for column in ("parameter", "median", "5 %", "95 %"):
            table.add_column(column)
        for row in fit.summary():
            table.add_row(
                row["parameter"], f"{row['median']:.4g}", f"{row['q05']:.4g}", f"{row['q95']:.4g}"
            )
        out.print(table)
        shown = {k: v for k, v in fit.diagnostics.items() if k != "method"}
        out.print(f"diagnostics ({fit.diagnostics['method']}): {shown}", highlight=False)

    _run(run)


@twin_app.command(
    "simulate",
    epilog="Example: [bold]jumeau twin simulate fit.jumeau --patient 3 --regimen "
    "'320 mg q12h x6' -o twin3.csv[/]",
)
def twin_simulate(
    fit_file: Annotated[Path, typer.Argument(help="Fit file written by `jumeau twin fit`.")],
    patient: Annotated[str, typer.Option(help="Subject ID in the study.")],
    regimen: Annotated[
        list[str],
        typer.Option(
            help="Regimen ('320 mg q12h x6', '500 mg iv over 1h q8h x9'); repeat to compare, "
            "optionally named: 'usual=320 mg q12h x6'."
        ),
    ],
    metric: Annotated[
        str, typer.Option(help="trough, peak, auc, final or change (relative to the first dose).")
    ] = "trough",
    above: Annotated[float | None, typer.Option(help="Probability that the metric is above.")] = (
        None
    ),
    below: Annotated[float | None, typer.Option(help="Probability that the metric is below.")] = (
        None
    ),
    at: Annotated[
        float | None, typer.Option(help="Time (hours) at which 'final' or 'change' is read.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="CSV of the first regimen's bands.")
    ] = None,
) -> None:
    """Simulate a patient's twin under one or more regimens, with posterior bands."""

    def run() -> None:
        from jumeau.twins.persistence import load_fit

        fit = load_fit(fit_file)
        twin = fit.twin(patient)
        named = dict(_named_regimen(text, i) for i, text in enumerate(regimen))
        first = next(iter(named.values()))
        bands = twin.simulate(first).frame()
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            bands.to_csv(output, index=False)
            out.print(f"bands of {first} -> {output}")
        table = Table(
            title=f"patient {patient}: {metric} under each regimen ({twin.n_draws} draws)"
        )
        comparison = twin.compare(named, metric=metric, above=above, below=below, at=at)
        for column in comparison.columns:
            table.add_column(str(column))
        for record in comparison.itertuples(index=False):
            table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in record))
        out.print(table)

    _run(run)


def _named_regimen(text: str, index: int) -> tuple[str, str]:
    name, sep, rest = text.partition("=")
    return (name.strip(), rest.strip()) if sep else (f"regimen {index + 1}", text.strip())


# ------------------------------------------------------------------ trials
@trial_app.command(
    "simulate",
    epilog="Example: [bold]jumeau trial simulate design.yaml --population twins.jumeau "
    "--n-trials 1000 -o results/[/]",
)
def trial_simulate(
    design: Annotated[Path, typer.Argument(help="Trial design (YAML).")],
    population: Annotated[
        Path,
        typer.Option(
            help="Twin fit (jumeau twin fit), generator model (jumeau fit) or CSV/Parquet of "
            "(artificial) patients."
        ),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the results.")],
    n_trials: Annotated[int, typer.Option(help="Simulated trials per scenario.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the simulation.")] = 0,
    covariates: Annotated[
        Path | None,
        typer.Option(help="Twin populations: covariates as a table or a generator model."),
    ] = None,
    population_size: Annotated[
        int, typer.Option(help="Artificial patients drawn from a generator model.")
    ] = 10_000,
    sample_sizes: Annotated[
        str | None, typer.Option(help="Sweep these sample sizes, e.g. '100,200,400'.")
    ] = None,
    effects: Annotated[
        str | None, typer.Option(help="Sweep these effects (shift, risk difference or HR).")
    ] = None,
    engine: Annotated[str, typer.Option(help="Sweeps: ray (default) or serial.")] = "ray",
    address: Annotated[
        str | None, typer.Option(help="Address of a Ray cluster (default: a local runtime).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Power, type-I error, bias and coverage of each analysis over many simulated trials."""

    def run() -> None:
        from jumeau.trials.workflow import simulate_to_folder

        record = simulate_to_folder(
            design,
            population,
            output,
            n_trials=n_trials,
            seed=seed,
            covariates=covariates,
            population_size=population_size,
            sample_sizes=_numbers_list(sample_sizes, int),
            effects=_numbers_list(effects, float),
            engine=engine,
            address=address,
            progress=not quiet,
        )
        table = Table(title=f"{n_trials} simulated trials per scenario")
        columns = ["scenario", "analysis", "rejection_rate", "bias", "mean_se", "coverage"]
        rows = record["summary"]
        if rows and "sample_size" in rows[0]:
            columns = ["sample_size", "effect", *columns]
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(_cell(row.get(c)) for c in columns))
        out.print(table)
        written = ", ".join(record["files"].values())
        out.print(f"-> {output}/ ({written}, trial-simulation.json)")

    _run(run)


@trial_app.command(
    "analyse",
    epilog="Example: [bold]jumeau trial analyse trial.csv --arm arm --control placebo "
    "--outcome change --covariate age --prognostic-column twin_prediction[/]",
)
def trial_analyse(
    data: Annotated[Path, typer.Argument(help="One row per randomised patient (CSV/Parquet).")],
    arm: Annotated[str, typer.Option(help="Column with each patient's arm.")],
    control: Annotated[str, typer.Option(help="The control arm's label.")],
    outcome: Annotated[str, typer.Option(help="Outcome column (time, for a time to event).")],
    covariate: Annotated[
        list[str] | None, typer.Option(help="Baseline covariate for ANCOVA (repeat).")
    ] = None,
    event: Annotated[str | None, typer.Option(help="Event column: a time-to-event analysis.")] = (
        None
    ),
    prognostic_model: Annotated[
        Path | None,
        typer.Option(help="A prognostic score (jumeau score fit) trained on historical patients."),
    ] = None,
    prognostic_column: Annotated[
        str | None, typer.Option(help="A column already holding each patient's prediction.")
    ] = None,
    alpha: Annotated[float, typer.Option(help="Two-sided significance level.")] = 0.05,
) -> None:
    """Unadjusted, ANCOVA and prognostic-covariate-adjusted (PROCOVA) effect estimates."""

    def run() -> None:
        from jumeau.trials.analysis import as_numbers
        from jumeau.trials.workflow import analyse_table

        cohort = load_cohort(data)
        frame = cohort.data
        prognostic = None
        if prognostic_model is not None and prognostic_column is not None:
            raise JumeauError("give --prognostic-model or --prognostic-column, not both")
        if prognostic_model is not None:
            from jumeau.prognostic.persistence import load_score

            prognostic = load_score(prognostic_model).predict_risk(frame)
        elif prognostic_column is not None:
            if prognostic_column not in frame.columns:
                raise JumeauError(f"the trial data have no column {prognostic_column!r}")
            prognostic = as_numbers(frame[prognostic_column])
        table = analyse_table(
            frame,
            arm=arm,
            control=control,
            outcome=outcome,
            covariates=list(covariate or []),
            kind="time_to_event" if event else "continuous",
            event=event,
            prognostic=prognostic,
            alpha=alpha,
        )
        shown = Table(title=f"{'log hazard ratio' if event else 'difference'} vs {control}")
        columns = [
            "comparison",
            "analysis",
            "estimate",
            "se",
            "lower",
            "upper",
            "p_value",
            "se_reduction",
            "n_for_same_power",
        ]
        for column in columns:
            shown.add_column(column)
        for row in table.to_dict(orient="records"):
            shown.add_row(*(_cell(row[c]) for c in columns))
        out.print(shown)

    _run(run)


def _numbers_list(text: str | None, kind: Callable[[str], T]) -> list[T] | None:
    if text is None:
        return None
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise JumeauError(f"cannot read {text!r} as a comma-separated list of numbers") from None


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


FederatedModel = Annotated[
    str,
    typer.Option(
        "--model", "-m", help="copula (sufficient statistics), vae or rhvae (FedAdam by default)."
    ),
]
ArtificialOption = Annotated[
    int,
    typer.Option(
        "--artificial",
        help="rhvae: artificial patients each site draws from its own codes (filtered there), "
        "written to <output>.artificial.csv.",
    ),
]
RoundsOption = Annotated[
    int | None, typer.Option("--rounds", help="Training rounds at most (neural models; 150).")
]
StrategyOption = Annotated[
    str | None, typer.Option("--strategy", help="fedadam (default), fedavg or fedprox.")
]
LocalEpochsOption = Annotated[
    int | None, typer.Option("--local-epochs", help="Epochs each site trains per round (2).")
]
DpNoiseOption = Annotated[
    float | None,
    typer.Option("--dp-noise", help="vae: DP-SGD at every site with this noise multiplier."),
]
DpClipOption = Annotated[
    float | None, typer.Option("--dp-clip", help="DP-SGD per-patient gradient clip (1.0).")
]


def _federated_settings(
    rounds: int | None,
    strategy: str | None,
    local_epochs: int | None,
    dp_noise: float | None,
    dp_clip: float | None,
    **more: Any,
) -> dict[str, Any]:
    given = {
        "rounds": rounds,
        "strategy": strategy,
        "local_epochs": local_epochs,
        "dp_noise_multiplier": dp_noise,
        "dp_max_grad_norm": dp_clip,
    } | more
    return {k: v for k, v in given.items() if v is not None}


@federated_app.command(
    "simulate",
    epilog="Example: [bold]jumeau federated simulate --site a.csv --site b.csv --site c.csv "
    "--model vae --rounds 30 -o model.jumeau[/]",
)
def federated_simulate(
    site: Annotated[list[Path], typer.Option("--site", help="One CSV per site (repeatable).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write.")],
    model: FederatedModel = "copula",
    schema: Annotated[
        Path | None, typer.Option("--schema", "-s", help="Schema YAML (default: inferred).")
    ] = None,
    rounds: RoundsOption = None,
    strategy: StrategyOption = None,
    local_epochs: LocalEpochsOption = None,
    artificial: ArtificialOption = 0,
    dp_noise: DpNoiseOption = None,
    dp_clip: DpClipOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the training run.")] = 0,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Model hyper-parameter key=value (repeatable)."),
    ] = None,
) -> None:
    """Train across sites on one machine (Flower's simulation runtime): to try a consortium."""

    def run() -> None:
        from jumeau.federated.workflow import simulate_files

        out.print(
            str(simulate_files(site, output, model=model, schema=schema, seed=seed,
                           settings=_federated_settings(rounds, strategy, local_epochs,
                                                        dp_noise, dp_clip),
                           params=_parse_params(param or []), artificial=artificial))
        )  # fmt: skip

    _run(run)


@federated_app.command(
    "server",
    epilog="Example: [bold]jumeau federated server --schema schema.yaml --model vae --rounds 30 "
    "--min-sites 3 -o model.jumeau[/]",
)
def federated_server(
    schema: Annotated[Path, typer.Option("--schema", "-s", help="The consortium's schema YAML.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write.")],
    model: FederatedModel = "copula",
    min_sites: Annotated[int, typer.Option("--min-sites", help="Sites that must join.")] = 2,
    address: Annotated[
        str, typer.Option("--address", help="Address to listen on.")
    ] = "0.0.0.0:8080",
    rounds: RoundsOption = None,
    strategy: StrategyOption = None,
    local_epochs: LocalEpochsOption = None,
    artificial: ArtificialOption = 0,
    dp_noise: DpNoiseOption = None,
    dp_clip: DpClipOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the training run.")] = 0,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Model hyper-parameter key=value (repeatable)."),
    ] = None,
    certificates: Annotated[
        Path | None,
        typer.Option("--certificates", help="Folder with ca.crt, server.pem, server.key (TLS)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the sites to join.")
    ] = 600.0,
    authorized_sites: Annotated[
        Path | None,
        typer.Option(
            "--authorized-sites",
            help="File of `<site> ed25519 <public key>` lines (jumeau federated keygen): only "
            "these sites may join, each proving it holds its key.",
        ),
    ] = None,
) -> None:
    """Run a consortium's server: wait for the sites, train, write the model."""

    def run() -> None:
        from jumeau.federated.workflow import serve_file

        out.print(
            str(serve_file(schema, output, model=model, address=address, seed=seed,
                       settings=_federated_settings(rounds, strategy, local_epochs, dp_noise,
                                                    dp_clip, min_sites=min_sites),
                       params=_parse_params(param or []), certificates=certificates,
                       timeout=timeout, artificial=artificial,
                       authorised_sites=authorized_sites))
        )  # fmt: skip

    _run(run)


@federated_app.command(
    "client",
    epilog="Example: [bold]jumeau federated client --server hub.example.org:8080 "
    "--data local.csv --root-certificate ca.crt[/]",
)
def federated_client(
    server: Annotated[str, typer.Option("--server", help="HOST:PORT of the server.")],
    data: Annotated[Path, typer.Option("--data", help="This site's CSV or Parquet file.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Site name in the server's reports (file stem).")
    ] = None,
    root_certificate: Annotated[
        Path | None,
        typer.Option("--root-certificate", help="CA certificate: encrypt the connection (TLS)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of this site's random streams.")] = 0,
    key: Annotated[
        Path | None,
        typer.Option("--key", help="This site's private key (jumeau federated keygen)."),
    ] = None,
) -> None:
    """Take part in a consortium's training from this site; the records never leave it."""

    def run() -> None:
        from jumeau.federated.workflow import join_file

        if root_certificate is None:
            err.print("[yellow]warning:[/] no --root-certificate: the connection is not encrypted")
        out.print(
            join_file(data, server, name=name, root_certificate=root_certificate, seed=seed,
                      key=key)
        )  # fmt: skip

    _run(run)


@federated_app.command(
    "keygen",
    epilog="Example: [bold]jumeau federated keygen --name hospital-a --out keys/[/]",
)
def federated_keygen(
    name: Annotated[str, typer.Option("--name", help="The site's name in the consortium.")],
    out_folder: Annotated[
        Path, typer.Option("--out", help="Folder for the private key file.")
    ] = Path("."),
) -> None:
    """Make a site's key pair: the private key stays at the site, the printed line goes to the
    server's authorised-sites file."""

    def run() -> None:
        from jumeau.federated.workflow import make_site_key

        out.print(make_site_key(name, out_folder), highlight=False, soft_wrap=True)

    _run(run)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
