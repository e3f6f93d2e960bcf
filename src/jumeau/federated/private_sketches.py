"""A site's column sketches under differential privacy: the same messages as `sketches.py`, whose
merge they go through unchanged, released through OpenDP (`jumeau.dp.mechanisms`).

Why: the exact sketches reveal patients. At a site of 20–30 patients, 32 interpolated quantiles
of a number can be inverted into every sorted value, and value counts name every value one
patient holds. Under DP each message is a noisy summary whose privacy loss is bounded whatever
the server or an eavesdropper does with it:

- a category: its level counts and missing count, with Gaussian noise;
- a number: its observed and missing counts (noisy), a low and a high bound (the schema's own
  `min` and `max`, which are the consortium's data dictionary and public; a missing one is read
  off a noisy histogram over public power-of-2 bins), and `SKETCH_POINTS` quantiles read off a
  noisy histogram of `PRIVATE_BINS` bins between them (values outside are clamped). Heavily
  tied numbers get no exact value table: their histogram has one bin per integer when the range
  allows. A budget too small to find a column's range is refused with the ε that would do.

The site's (ε, δ) covers all of its sketches together: ρ-zCDP budgets add up over columns
(split evenly) and are converted once. Negative noisy counts are set to zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jumeau.data.schema import CATEGORY_KINDS, ColumnKind, Schema
from jumeau.dp.mechanisms import (
    BudgetTooSmallError,
    bounds_rho_needed,
    epsilon_of,
    noise_scale,
    private_bounds,
    private_counts,
    private_histogram_quantiles,
    rho_for,
)
from jumeau.federated.sketches import SKETCH_POINTS
from jumeau.generators.encoding import numeric_values

PRIVATE_BINS = 32
# Each number's share of its column budget: its counts, its bounds (when the schema has none)
MISSING_SHARE = 0.1
BOUNDS_SHARE = 0.3
# A noisy missing count under this many noise σ is taken as no missing value
MISSING_NOISE_FLOOR = 2.0


def private_column_sketches(
    data: pd.DataFrame, schema: Schema, *, epsilon: float, delta: float
) -> dict[str, np.ndarray]:
    """A site's summaries of the modelled columns, (ε, δ)-DP together (see module docstring)."""
    names = schema.modelled_columns
    rho = rho_for(epsilon, delta) / max(len(names), 1)
    sketches: dict[str, np.ndarray] = {}
    for name in names:
        column = schema.columns[name]
        values = data[name]
        if column.kind in CATEGORY_KINDS:
            codes = pd.Categorical(values, categories=column.categories).codes
            counts = private_counts(codes, len(column.categories or []), rho)
            sketches[f"count.{name}"] = np.maximum(counts, 0.0)
            continue
        numbers = numeric_values(values, column.kind)
        observed = numbers[~np.isnan(numbers)]
        observed_count, missing = private_counts(
            np.isnan(numbers).astype(int), 2, MISSING_SHARE * rho
        )[:2]
        # a missing count within noise is read as none: else noise alone would give a complete
        # column missing values in every artificial cohort (post-processing: still DP)
        if missing < MISSING_NOISE_FLOOR * noise_scale(MISSING_SHARE * rho):
            missing = 0.0
        sketches[f"missing.{name}"] = np.maximum([observed_count, missing], 0.0)
        remaining = (1.0 - MISSING_SHARE) * rho
        bounds = _public_bounds(column.min, column.max)
        if bounds is None:
            lower = column.min if isinstance(column.min, int | float) else None
            try:
                bounds = private_bounds(observed, BOUNDS_SHARE * rho, lower=lower)
            except BudgetTooSmallError:
                raise BudgetTooSmallError(
                    f"column '{name}': ε = {epsilon:g} cannot find its range from "
                    f"{observed.size} patients; write its min and max in the schema (public "
                    f"bounds), or use --sketch-epsilon "
                    f"{_round_up(_epsilon_needed(observed.size, len(names), delta))} or more"
                ) from None
            remaining -= BOUNDS_SHARE * rho
        sketches[f"quantiles.{name}"] = private_histogram_quantiles(
            observed,
            bounds,
            remaining,
            bins=PRIVATE_BINS,
            points=SKETCH_POINTS,
            integer=column.kind is ColumnKind.INTEGER,
        )
    return sketches


def _epsilon_needed(patients: int, columns: int, delta: float) -> float:
    """The site ε at which every column's bounds would clear the noise floor."""
    per_column = bounds_rho_needed(patients) / (BOUNDS_SHARE * (1.0 - MISSING_SHARE))
    return epsilon_of(per_column * max(columns, 1), delta)


def _round_up(value: float) -> str:
    """A budget to suggest, rounded up (two significant digits) so that it suffices."""
    digits = 10 ** (np.floor(np.log10(value)) - 1) if value > 0 else 1.0
    return f"{np.ceil(value / digits) * digits:g}"


def _public_bounds(low: float | str | None, high: float | str | None) -> tuple[float, float] | None:
    """The schema's bounds when both are numbers a person wrote down (public knowledge)."""
    if isinstance(low, int | float) and isinstance(high, int | float) and high > low:
        return float(low), float(high)
    return None
