"""A site checks its own data against the consortium's schema before any training.

Problems are reported by column name and count only — never a value, never a row number — so
that a site with a wrong unit, a missing column or an unknown category code fails early with a
message it can share with the server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from jumeau.data.cohort import Cohort
from jumeau.data.parsing import clean_text, parse_dates, parse_numbers
from jumeau.data.schema import CATEGORY_KINDS, ColumnKind, Schema, category_key
from jumeau.errors import JumeauError


@dataclass(frozen=True)
class SiteProblem:
    """One mismatch between a site's data and the schema."""

    column: str  # a column name, or a rule's expression
    problem: str  # what is wrong, in words (never a value)
    count: int  # how many rows (0 when the whole column is concerned)

    def __str__(self) -> str:
        rows = f" ({self.count} rows)" if self.count else ""
        return f"{self.column}: {self.problem}{rows}"


class SiteDataError(JumeauError):
    """A site's data do not match the schema (the message lists columns and counts only)."""


def check_site_data(
    frame: pd.DataFrame, schema: Schema, typed: Callable[[Schema], Cohort] | None = None
) -> list[SiteProblem]:
    """Every mismatch between a site's table and the schema, by column and count. Bounds and
    rules are checked on the table typed by `typed` (a site passes its own cached typing, which
    the next rounds reuse), once every column reads."""
    problems: list[SiteProblem] = []
    frame = frame.rename(columns=str)
    for name in schema.modelled_columns:
        column = schema.columns[name]
        if name not in frame.columns:
            problems.append(SiteProblem(name, "column missing", 0))
            continue
        series = clean_text(frame[name])
        if series.isna().all():
            problems.append(SiteProblem(name, "no values (all missing)", 0))
            continue
        bad = _unreadable(series, column.kind, column.categories, column.format)
        if bad:
            problems.append(SiteProblem(name, f"values that are not {_kind_words(column)}", bad))
    if problems:
        return problems
    cohort = typed(schema) if typed is not None else Cohort(frame, schema)
    for violation in cohort.validate().violations:
        problems.append(
            SiteProblem(
                violation.subject, f"{violation.check}: {violation.detail}", violation.n_rows
            )
        )
    return problems


def _unreadable(
    series: pd.Series, kind: ColumnKind, categories: list | None, date_format: str | None
) -> int:
    present = series.notna()
    if kind in (ColumnKind.CONTINUOUS, ColumnKind.INTEGER):
        _, bad = parse_numbers(series)
        return int(bad.sum())
    if kind is ColumnKind.DATETIME:
        _, bad, _ = parse_dates(series, date_format)
        return int(bad.sum())
    if kind in CATEGORY_KINDS:
        known = {category_key(c) for c in categories or []}
        keys = series[present].map(category_key)
        return int((~keys.isin(list(known))).sum())
    return 0


def _kind_words(column: object) -> str:
    kind = getattr(column, "kind", None)
    if kind in CATEGORY_KINDS:
        return "among the schema's categories"
    return f"readable as {getattr(kind, 'value', kind)}"
