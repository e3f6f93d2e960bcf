"""Commands on real data before any model: the bundled datasets, schemas, validation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from jumeau.cli.app import app
from jumeau.cli.common import (
    DecimalOption,
    EncodingOption,
    SchemaOption,
    SepOption,
    guarded,
    out,
    print_validation,
)
from jumeau.data import Schema, load_cohort
from jumeau.data.datasets import dataset_schema, list_datasets, load_dataset
from jumeau.data.loading import read_table, write_text_atomically

schema_app = typer.Typer(
    help="Infer or check a data dictionary (schema YAML).",
    no_args_is_help=True,
)
app.add_typer(schema_app, name="schema")


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

    guarded(export)


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
    propose_rules: Annotated[
        bool,
        typer.Option(
            "--propose-rules",
            help="Also propose order rules that no row breaks (a <= b; follow-up ending by a "
            "closing date), to review: they catch data-entry errors in new data, but generators "
            "enforce rules by redrawing patients, which bends the margins.",
        ),
    ] = False,
) -> None:
    """Guess a data dictionary (kinds, roles, categories, bounds, derived columns) and say why
    for each column."""

    def infer() -> None:
        table = read_table(data, sep=sep, decimal=decimal, encoding=encoding)
        schema = Schema.infer(table.frame, name=data.stem, propose_rules=propose_rules)
        view = Table(title=f"Inferred schema for {data} ({len(table.frame)} rows)")
        for column in ("column", "kind", "role", "why"):
            view.add_column(column)
        for name, entry in schema.columns.items():
            view.add_row(name, entry.kind.value, entry.role.value, entry.why or "")
        out.print(view)
        for rule in schema.rules:
            out.print(f"proposed rule: {rule.expr} ({rule.description})", highlight=False)
        if output is not None:
            write_text_atomically(output, schema.to_yaml())
            out.print(f"wrote {output}: edit it (units, labels, bounds, rules), then validate")
        else:
            out.print(schema.to_yaml(), highlight=False)

    guarded(infer)


@schema_app.command("check", epilog="Example: [bold]jumeau schema check schema.yaml[/]")
def schema_check(schema: Annotated[Path, typer.Argument(help="Schema YAML file.")]) -> None:
    """Check a hand-edited schema file on its own (kinds, bounds, rules)."""
    loaded = guarded(lambda: Schema.from_yaml(schema))
    out.print(
        f"{schema}: {len(loaded.columns)} columns ({len(loaded.modelled_columns)} modelled), "
        f"{len(loaded.rules)} rules — OK"
    )


@app.command(
    "validate", epilog="Example: [bold]jumeau validate patients.csv --schema schema.yaml[/]"
)
def validate(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file.")],
    schema: SchemaOption = None,
    sep: SepOption = None,
    decimal: DecimalOption = None,
    encoding: EncodingOption = None,
) -> None:
    """Check data against its schema: types, categories, hard bounds and clinical rules.

    Exits 1 when some rows break a bound or rule, 2 when the file or schema cannot be used.
    """
    cohort = guarded(lambda: load_cohort(data, schema, sep=sep, decimal=decimal, encoding=encoding))
    report = guarded(cohort.validate)  # a rule that cannot be evaluated on this data: one line
    print_validation(cohort, report)
    if not report.ok:
        raise typer.Exit(code=1)
