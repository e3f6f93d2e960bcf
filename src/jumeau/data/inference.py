"""Guessing a data dictionary from data, and saying why for every guess.

The guesses are a starting point for a clinician to edit, so each column's ``why`` states what it
rests on ("2 distinct values", "all values unique text"). Identifiers and free text are excluded
from modelling by default: a real identifier must never reach an artificial cohort.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from jumeau.data.derivation import find_derivations
from jumeau.data.order_rules import find_follow_up_bound, find_order_rules
from jumeau.data.parsing import clean_text, examples, parse_dates, parse_numbers
from jumeau.data.schema import Column, ColumnKind, Role, Schema, category_key
from jumeau.errors import DataError, JumeauWarning

MAX_CATEGORIES = 50  # more distinct text values than this is free text, not a category
MAX_ORDINAL_LEVELS = 7  # evenly spaced integers with at most this many levels are ordinal
MAX_EXACT_INT = 2.0**53  # beyond this a float no longer holds every integer exactly
MIN_VALUES_TO_MODEL = 10  # fewer values than this, and than SPARSE_SHARE of the rows: excluded
SPARSE_SHARE = 0.5
MIXED_SHARE = 0.8  # a column mostly numeric with some text cells is a data-entry problem

_ID_NAME = re.compile(
    r"(^|[_\s.-])(id|ids|ident|identifier|ipp|nip|nir|nda|mrn|ssn|uuid|patient|subject|record)"
    r"([_\s.-]|$)|^(patid|subjid|pid|nom|name|prenom|firstname|lastname|surname)$",
    re.IGNORECASE,
)
_EVENT_NAMES = {
    "status", "event", "cens", "censor", "censored", "death", "dead", "died",
    "fstat", "vital_status", "os_event", "dfs_event", "delta",
}  # fmt: skip
_TIME_NAMES = {
    "time", "futime", "survival_time", "surv_time", "os_time", "duration", "followup",
    "follow_up", "rectime", "os_months", "os_days", "time_to_event", "stime", "t",
}  # fmt: skip
_ORDERED_VOCABULARIES = (
    ["I", "II", "III", "IV", "V"],
    ["0", "I", "II", "III", "IV"],
    ["low", "medium", "high"],
    ["low", "normal", "high"],
    ["mild", "moderate", "severe"],
    ["none", "mild", "moderate", "severe"],
)


def infer_schema(
    frame: pd.DataFrame, *, name: str | None = None, propose_rules: bool = False
) -> Schema:
    """Guess kind, role, categories and safe bounds for every column of `frame`, and which
    columns follow from others. `propose_rules` adds the order and follow-up rules no row breaks
    (`order_rules.py`): worth reviewing for validating new data, but off by default, because
    generators enforce a rule by redrawing the patients who break it, and that bends the
    margins (measured in docs/data-layer.md)."""
    if frame.shape[1] == 0:
        raise DataError("the data has no columns; check the separator and the header line")
    present = {str(c): int(clean_text(frame[c]).notna().sum()) for c in frame.columns}
    empty = [c for c, n in present.items() if n == 0]
    if len(empty) == frame.shape[1]:
        raise DataError("every column is empty (all values missing): there is nothing to model")
    if empty:
        # like a constant column, an empty one carries no information: excluded, and said so
        warnings.warn(
            JumeauWarning(
                f"column{'s' if len(empty) > 1 else ''} {', '.join(repr(c) for c in empty)} "
                f"{'have' if len(empty) > 1 else 'has'} no values (all missing): excluded from "
                "modelling"
            ),
            stacklevel=3,
        )
    sparse = {c: n for c, n in present.items() if n > 0 and _too_sparse(n, len(frame))}
    for name, count in sparse.items():
        # a handful of values is no distribution to learn, a 70/30 split can leave the training
        # patients none, and a generator could only echo those few patients' values
        warnings.warn(
            JumeauWarning(
                f"column '{name}' has only {count} value(s) (fewer than {MIN_VALUES_TO_MODEL}): "
                "excluded from modelling"
            ),
            stacklevel=3,
        )
    excluded = set(empty) | set(sparse)
    columns = {
        str(c): (
            _too_few(str(c), frame[c], present[str(c)])
            if str(c) in excluded
            else infer_column(str(c), frame[c])
        )
        for c in frame.columns
    }
    _assign_survival_roles(columns)
    for target, derivation in find_derivations(frame, columns).items():
        column = columns[target]
        how = (
            f"{len(derivation.cuts or ()) + 1} bands of it"
            if derivation.cuts is not None
            else "one value per category of it"
        )
        columns[target] = column.model_copy(
            update={
                "derived": derivation,
                "why": f"{column.why}; follows from '{derivation.source}' in every row ({how}): "
                "computed from it, not modelled",
            }
        )
    rules = (
        find_order_rules(frame, columns) + find_follow_up_bound(frame, columns)
        if propose_rules
        else []
    )
    return Schema(name=name, columns=columns, rules=rules)


def infer_column(name: str, raw: pd.Series) -> Column:
    series = clean_text(raw)
    present = series.dropna()
    n_present = len(present)
    has_missing = bool(series.isna().any())

    if pd.api.types.is_bool_dtype(series.dtype):
        return Column(
            kind=ColumnKind.BINARY, categories=[False, True], missing_allowed=has_missing,
            why="true/false values",
        )  # fmt: skip
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return Column(kind=ColumnKind.DATETIME, missing_allowed=has_missing, why="date values")

    numbers, not_numbers = parse_numbers(series)
    n_numbers = n_present - int(not_numbers.sum())
    if not_numbers.any():
        if n_numbers >= MIXED_SHARE * n_present:
            raise DataError(
                f"column '{name}' mixes numbers and text: {examples(series, not_numbers)} are not "
                "numbers; clean those cells, or declare the column categorical in a schema"
            )
        return _infer_text(name, series, present, has_missing)
    return _infer_numeric(name, numbers.dropna(), has_missing)


def _infer_text(name: str, series: pd.Series, present: pd.Series, has_missing: bool) -> Column:
    _, not_dates, fmt = parse_dates(series)
    if not not_dates.any() and present.astype(str).str.contains(r"\d").all():
        shown = f" ({fmt})" if fmt else " (ISO 8601)"
        return Column(
            kind=ColumnKind.DATETIME, format=fmt, missing_allowed=has_missing,
            why=f"every value is a date{shown}",
        )  # fmt: skip
    values = present.astype(str)
    # texts that are the same category once written canonically (1 and 1.0, TRUE and true,
    # 1,5 and 1.5) are one level, spelled as most patients write it
    spellings: dict[str, str] = {}
    for text in values.value_counts().index:
        spellings.setdefault(category_key(text), str(text))
    n_unique = len(spellings)
    if n_unique == len(values) and len(values) > 2:
        if values.str.len().mean() > 30 and values.str.contains(" ").mean() > 0.5:
            return Column(
                kind=ColumnKind.TEXT, role=Role.EXCLUDED,
                why="every value is a different sentence: free text, excluded from modelling",
            )  # fmt: skip
        return Column(
            kind=ColumnKind.IDENTIFIER, role=Role.IDENTIFIER,
            why="every value is a different text: an identifier, never modelled or output",
        )  # fmt: skip
    if n_unique > MAX_CATEGORIES:
        return Column(
            kind=ColumnKind.TEXT, role=Role.EXCLUDED,
            why=f"{n_unique} distinct texts (> {MAX_CATEGORIES}): free text, not modelled",
        )  # fmt: skip
    levels = sorted(spellings.values())
    if n_unique == 1:
        return _constant(name, levels[0], ColumnKind.CATEGORICAL, levels, has_missing)
    if n_unique == 2:
        return Column(
            kind=ColumnKind.BINARY, categories=levels, missing_allowed=has_missing,
            why="2 distinct values",
        )  # fmt: skip
    order = _known_order(levels)
    if order is not None:
        return Column(
            kind=ColumnKind.ORDINAL, categories=order, missing_allowed=has_missing,
            why=f"{n_unique} levels of a known ordered scale ({' < '.join(order)})",
        )  # fmt: skip
    return Column(
        kind=ColumnKind.CATEGORICAL, categories=levels, missing_allowed=has_missing,
        why=f"{n_unique} distinct texts",
    )  # fmt: skip


def _infer_numeric(name: str, numbers: pd.Series, has_missing: bool) -> Column:
    values = numbers.to_numpy(dtype=float)
    if values.size == 0:  # pragma: no cover - callers send only columns with present values
        raise DataError(f"column '{name}' has no numeric values")
    distinct = np.unique(values)
    integral = bool(
        np.all(np.equal(np.mod(values, 1), 0)) and np.all(np.abs(values) < MAX_EXACT_INT)
    )
    levels: list[float | int] = [int(v) if integral else float(v) for v in distinct]
    if len(distinct) == 1:
        return _constant(name, levels[0], ColumnKind.CATEGORICAL, levels, has_missing)
    if integral and _ID_NAME.search(name) and len(distinct) == len(values):
        return Column(
            kind=ColumnKind.IDENTIFIER, role=Role.IDENTIFIER,
            why="name looks like an identifier and every value is unique; never modelled or output",
        )  # fmt: skip
    if len(distinct) == 2:
        return Column(
            kind=ColumnKind.BINARY, categories=levels, missing_allowed=has_missing,
            why="2 distinct values",
        )  # fmt: skip
    bound = {"min": 0.0} if distinct[0] >= 0 else {}
    bound_why = "; min 0 because no value is negative" if bound else ""
    if integral and len(distinct) <= MAX_ORDINAL_LEVELS and len(set(np.diff(distinct))) == 1:
        return Column(
            kind=ColumnKind.ORDINAL, categories=levels, missing_allowed=has_missing,
            why=f"{len(distinct)} evenly spaced integer levels: ordinal assumed "
            "(use categorical if the codes are not ordered)",
        )  # fmt: skip
    if integral:
        return Column(
            kind=ColumnKind.INTEGER, missing_allowed=has_missing, **bound,
            why=f"whole numbers, {len(distinct)} distinct values{bound_why}",
        )  # fmt: skip
    return Column(
        kind=ColumnKind.CONTINUOUS, missing_allowed=has_missing, **bound,
        why=f"decimal numbers{bound_why}",
    )  # fmt: skip


def _constant(
    name: str, value: object, kind: ColumnKind, levels: list, has_missing: bool
) -> Column:
    warnings.warn(
        JumeauWarning(
            f"column '{name}' is constant ({value!r} in every row): excluded from modelling"
        ),
        stacklevel=4,
    )
    return Column(
        kind=kind, role=Role.EXCLUDED, categories=levels, missing_allowed=has_missing,
        why="a single value in every row: carries no information, excluded",
    )  # fmt: skip


def _too_sparse(count: int, rows: int) -> bool:
    """A handful of values in a table that has many more rows (a small table — six patients'
    covariates — is not sparse for being small)."""
    return count < MIN_VALUES_TO_MODEL and count < SPARSE_SHARE * rows


def _too_few(name: str, raw: pd.Series, count: int) -> Column:
    """An excluded column with too few values to model: its kind inferred when it has values
    (so that a user who includes it in the schema gets the right kind), text when it has none."""
    if count == 0:
        return Column(
            kind=ColumnKind.TEXT, role=Role.EXCLUDED, missing_allowed=True,
            why="no values (all missing): carries no information, excluded",
        )  # fmt: skip
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", JumeauWarning)  # said once, by the caller
            inferred = infer_column(name, raw)
    except DataError:
        inferred = Column(kind=ColumnKind.TEXT, role=Role.EXCLUDED, missing_allowed=True)
    return inferred.model_copy(
        update={"role": Role.EXCLUDED, "why": f"only {count} value(s): too few to model, excluded"}
    )


def _known_order(levels: list[str]) -> list[str] | None:
    lowered = {level.lower(): level for level in levels}
    for vocabulary in _ORDERED_VOCABULARIES:
        wanted = [v.lower() for v in vocabulary]
        if set(lowered) <= set(wanted):
            return [lowered[v] for v in wanted if v in lowered]
    return None


def _assign_survival_roles(columns: dict[str, Column]) -> None:
    """Mark a (time, event) pair when the names make it unambiguous."""

    def base(name: str) -> str:
        return re.sub(r"[\s.-]+", "_", name.strip().lower())

    events = [
        n for n, c in columns.items()
        if c.kind is ColumnKind.BINARY and c.role is Role.FEATURE and base(n) in _EVENT_NAMES
    ]  # fmt: skip
    times = [
        n for n, c in columns.items()
        if c.kind in (ColumnKind.CONTINUOUS, ColumnKind.INTEGER) and c.role is Role.FEATURE
        and base(n) in _TIME_NAMES
    ]  # fmt: skip
    if len(events) == 1 and len(times) == 1:
        event, time = events[0], times[0]
        columns[event] = columns[event].model_copy(
            update={"role": Role.EVENT, "why": f"{columns[event].why}; name suggests the event "
                    f"indicator paired with '{time}'"}
        )  # fmt: skip
        columns[time] = columns[time].model_copy(
            update={"role": Role.TIME, "why": f"{columns[time].why}; name suggests the "
                    f"time-to-event paired with '{event}'"}
        )  # fmt: skip
