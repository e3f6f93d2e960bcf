"""What every command shares: the consoles, the error guard (one line per problem, never a
traceback), the options that recur, and small parsers of option text."""

from __future__ import annotations

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
from jumeau.data import Cohort
from jumeau.errors import JumeauError

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
def user_errors() -> Iterator[None]:
    """One line per problem, never a traceback, for everything the user can fix."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", jumeau.JumeauWarning)
        try:
            yield
        except JumeauError as exc:
            _print_warnings(caught)
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except OSError as exc:  # a full disk, a read-only or vanished folder: the user's to fix
            _print_warnings(caught)
            err.print(
                f"[bold red]error:[/] {file_system_error(exc)}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(code=2) from None
        _print_warnings(caught)


def file_system_error(exc: OSError) -> str:
    """One line for an error of the file system: what failed, on which file, what to do. The
    outputs are written in a staging folder and published together, so a failed write leaves
    the earlier outputs as they were."""
    where = f" ({users_path(str(exc.filename))})" if exc.filename else ""
    reason = exc.strerror or type(exc).__name__
    return (
        f"{reason}{where}. Outputs are written whole or not at all: free space, fix the "
        "folder's permissions or choose another output folder, and run it again"
    )


def users_path(name: str) -> str:
    """The path the user asked for, behind a hidden temporary one (`.m.jumeau.123.partial`,
    `out/.jumeau-partial-123-x/a.csv`): an error must name the file the user can act on."""
    from jumeau.data.publishing import PARTIAL_SUFFIX, STAGING_MARK

    path = Path(name)
    parts = [part for part in path.parts if not part.startswith(STAGING_MARK)]
    path = Path(*parts) if parts else path
    if path.name.startswith(".") and path.name.endswith(PARTIAL_SUFFIX):
        stem = path.name[1 : -len(PARTIAL_SUFFIX)].rsplit(".", 1)[0]  # drop the pid
        path = path.with_name(stem)
    return str(path)


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    for message in caught:
        if issubclass(message.category, jumeau.JumeauWarning):
            err.print(f"[yellow]warning:[/] {message.message}", highlight=False, soft_wrap=True)


def guarded(action: Callable[[], T]) -> T:
    with user_errors():
        return action()
    raise AssertionError("unreachable")  # pragma: no cover


SchemaOption = Annotated[
    Path | None, typer.Option("--schema", "-s", help="Schema YAML (default: inferred).")
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Hyper-parameter key=value (repeatable)."),
]
QuietOption = Annotated[bool, typer.Option("--quiet", help="No progress bar.")]
ShareableOption = Annotated[
    bool,
    typer.Option(
        "--shareable/--personal",
        help="Write a model file that holds no value of fewer than 10 training patients and no "
        "training code (its header says personal_data: false), or one that keeps them.",
    ),
]


EpsilonOption = Annotated[
    float | None,
    typer.Option(
        "--epsilon",
        help="Fit under (ε, δ)-differential privacy (copula, vae): an attacker's odds that any one "
        "patient took part move by at most a factor e^ε, whatever they know. Smaller is more "
        "private; 1 is strong, 10 weak.",
    ),
]
DeltaOption = Annotated[
    float | None,
    typer.Option("--delta", help="δ of --epsilon (default 1/n² for n training patients)."),
]


def generator_params(
    param: list[str] | None,
    shareable: bool,
    epsilon: float | None = None,
    delta: float | None = None,
) -> dict[str, Any]:
    """The generator's hyper-parameters: the -p key=value pairs, --shareable, --epsilon and
    --delta (set only when given, so that models without a DP fit take the others)."""
    if delta is not None and epsilon is None:
        raise JumeauError("--delta is the δ of a differentially private fit: give --epsilon too")
    privacy = {"epsilon": epsilon, "delta": delta}
    return (
        parse_params(param or [])
        | {"shareable": shareable}
        | {key: value for key, value in privacy.items() if value is not None}
    )


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


def parse_params(pairs: list[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise JumeauError(f"--param takes key=value (e.g. --param latent_dim=8), not {pair!r}")
        params[key.strip()] = yaml.safe_load(value)
    return params


def model_params(pairs: list[str]) -> dict[str, dict[str, object]]:
    """model.key=value pairs -> {model: {key: value}}."""
    params: dict[str, dict[str, object]] = {}
    for key, value in parse_params(pairs).items():
        model, dot, name = key.partition(".")
        if not dot or not name:
            raise JumeauError(f"--param {key}: write it as model.key=value, e.g. vae.epochs=100")
        params.setdefault(model, {})[name] = value
    return params


def split_names(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def numbers_list(text: str | None, kind: Callable[[str], T]) -> list[T] | None:
    if text is None:
        return None
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise JumeauError(f"cannot read {text!r} as a comma-separated list of numbers") from None


def cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def print_validation(cohort: Cohort, report: jumeau.data.ValidationReport) -> None:
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


def personal_data_notice(held: list[str]) -> str:
    """One line on whether a model file may be shared, for the CLI's output."""
    if not held:
        return "[green]the model file holds no personal data: it may be shared[/]"
    return (
        "[bold yellow]the model file holds personal data[/] ("
        + "; ".join(held)
        + "): keep it where the real data are kept; share the artificial cohort instead"
    )


def refuse_private_longitudinal(epsilon: float | None) -> None:
    """Longitudinal models have no DP fit yet: --epsilon with --longitudinal is refused."""
    if epsilon is not None:
        raise JumeauError(
            "--epsilon is not available with --longitudinal yet: the course models have no "
            "differentially private fit"
        )


def warn_inferred_schema_under_dp(epsilon: float | None, schema: Path | None) -> None:
    """DP treats the schema as public; an inferred one is read off the patients."""
    if epsilon is not None and schema is None:
        warnings.warn(
            "the schema was inferred from the data: its category levels are the patients' own "
            "and not covered by --epsilon; write it from the data dictionary (jumeau schema "
            "infer, then edit) and pass it with --schema",
            jumeau.JumeauWarning,
            stacklevel=2,
        )
