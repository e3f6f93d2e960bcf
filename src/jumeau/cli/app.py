"""The root `jumeau` command; the command modules attach their commands and groups to it."""

from __future__ import annotations

from typing import Annotated

import typer

import jumeau
from jumeau.cli.common import (
    out,
)

app = typer.Typer(
    name="jumeau",
    help="Artificial patients and digital twins for clinical research.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)


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
