"""The blinded clinician review: create a study, serve the app, read the results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from jumeau.cli.app import app
from jumeau.cli.common import (
    SchemaOption,
    guarded,
    out,
)
from jumeau.data import load_cohort
from jumeau.data.loading import write_text_atomically
from jumeau.errors import JumeauError
from jumeau.workflow import load_artificial

review_app = typer.Typer(
    help="Blinded clinician review: can experts tell real patients from artificial ones?",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")


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
    schema: SchemaOption = None,
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

    guarded(run)


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

    application = guarded(lambda: create_app(database, secure_cookies=secure_cookies))
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

    guarded(run)
