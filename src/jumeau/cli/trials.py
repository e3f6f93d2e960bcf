"""In-silico trials: simulate a design many times; analyse a trial."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from jumeau.cli.app import app
from jumeau.cli.common import (
    cell,
    guarded,
    numbers_list,
    out,
)
from jumeau.data import load_cohort
from jumeau.errors import JumeauError

trial_app = typer.Typer(
    help="In-silico trials: simulate a design on artificial patients or twins; analyse a trial.",
    no_args_is_help=True,
)
app.add_typer(trial_app, name="trial")


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
            sample_sizes=numbers_list(sample_sizes, int),
            effects=numbers_list(effects, float),
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
            table.add_row(*(cell(row.get(c)) for c in columns))
        out.print(table)
        written = ", ".join(record["files"].values())
        out.print(f"-> {output}/ ({written}, trial-simulation.json)")

    guarded(run)


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
            shown.add_row(*(cell(row[c]) for c in columns))
        out.print(shown)

    guarded(run)
