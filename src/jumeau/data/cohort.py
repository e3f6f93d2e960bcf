"""The one object that flows through jumeau: a typed DataFrame and its data dictionary."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jumeau.data.derivation import contradictions
from jumeau.data.inference import MAX_EXACT_INT
from jumeau.data.loading import CsvDialect, frame_sha256, read_table
from jumeau.data.parsing import clean_text, examples, parse_dates, parse_numbers
from jumeau.data.publishing import write_atomically
from jumeau.data.rules import Expression, parse_rule
from jumeau.data.schema import (
    CATEGORY_KINDS,
    Column,
    ColumnKind,
    Schema,
    category_key,
)
from jumeau.errors import DataError, JumeauWarning, SchemaError, TooFewRowsError

MIN_ROWS_TO_MODEL = 20
EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class Violation:
    """Rows that break one check. Holds row positions only, never the values themselves."""

    check: str  # "rule", "bound" or "missing"
    subject: str  # the rule's text or the column's name
    detail: str
    n_rows: int
    example_rows: tuple[int, ...]

    def __str__(self) -> str:
        rows = ", ".join(str(r) for r in self.example_rows)
        return f"{self.check} {self.detail}: {self.n_rows} row(s), e.g. rows {rows}"


@dataclass
class ValidationReport:
    """Every violation of bounds, required values and clinical rules in a cohort."""

    n_rows: int
    violations: list[Violation] = field(default_factory=list)
    valid_rows: np.ndarray = field(default_factory=lambda: np.ones(0, dtype=bool))

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def share_valid(self) -> float:
        """Share of rows that satisfy every bound and rule (1.0 for an empty cohort)."""
        return float(self.valid_rows.mean()) if self.n_rows else 1.0

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "check": v.check,
                    "subject": v.subject,
                    "detail": v.detail,
                    "rows": v.n_rows,
                    "example_rows": list(v.example_rows),
                }
                for v in self.violations
            ],
            columns=["check", "subject", "detail", "rows", "example_rows"],
        )

    def __str__(self) -> str:
        if self.ok:
            return f"all {self.n_rows} rows satisfy every bound and rule"
        lines = [f"{len(self.violations)} check(s) violated; {self.share_valid:.1%} of rows valid:"]
        lines += [f"  - {v}" for v in self.violations]
        return "\n".join(lines)


class Cohort:
    """A cohort: rows typed according to its :class:`Schema` (continuous as float, integers as
    nullable Int64, categories as pandas Categorical in schema order, dates as datetime64).

    Building a Cohort checks the data against the schema and fails with one clear line when they
    disagree; `validate()` then lists the rows that break bounds or clinical rules.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        schema: Schema,
        *,
        source: str | None = None,
        sha256: str | None = None,
        dialect: CsvDialect | None = None,
        artificial: bool = False,
        part_of_checked: bool = False,
    ) -> None:
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(data).__name__}")
        if not isinstance(schema, Schema):
            raise SchemaError(f"expected a jumeau Schema, got {type(schema).__name__}")
        self.source = source or "<DataFrame>"
        _check_frame(data, self.source, allow_empty=artificial)
        self.schema = schema
        self.artificial = artificial
        # rows of a cohort already checked (a split, a subsample): a column may be empty or
        # constant in them, as in artificial output; the checks were for the whole cohort
        self.data = coerce_frame(
            data, schema, self.source, artificial=artificial or part_of_checked
        )
        self.sha256 = sha256 or frame_sha256(data)
        self.dialect = dialect

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_typed(
        cls, data: pd.DataFrame, schema: Schema, *, source: str, artificial: bool = False
    ) -> Cohort:
        """A cohort around a frame that `schema` already typed (a decoded batch, a completed
        copy): no coercion, no checks and no content hash, so it may be validated cheaply many
        times. Internal use; user frames go through the constructor."""
        cohort = cls.__new__(cls)
        cohort.data, cohort.schema, cohort.source = data, schema, source
        cohort.artificial, cohort.dialect = artificial, None
        return cohort

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, schema: Schema | None = None, *, name: str | None = None
    ) -> Cohort:
        """A cohort from a DataFrame, inferring the schema when none is given."""
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(frame).__name__}")
        _check_frame(frame, "<DataFrame>")
        frame = frame.rename(columns=str)
        return cls(frame, schema if schema is not None else Schema.infer(frame, name=name))

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        name = f" {self.schema.name!r}" if self.schema.name else ""
        modelled = len(self.schema.modelled_columns)
        return (
            f"<Cohort{name}: {len(self)} rows, {modelled} modelled of {self.data.shape[1]} columns>"
        )

    @property
    def modelled(self) -> pd.DataFrame:
        """The columns generators learn (never identifiers, free text or excluded columns)."""
        return self.data[self.schema.modelled_columns]

    @property
    def provenance(self) -> dict[str, Any]:
        """What an output records about its input: where it came from and a hash of it."""
        info: dict[str, Any] = {"source": self.source, "sha256": self.sha256, "rows": len(self)}
        if self.dialect is not None:
            info["csv"] = {
                "encoding": self.dialect.encoding,
                "sep": self.dialect.sep,
                "decimal": self.dialect.decimal,
            }
        return info

    def subset(self, rows: Sequence[int] | np.ndarray) -> Cohort:
        """A cohort of some rows (positions), with the same schema."""
        return Cohort(
            self.data.iloc[np.asarray(rows, dtype=np.int64)].reset_index(drop=True),
            self.schema,
            source=self.source,
            artificial=self.artificial,
            part_of_checked=True,
        )

    def select(self, where: str) -> np.ndarray:
        """Positions of rows matching a condition such as ``age > 70 and sex == "F"``."""
        expression = parse_rule(where, self.schema, where="condition")
        return np.flatnonzero(expression.selects(self.data, self.schema))

    def require_trainable(self, min_rows: int = MIN_ROWS_TO_MODEL) -> None:
        """Refuse to model cohorts too small for any estimate of a joint distribution."""
        if not self.schema.modelled_columns:
            raise DataError(
                f"{self.source}: no column is modelled (all are identifiers, text or excluded); "
                "set some columns to role: feature in the schema"
            )
        if len(self) < min_rows:
            raise TooFewRowsError(
                f"{self.source}: {len(self)} rows is too few to model (at least {min_rows}): "
                "a generator would memorise these patients rather than learn their distribution"
            )
        self._require_satisfiable_rules()

    def _require_satisfiable_rules(self) -> None:
        """Rules that no patient satisfies — one alone, or all together (`age > 50` beside
        `age < 40`) — would let a generator fit for minutes and then reject every draw: refused
        before the fit. Rules some patients break are the data's problem, not the schema's, and
        `jumeau validate` reports them."""
        together = np.ones(len(self), dtype=bool)
        for number, rule in enumerate(self.schema.rules, 1):
            holds = compiled_rule(rule.expr, self.schema).holds(self.data, self.schema)
            if not holds.any():
                raise DataError(
                    f"{self.source}: rule {number} `{rule.expr}` holds for none of the "
                    f"{len(self)} patients; it contradicts the data: fix it in the schema"
                )
            together &= holds
        if len(self.schema.rules) > 1 and not together.any():
            raise DataError(
                f"{self.source}: no patient satisfies the {len(self.schema.rules)} rules "
                "together (each holds for some); two of them contradict each other: fix the "
                "schema's rules"
            )

    def to_csv(self, path: str | Path, *, modelled_only: bool = False) -> Path:
        """Write the cohort as UTF-8 CSV (atomically: a failed write leaves no half file)."""
        path = Path(path)
        frame = self.modelled if modelled_only else self.data
        return write_atomically(path, lambda temporary: frame.to_csv(temporary, index=False))

    # ------------------------------------------------------------------ validation
    def validate(self) -> ValidationReport:
        """Every row that breaks a hard bound, a required value or a clinical rule."""
        violations: list[Violation] = []
        valid = np.ones(len(self), dtype=bool)
        for name, column in self.schema.columns.items():
            for check, detail, bad in _column_checks(name, column, self.data[name]):
                if bad.any():
                    violations.append(_violation(check, name, detail, bad))
                    valid &= ~bad
        for name in self.schema.derived_columns:
            column = self.schema.columns[name]
            derivation = column.derived
            assert derivation is not None
            bad = contradictions(derivation, self.data[derivation.source], self.data[name], column)
            if bad.any():
                detail = f"'{name}' does not follow from '{derivation.source}'"
                violations.append(_violation("derived", name, detail, bad))
                valid &= ~bad
        for rule in self.schema.rules:
            holds = compiled_rule(rule.expr, self.schema).holds(self.data, self.schema)
            if not holds.all():
                violations.append(_violation("rule", rule.expr, f"`{rule.title}`", ~holds))
                valid &= holds
        return ValidationReport(n_rows=len(self), violations=violations, valid_rows=valid)


def load_cohort(
    path: str | Path,
    schema: Schema | str | Path | None = None,
    *,
    sep: str | None = None,
    decimal: str | None = None,
    encoding: str | None = None,
) -> Cohort:
    """Load a CSV or Parquet file as a Cohort, with a schema (object or YAML path) or inferred."""
    table = read_table(path, sep=sep, decimal=decimal, encoding=encoding)
    if schema is None:
        resolved = Schema.infer(table.frame, name=Path(path).stem)
    elif isinstance(schema, Schema):
        resolved = schema
    else:
        resolved = Schema.from_yaml(schema)
    return Cohort(
        table.frame, resolved, source=table.source, sha256=table.sha256, dialect=table.dialect
    )


def compiled_rule(text: str, schema: Schema) -> Expression:
    return parse_rule(text, schema)


# ---------------------------------------------------------------------- coercion
def _check_frame(frame: pd.DataFrame, source: str, *, allow_empty: bool = False) -> None:
    """Structural checks; an artificial cohort may be empty (a filter can remove everyone)."""
    if frame.shape[1] == 0:
        raise DataError(f"{source}: the data has no columns")
    if len(frame) == 0 and not allow_empty:
        raise DataError(f"{source}: the data has columns but no rows")
    names = [str(c) for c in frame.columns]
    repeated = [n for n in dict.fromkeys(names) if names.count(n) > 1]
    if repeated:
        raise DataError(
            f"{source}: duplicate column name(s) {', '.join(repr(n) for n in repeated)}; "
            "rename them so each column is unique"
        )


def coerce_frame(
    raw: pd.DataFrame, schema: Schema, source: str, *, artificial: bool = False
) -> pd.DataFrame:
    """Type every schema column; fail on the first column the data contradicts.

    `artificial` output may legitimately have an empty or constant column (a small sample, or a
    `where=` that fixes a category): those checks are for data a model will learn from.
    """
    raw = raw.rename(columns=str).reset_index(drop=True)
    absent = [name for name in schema.names if name not in raw.columns]
    if absent:
        where = schema.locate("columns", absent[0])
        raise SchemaError(
            f"{where}the schema names column(s) the data lacks: {', '.join(absent)} "
            f"({source}); remove them from the schema or check the file"
        )
    extra = [c for c in raw.columns if c not in schema.columns]
    if extra:
        warnings.warn(
            JumeauWarning(
                f"{source}: column(s) not in the schema are ignored: {', '.join(extra[:10])}"
                + (" ..." if len(extra) > 10 else "")
            ),
            stacklevel=3,
        )
    typed = {
        name: coerce_column(name, raw[name], column, schema, source, artificial=artificial)
        for name, column in schema.columns.items()
    }
    return pd.DataFrame(typed, index=raw.index)


def coerce_column(
    name: str,
    raw: pd.Series,
    column: Column,
    schema: Schema,
    source: str,
    *,
    artificial: bool = False,
) -> pd.Series:
    series = clean_text(raw)
    where = schema.locate("columns", name)
    if column.modelled and not artificial and series.isna().all():
        raise DataError(
            f"{source}: column '{name}' has no values (all missing); delete it, or mark it "
            f"`role: excluded` in the schema"
        )
    kind = column.kind
    if kind in (ColumnKind.CONTINUOUS, ColumnKind.INTEGER):
        result = _coerce_numeric(name, series, column, where, source)
    elif kind in CATEGORY_KINDS:
        result = _coerce_categories(name, series, column, where, source)
    elif kind is ColumnKind.DATETIME:
        values, bad, _ = parse_dates(series, column.format)
        if bad.any():
            raise DataError(
                f"{where}column '{name}' is declared datetime but {examples(series, bad)} are not "
                f"dates{' in format ' + column.format if column.format else ''} ({source}); "
                "fix those cells or set `format:` in the schema"
            )
        result = values
    else:  # identifiers and free text are kept as they are, never modelled
        result = series.astype(object)
    if column.modelled and not artificial:
        _warn_if_constant(name, result, source)
    return result.rename(name)


# No clinical measure comes near: past it a variance (a square) leaves float64's range (1.8e308)
MAX_MAGNITUDE = 1e150


def _coerce_numeric(
    name: str, series: pd.Series, column: Column, where: str, source: str
) -> pd.Series:
    numbers, bad = parse_numbers(series)
    if bad.any():
        raise DataError(
            f"{where}column '{name}' mixes numbers and text: {examples(series, bad)} are not "
            f"numbers ({source}); clean those cells, or declare the column categorical"
        )
    if column.kind is ColumnKind.INTEGER:
        fractional = numbers.notna() & ((numbers % 1 != 0) | (numbers.abs() >= MAX_EXACT_INT))
        if fractional.any():
            raise DataError(
                f"{where}column '{name}' is declared integer but has decimals or huge values: "
                f"{examples(series, fractional)} ({source}); declare it continuous"
            )
        return numbers.round().astype("Int64")
    huge = numbers.notna() & (numbers.abs() > MAX_MAGNITUDE)
    if huge.any():
        raise DataError(
            f"{where}column '{name}' holds values beyond ±{MAX_MAGNITUDE:.0e}: "
            f"{examples(series, huge)} ({source}); their squares overflow every statistic — "
            "rescale the column (another unit) or fix those cells"
        )
    return numbers.astype("float64")


def _coerce_categories(
    name: str, series: pd.Series, column: Column, where: str, source: str
) -> pd.Series:
    categories = list(column.categories or [])
    lookup = {category_key(c): c for c in categories}
    keys = series.map(lambda v: category_key(v) if pd.notna(v) else None)
    unknown = keys.notna() & ~keys.isin(list(lookup))
    if unknown.any():
        found = ", ".join(repr(v) for v in pd.unique(series[unknown].astype(str))[:5])
        listed = ", ".join(str(c) for c in categories)
        raise SchemaError(
            f"{where}column '{name}' lists categories {listed} but the data also has {found} "
            f"({int(unknown.sum())} rows of {source}); add them to `categories` or fix the data"
        )
    values = keys.map(lambda k: lookup[k] if k is not None else None)
    ordered = column.kind is ColumnKind.ORDINAL
    return pd.Series(
        pd.Categorical(values, categories=categories, ordered=ordered), index=series.index
    )


def _warn_if_constant(name: str, values: pd.Series, source: str) -> None:
    present = values.dropna()
    if len(values) >= MIN_ROWS_TO_MODEL and len(present) > 0 and present.nunique() == 1:
        warnings.warn(
            JumeauWarning(
                f"{source}: column '{name}' is constant ({present.iloc[0]!r}); it carries no "
                "information — consider `role: excluded`"
            ),
            stacklevel=4,
        )


# ---------------------------------------------------------------------- validation helpers
def _column_checks(
    name: str, column: Column, values: pd.Series
) -> list[tuple[str, str, np.ndarray]]:
    checks: list[tuple[str, str, np.ndarray]] = []
    if not column.missing_allowed:
        checks.append(("missing", f"'{name}' is required", values.isna().to_numpy()))
    if column.min is None and column.max is None:
        return checks
    if column.kind is ColumnKind.DATETIME:
        numbers = values
        lo = pd.Timestamp(str(column.min)) if column.min is not None else None
        hi = pd.Timestamp(str(column.max)) if column.max is not None else None
    else:
        numbers = values.astype("float64")
        lo = float(column.min) if column.min is not None else None
        hi = float(column.max) if column.max is not None else None
    present = numbers.notna().to_numpy()
    if lo is not None:
        below = present & (numbers < lo).fillna(False).to_numpy(dtype=bool)
        checks.append(("bound", f"'{name}' < {column.min} (min)", below))
    if hi is not None:
        above = present & (numbers > hi).fillna(False).to_numpy(dtype=bool)
        checks.append(("bound", f"'{name}' > {column.max} (max)", above))
    return checks


def _violation(check: str, subject: str, detail: str, bad: np.ndarray) -> Violation:
    rows = np.flatnonzero(bad)
    return Violation(
        check=check,
        subject=subject,
        detail=detail,
        n_rows=int(rows.size),
        example_rows=tuple(int(r) for r in rows[:EXAMPLE_ROWS]),
    )
