"""Turning cells from files into numbers and dates, tolerant of what hospital exports contain.

CSV files are read as text so that jumeau, not pandas' guesswork, decides what a column is: a
column where a few cells say "<0.1" or "unknown" must be reported, not silently become text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Besides pandas' defaults (NA, N/A, NULL, nan, ...): tokens seen in clinical exports.
MISSING_TOKENS = ["?", ".", "-", "--", "ND", "nd", "NK", "Nk", "missing", "Missing", "MISSING"]

DATE_FORMATS = (
    "ISO8601",
    "%d/%m/%Y",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
)


def is_text_column(series: pd.Series) -> bool:
    return series.dtype == object or pd.api.types.is_string_dtype(series.dtype)


def clean_text(series: pd.Series) -> pd.Series:
    """Strip cells and turn blank ones into missing; leave non-text columns alone."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object).where(series.notna(), None)
    if not is_text_column(series):
        return series
    stripped = series.map(lambda v: v.strip() if isinstance(v, str) else v)
    blanks = stripped.map(lambda v: isinstance(v, str) and (v == "" or v in MISSING_TOKENS))
    return stripped.mask(blanks)


def parse_numbers(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numeric values of a column, and a mask of present cells that are not finite numbers.

    Infinities are flagged rather than kept: in a clinical file they are always an export error.
    """
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64"), pd.Series(False, index=series.index)
    present = series.notna()
    if pd.api.types.is_numeric_dtype(series.dtype):
        numbers = pd.to_numeric(series, errors="coerce").astype("float64")
    else:
        text = series.astype(object)
        candidates = text.where(~present, text.astype(str).str.strip())
        numbers = pd.to_numeric(candidates, errors="coerce").astype("float64")
        numbers = _exactly(numbers, candidates)
    finite = np.isfinite(numbers.to_numpy())
    bad = present & ~finite
    return numbers.where(finite), bad


def _exactly(numbers: pd.Series, texts: pd.Series) -> pd.Series:
    """The texts pandas read as numbers, read again to the nearest float: pandas' fast parser
    is off by a unit in the last place on some 17-digit values (0.30000000000000004 reads as
    0.3), and a category's canonical key, read by `float`, must see the same number."""
    parsed = np.isfinite(numbers.to_numpy())
    if not parsed.any():
        return numbers
    exact = numbers.copy()
    exact[parsed] = [
        _float_or(text, value)
        for text, value in zip(texts[parsed].tolist(), numbers[parsed].tolist(), strict=True)
    ]
    return exact


def _float_or(text: object, fallback: float) -> float:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return fallback


def numbers_of(series: pd.Series) -> np.ndarray:
    """A raw column's numbers as float64, NaN where missing or not a finite number."""
    return parse_numbers(clean_text(series))[0].to_numpy(dtype=float)


def parse_dates(
    series: pd.Series, fmt: str | None = None
) -> tuple[pd.Series, pd.Series, str | None]:
    """Dates of a column, a mask of present cells that are not dates, and the format used."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        values = series.dt.tz_localize(None) if getattr(series.dt, "tz", None) else series
        return values.astype("datetime64[ns]"), pd.Series(False, index=series.index), fmt
    present = series.notna()
    text = series.astype(object).where(present, None)
    formats = (fmt,) if fmt else DATE_FORMATS
    best: tuple[pd.Series, pd.Series, str | None] | None = None
    for candidate in formats:
        try:
            values = pd.to_datetime(text, format=candidate, errors="coerce")
        except (ValueError, TypeError, OverflowError):
            continue
        bad = present & values.isna()
        if best is None or bad.sum() < best[1].sum():
            best = (values.astype("datetime64[ns]"), bad, candidate)
        if not bad.any():
            break
    if best is None:
        return pd.Series(pd.NaT, index=series.index), present, fmt
    values, bad, used = best
    return values, bad, (None if used == "ISO8601" else used)


def examples(series: pd.Series, mask: pd.Series, limit: int = 3) -> str:
    """A few offending cells with their row numbers (1-based, as in a spreadsheet)."""
    rows = list(np.flatnonzero(mask.to_numpy()))[:limit]
    shown = ", ".join(f"{series.iloc[r]!r} (row {r + 1})" for r in rows)
    more = int(mask.sum()) - len(rows)
    return shown + (f" and {more} more" if more > 0 else "")
