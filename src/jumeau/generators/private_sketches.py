"""A site's column sketches under differential privacy, released through OpenDP
(`jumeau.dp.mechanisms`) and merged by `sketches.py` as the exact ones are.

Why: the exact sketches reveal patients. At a site of 20–30 patients, 32 interpolated quantiles
of a number can be inverted into every sorted value, and value counts name every value one
patient holds. Under DP each message is a noisy summary whose privacy loss is bounded whatever
the server or an eavesdropper does with it:

- a category: its level counts and missing count, with Gaussian noise;
- a number: its observed and missing counts (noisy), a low and a high bound (the schema's own
  `min` and `max`, which are the consortium's data dictionary and public; a missing one is read
  off a noisy histogram over public power-of-2 bins), a continuous number's precision (the
  decimals its values are written with), and its distribution as a noisy histogram of 4 to
  `PRIVATE_BINS` bins between the bounds (values outside are clamped), the fewer the smaller
  the budget per patient (`histogram_bins`), plus its atoms: the values on its grid (integers,
  the released precision) that so many patients share that they clear the noise — a score in
  steps of 10, calories to the nearest 25 (`jumeau.dp.heaped`). When the atoms hold most of the
  column it is sent as a value table; never a value held by fewer patients than the noise can
  hide. A budget too small to find a column's range is refused with the ε that would do.

The budget ρ (zero-concentrated DP) covers all of the sketches together: it is split evenly over
columns, and converted once into (ε, δ) by the caller, who may spend more on other releases.
Noisy counts are cleaned as post-processing (`jumeau.dp.mechanisms.cleaned_counts`).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

from jumeau.data.schema import CATEGORY_KINDS, ColumnKind, Schema
from jumeau.dp.heaped import HeapedHistogram, lattice_points, private_heaped_histogram
from jumeau.dp.mechanisms import (
    TIED_SHARE,
    BudgetTooSmallError,
    bound_histogram,
    bounds_from_histogram,
    bounds_rho_needed,
    epsilon_of,
    histogram_edges,
    noise_scale,
    private_bounds,
    private_counts,
    tied_table,
)
from jumeau.generators.encoding import numeric_values

PRIVATE_BINS = 32  # the most bins of a number's histogram
MIN_PRIVATE_BINS = 4
# Each number's share of its column budget: its counts, its bounds (when the schema has none)
MISSING_SHARE = 0.1
BOUNDS_SHARE = 0.3
# A continuous column's precision: its share of the histogram budget, the finest grid tried, and
# the share of patients the chosen grid must hold
DECIMALS_SHARE, MAX_DECIMALS, DECIMALS_SHARE_HELD = 0.1, 6, 0.98
# A noisy missing count under this many noise σ is taken as no missing value
MISSING_NOISE_FLOOR = 3.0
# The least a category level's released count is read as (a fraction of one patient)
LEVEL_FLOOR = 0.5


def private_column_sketches(
    data: pd.DataFrame,
    schema: Schema,
    *,
    rho: float,
    max_bins: int = PRIVATE_BINS,
    bounds_spent: Collection[str] = (),
) -> dict[str, np.ndarray]:
    """A site's summaries of the modelled columns, ρ-zCDP together (see module docstring); a
    column whose range `rho` cannot find raises `SketchBudgetTooSmallError`, which carries the
    ρ that would do so that the caller can phrase the fix in its own option's terms. A number's
    histogram has at most `max_bins` bins. `bounds_spent`: number columns whose range an earlier
    release of this budget found (`private_bound_histograms`, summed over hospitals): their
    bounds are in `schema` now, and their share of the budget is already spent."""
    names = schema.modelled_columns
    rho_column = rho / max(len(names), 1)
    sketches: dict[str, np.ndarray] = {}
    for name in names:
        column = schema.columns[name]
        values = data[name]
        if column.kind in CATEGORY_KINDS:
            codes = pd.Categorical(values, categories=column.categories).codes
            counts = private_counts(codes, len(column.categories or []), rho_column)
            if counts[-1] < MISSING_NOISE_FLOOR * noise_scale(rho_column):
                counts[-1] = 0.0  # the missing cell within noise: none (as for numbers below)
            # a level's noisy count is never read as none: the noise cannot tell an empty level
            # from a rare one, and a level with an empty interval breaks the latent draws of
            # the patients who hold it (post-processing)
            counts[:-1] = np.maximum(counts[:-1], LEVEL_FLOOR)
            sketches[f"count.{name}"] = np.maximum(counts, 0.0)
            continue
        numbers = numeric_values(values, column.kind)
        observed = numbers[~np.isnan(numbers)]
        observed_count, missing = private_counts(
            np.isnan(numbers).astype(int), 2, MISSING_SHARE * rho_column
        )[:2]
        # a missing count within noise is read as none: else noise alone would give a complete
        # column missing values in every artificial cohort (post-processing: still DP)
        if missing < MISSING_NOISE_FLOOR * noise_scale(MISSING_SHARE * rho_column):
            missing = 0.0
        sketches[f"missing.{name}"] = np.maximum([observed_count, missing], 0.0)
        remaining = (1.0 - MISSING_SHARE) * rho_column
        if name in bounds_spent:
            remaining -= BOUNDS_SHARE * rho_column
        bounds = _public_bounds(column.min, column.max)
        if bounds is None:
            lower = column.min if isinstance(column.min, int | float) else None
            try:
                bounds = private_bounds(observed, BOUNDS_SHARE * rho_column, lower=lower)
            except BudgetTooSmallError:
                raise SketchBudgetTooSmallError(
                    name, observed.size, sketch_rho_needed(observed.size, len(names))
                ) from None
            remaining -= BOUNDS_SHARE * rho_column
        integer = column.kind is ColumnKind.INTEGER
        step = 1.0 if integer else None
        if column.kind is ColumnKind.CONTINUOUS:
            decimals = private_decimals(observed, DECIMALS_SHARE * remaining)
            remaining -= DECIMALS_SHARE * remaining
            if decimals is not None:
                sketches[f"decimals.{name}"] = np.array([float(decimals)])
                step = 10.0**-decimals
        bins = histogram_bins(observed_count, remaining, max_bins)
        edges = histogram_edges(*bounds, bins, integer=integer)
        unit = is_unit_grid(edges)  # one bin per integer: the histogram is the grid's counts
        lattice = lattice_points(*bounds, step) if step is not None and not unit else None
        released = private_heaped_histogram(
            observed, edges, remaining, lattice=lattice, patients=observed_count
        )
        sketches |= _number_message(
            name, released, unit, noise_scale(remaining), zero_floor=bounds[0] == 0.0 and not step
        )
    return sketches


def _number_message(
    name: str, released: HeapedHistogram, unit: bool, sigma: float, *, zero_floor: bool
) -> dict[str, np.ndarray]:
    """A released number as the merge reads it: a value table when its atoms (or, on a grid of
    one bin per integer, the values clearing the noise) hold `TIED_SHARE` of it — a score in
    steps, a count — else its histogram and its atoms. `zero_floor`: a continuous number
    bounded below by 0 on no released grid; its lowest bin is read as patients at exactly 0
    (receptor counts, doses), not smeared over the bin."""
    if unit:
        centres = (released.edges[:-1] + released.edges[1:]) / 2.0
        table = tied_table(released.counts, centres, sigma)
    elif released.atom_counts.sum() >= TIED_SHARE * released.total > 0:
        held = released.atom_counts > 0
        table = released.atoms[held], released.atom_counts[held]
    else:
        table = None
    if table is not None:
        return {f"values.{name}": table[0], f"counts.{name}": table[1]}
    atoms, atom_counts, counts = released.atoms, released.atom_counts, released.counts.copy()
    if zero_floor and counts[0] > 0:
        atoms, atom_counts = np.r_[0.0, atoms], np.r_[counts[0], atom_counts]
        counts[0] = 0.0
    message = {f"edges.{name}": released.edges, f"bins.{name}": counts}
    if released.heaping is not None and released.heaping[1] < 1.0:  # some values rounded
        message[f"heaping.{name}"] = released.heaping
    held = atom_counts > 0
    if held.any():
        message |= {f"atoms.{name}": atoms[held], f"atomcounts.{name}": atom_counts[held]}
    return message


def private_decimals(observed: np.ndarray, rho: float) -> int | None:
    """The decimals a continuous column's values are recorded with (a weight index in tenths,
    a lab to two places), from noisy counts of the patients whose value sits on each grid
    10^-d, d = 0 … `MAX_DECIMALS` (each patient counted once, at its coarsest grid: ρ-zCDP);
    the coarsest grid off which no more patients lie than `1 − DECIMALS_SHARE_HELD` of them or
    the noise explains, or None (no rounding). Artificial
    values are rounded to it: values between the grid's points, which no patient has, are what a
    classifier spots first (TRACE's wmi in tenths: |AUC − 0.5| 0.46 → 0.08 at ε = 10)."""
    values = np.asarray(observed, dtype=float)
    grid = [
        np.isclose(values, np.round(values, d), rtol=0.0, atol=1e-9)
        for d in range(MAX_DECIMALS + 1)
    ]
    coarsest = np.full(values.size, MAX_DECIMALS + 1)
    for d in range(MAX_DECIMALS, -1, -1):
        coarsest[grid[d]] = d
    # raw noisy counts: clipped at 0, the noise of the empty finer grids would only add up
    counts = private_counts(coarsest, MAX_DECIMALS + 2, rho)[:-1]
    total = counts.sum()
    if total <= 0:
        return None
    # the patients left off grid d: few enough when under the share allowed or within the noise
    # of the finer grids' counts (post-processing)
    beyond = total - np.cumsum(counts[: MAX_DECIMALS + 1])
    finer = np.arange(MAX_DECIMALS + 1, 0, -1)  # cells beyond each grid
    allowed = np.maximum(
        (1.0 - DECIMALS_SHARE_HELD) * total, 3.0 * noise_scale(rho) * np.sqrt(finer)
    )
    enough = np.flatnonzero(beyond <= allowed)
    return int(enough[0]) if enough.size else None


def unbounded_numbers(schema: Schema) -> list[str]:
    """The modelled number columns whose range nobody wrote down (no numeric `min` and `max`)."""
    return [
        name
        for name in schema.modelled_columns
        if schema.columns[name].kind not in CATEGORY_KINDS
        and _public_bounds(schema.columns[name].min, schema.columns[name].max) is None
    ]


def private_bound_histograms(
    data: pd.DataFrame, schema: Schema, *, rho: float
) -> dict[str, np.ndarray]:
    """A hospital's first release under a sketch budget `rho`: for every number whose range
    nobody wrote down, its noisy histogram over public power-of-2 bins, with the column's
    bounds share of the budget (the sketches then skip it: `bounds_spent`). The server sums
    the hospitals' histograms (`merged_bounds`): a range a 58-patient site alone could not
    find clears the noise in the consortium's sum."""
    rho_column = rho / max(len(schema.modelled_columns), 1)
    histograms = {}
    for name in unbounded_numbers(schema):
        numbers = numeric_values(data[name], schema.columns[name].kind)
        observed = numbers[~np.isnan(numbers)]
        histograms[f"bounds.{name}"] = bound_histogram(observed, BOUNDS_SHARE * rho_column)
    return histograms


def merged_bounds(
    schema: Schema, histograms: list[dict[str, np.ndarray]], *, rho: float, patients: int
) -> Schema:
    """`schema` with every unwritten range read off the sum of the hospitals' bound histograms
    (each released at `rho`'s bounds share: the sum's noise σ is √k times one's). A range the
    sum still cannot find raises `SketchBudgetTooSmallError`, sized for `patients` (the sites'
    sizes, which every federated protocol treats as known to the consortium)."""
    names = unbounded_numbers(schema)
    rho_column = rho / max(len(schema.modelled_columns), 1)
    sigma = noise_scale(BOUNDS_SHARE * rho_column) * np.sqrt(max(len(histograms), 1))
    schema = schema.model_copy(deep=True)
    for name in names:
        column = schema.columns[name]
        total = np.sum([h[f"bounds.{name}"] for h in histograms], axis=0)
        lower = column.min if isinstance(column.min, int | float) else None
        try:
            low, high = bounds_from_histogram(total, sigma, lower=lower)
        except BudgetTooSmallError:
            per_site = bounds_rho_needed(max(patients / np.sqrt(max(len(histograms), 1)), 1))
            needed = per_site / BOUNDS_SHARE * max(len(schema.modelled_columns), 1)
            raise SketchBudgetTooSmallError(name, patients, needed) from None
        schema.columns[name] = column.model_copy(update={"min": low, "max": high})
    return schema


def is_unit_grid(edges: np.ndarray) -> bool:
    """Whether `edges` put one bin around each integer (`histogram_edges` of a short integer
    range): only then is a bin's centre a value patients can hold."""
    return bool(np.allclose(np.diff(edges), 1.0) and np.allclose(edges % 1.0, 0.5))


def histogram_bins(patients: float, rho: float, most: int = PRIVATE_BINS) -> int:
    """Bins of a number's private histogram: (n/σ)^(2/3), between `MIN_PRIVATE_BINS` and
    `most`. More bins resolve the shape finer but each holds fewer patients against the
    same noise σ: the error of the distribution function read off k bins is about 1/k from the
    binning plus σ√k/n from the noise, smallest near k = (n/σ)^(2/3). `patients` is the noisy
    count already released, so the choice costs no budget."""
    ratio = max(float(patients), 1.0) / noise_scale(rho)
    return int(np.clip(round(ratio ** (2.0 / 3.0)), MIN_PRIVATE_BINS, most))


class SketchBudgetTooSmallError(BudgetTooSmallError):
    """A number column whose range the budget cannot find privately: which column, from how
    many patients, and the sketches' total ρ at which it would be found."""

    def __init__(self, column: str, patients: int, rho_needed: float) -> None:
        self.column, self.patients, self.rho_needed = column, patients, rho_needed
        super().__init__(f"column '{column}': the budget cannot find its range")

    def refusal(
        self, budget: str, epsilon: float, delta: float, share: float = 1.0
    ) -> BudgetTooSmallError:
        """The one-line refusal, in the terms of the option that set the budget (`share`: the
        sketches' part of its ρ), with the ε at which the range would be found."""
        needed = epsilon_of(self.rho_needed / share, delta)
        return BudgetTooSmallError(
            f"column '{self.column}': {budget} = {epsilon:g} cannot find its range from "
            f"{self.patients} patients; write its min and max in the schema (public bounds), or "
            f"use {budget} {round_up(needed)} or more"
        )


def sketch_rho_needed(patients: int, columns: int) -> float:
    """The sketches' total ρ at which every column's bounds would clear the noise floor."""
    per_column = bounds_rho_needed(patients) / (BOUNDS_SHARE * (1.0 - MISSING_SHARE))
    return per_column * max(columns, 1)


def round_up(value: float) -> str:
    """A budget to suggest, rounded up (two significant digits) so that it suffices."""
    digits = 10 ** (np.floor(np.log10(value)) - 1) if value > 0 else 1.0
    return f"{np.ceil(value / digits) * digits:g}"


def _public_bounds(low: float | str | None, high: float | str | None) -> tuple[float, float] | None:
    """The schema's bounds when both are numbers a person wrote down (public knowledge)."""
    if isinstance(low, int | float) and isinstance(high, int | float) and high > low:
        return float(low), float(high)
    return None
