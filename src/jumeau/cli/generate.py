"""Fit a generator, draw artificial patients, complete missing values."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
    QuietOption,
    SchemaOption,
    SepOption,
    ShareableOption,
    TimeOption,
    VaryingOption,
    generator_params,
    guarded,
    out,
    parse_params,
    personal_data_notice,
    refuse_private_longitudinal,
    split_names,
    warn_inferred_schema_under_dp,
)
from jumeau.data import load_cohort
from jumeau.data.publishing import staged_folder
from jumeau.errors import JumeauError
from jumeau.generators import available_generators, load_generator, make_generator
from jumeau.generators.provenance import provenance_path, write_provenance


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
    schema: SchemaOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the training run.")] = 0,
    param: ParamOption = None,
    shareable: ShareableOption = False,
    epsilon: EpsilonOption = None,
    delta: DeltaOption = None,
    quiet: QuietOption = False,
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

            refuse_private_longitudinal(epsilon)

            fitted = fit_longitudinal_file(
                data, output, id=id_column, time=time_column, schema=schema,
                varying=split_names(varying), followup=followup, event=event,
                static_model=model or "copula", params=parse_params(param or []), seed=seed,
                progress=not quiet,
            )  # fmt: skip
            out.print(fitted)
            return
        warn_inferred_schema_under_dp(epsilon, schema)
        cohort = load_cohort(data, schema, sep=sep, decimal=decimal, encoding=encoding)
        params = generator_params(param, shareable, epsilon, delta)
        generator = make_generator(model or "rhvae", **params)
        generator.fit(cohort, seed=seed, progress=not quiet)
        generator.save(output)
        out.print(
            f"fitted {generator!r} on {len(cohort)} patients "
            f"({len(generator.schema.names)} modelled columns) -> {output}"
        )
        out.print(personal_data_notice(generator.personal_data_held()))

    guarded(run)


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
        # the cohort and its provenance are published together (an earlier pair replaced whole)
        with staged_folder(output.parent, replaces=(provenance_path(output).name,)) as staging:
            staged = cohort.to_csv(staging / output.name)
            write_provenance(staged, generator, model_file=model_file)
        record = provenance_path(output)
        report = generator.last_sampling_
        out.print(
            f"wrote {len(cohort)} artificial patients to {output} "
            f"(rejected {report.rejection_rate:.1%} of draws by bounds/rules"
            f"{' and --where' if where else ''}); provenance: {record}"
        )

    guarded(run)


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
    schema: SchemaOption = None,
    model_file: Annotated[
        Path | None,
        typer.Option("--model-file", help="Use this fitted model instead of fitting one."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the fit and of the draws.")] = 0,
    param: ParamOption = None,
    max_attempts: Annotated[
        int, typer.Option(help="Redraws of a value that breaks a bound or rule.")
    ] = 20,
    quiet: QuietOption = False,
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
        params = parse_params(param or [])
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

    guarded(go)
