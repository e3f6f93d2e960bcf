"""What a completion report says, as numbers: the missingness before, and how the imputed values
compare with the observed ones after (a sign of trouble when they differ more than the
missingness mechanism explains). Aggregates only: counts, shares, means and inner quantiles —
never a row, never a minimum or maximum (a single patient's value)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from jumeau.data.cohort import Cohort
from jumeau.data.schema import CATEGORY_KINDS, category_key
from jumeau.generators.encoding import numeric_values

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
MAX_PATTERNS = 10


def missingness(cohort: Cohort, columns: Sequence[str]) -> dict[str, Any]:
    """Missing count per column and the most frequent patterns (sets of missing columns)."""
    holes = cohort.data[list(columns)].isna()
    patterns = Counter(
        tuple(name for name, hole in zip(columns, row, strict=True) if hole)
        for row in holes.itertuples(index=False)
    )
    ranked = patterns.most_common()
    shown = [{"missing": list(pattern), "rows": count} for pattern, count in ranked[:MAX_PATTERNS]]
    return {
        "rows": len(cohort),
        "complete_rows": int(patterns.get((), 0)),
        "missing_by_column": {
            name: int(holes[name].sum()) for name in columns if holes[name].any()
        },
        "patterns": shown,
        "other_patterns_rows": int(sum(count for _, count in ranked[MAX_PATTERNS:])),
    }


def imputed_vs_observed(
    incomplete: Cohort, completed: Sequence[Cohort], columns: Sequence[str]
) -> dict[str, Any]:
    """Per column with holes: observed values vs imputed ones (pooled over the copies)."""
    result: dict[str, Any] = {}
    for name in columns:
        holes = incomplete.data[name].isna().to_numpy()
        if not holes.any():
            continue
        column = incomplete.schema.columns[name]
        observed = incomplete.data[name][~holes]
        imputed = [c.data[name][holes] for c in completed]
        if column.kind in CATEGORY_KINDS:
            result[name] = {
                "type": "category",
                "observed_shares": _shares(observed.tolist()),
                "imputed_shares": _shares([v for part in imputed for v in part.tolist()]),
            }
            continue
        numbers = numeric_values(observed, column.kind)
        filled = np.concatenate([numeric_values(part, column.kind) for part in imputed])
        result[name] = {
            "type": "number",
            "observed": _numbers(numbers),
            "imputed": _numbers(filled),
            "imputed_cells": int(holes.sum()),
        }
    return result


def _numbers(values: np.ndarray) -> dict[str, float | None]:
    values = values[~np.isnan(values)]
    summary: dict[str, float | None] = {"mean": None, "sd": None}
    summary |= {f"q{int(q * 100)}": None for q in QUANTILES}
    if values.size == 0:
        return summary
    summary["mean"] = float(values.mean())
    summary["sd"] = float(values.std(ddof=1)) if values.size > 1 else 0.0
    for q, v in zip(QUANTILES, np.quantile(values, QUANTILES), strict=True):
        summary[f"q{int(q * 100)}"] = float(v)
    return summary


def _shares(values: list[Any]) -> dict[str, float]:
    present = [category_key(v) for v in values if v is not None and v == v]
    counts = Counter(str(v) for v in present)
    total = sum(counts.values())
    return {level: count / total for level, count in sorted(counts.items())} if total else {}
