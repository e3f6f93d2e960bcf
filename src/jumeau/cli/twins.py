"""Digital twins: calibrate a population model, simulate a patient's twin."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from jumeau.cli.app import app
from jumeau.cli.common import (
    guarded,
    out,
)

twin_app = typer.Typer(
    help="Digital twins: calibrate a PK model on a study, simulate a patient's twin.",
    no_args_is_help=True,
)
app.add_typer(twin_app, name="twin")


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

    guarded(run)


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

    guarded(run)


def _named_regimen(text: str, index: int) -> tuple[str, str]:
    name, sep, rest = text.partition("=")
    return (name.strip(), rest.strip()) if sep else (f"regimen {index + 1}", text.strip())
