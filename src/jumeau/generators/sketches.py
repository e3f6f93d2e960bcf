"""Mergeable per-column summaries, so that every site encodes its patients the same way.

Each site summarises each modelled column — a category by its level counts, a number by its
count of missing values and either its value counts (a heavily tied column: a score in steps of
10) or `SKETCH_POINTS` interpolated quantiles (never its minimum or maximum, which are patients'
values). The server merges the summaries into one `TabularEncoder`: value counts add up exactly;
quantile sketches are merged as a mixture of the sites' piecewise-linear distribution functions,
weighted by site size (as t-digest merges its centroids), and read back at the encoder's knots.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jumeau.data.schema import CATEGORY_KINDS, Schema
from jumeau.generators.encoding import TabularEncoder, modelled_schema, numeric_values
from jumeau.generators.summaries import ColumnSummary, is_tied, number_summary

SKETCH_POINTS = 32
MAX_KNOTS = 200


def column_sketches(data: pd.DataFrame, schema: Schema) -> dict[str, np.ndarray]:
    """A site's summaries of the modelled columns of its (schema-typed) table."""
    sketches: dict[str, np.ndarray] = {}
    for name in schema.modelled_columns:
        column = schema.columns[name]
        values = data[name]
        if column.kind in CATEGORY_KINDS:
            codes = pd.Categorical(values, categories=column.categories).codes
            counts = np.bincount(codes[codes >= 0], minlength=len(column.categories or []))
            sketches[f"count.{name}"] = np.append(counts, (codes < 0).sum()).astype(np.float64)
            continue
        numbers = numeric_values(values, column.kind)
        observed = numbers[~np.isnan(numbers)]
        sketches[f"missing.{name}"] = np.array([observed.size, numbers.size - observed.size], float)
        distinct, counts = np.unique(observed, return_counts=True)
        if is_tied(distinct.size, observed.size, MAX_KNOTS):  # exact counts for the encoder
            sketches[f"values.{name}"], sketches[f"counts.{name}"] = distinct, counts.astype(float)
        else:
            levels = (np.arange(SKETCH_POINTS) + 0.5) / SKETCH_POINTS
            sketches[f"quantiles.{name}"] = np.quantile(observed, levels)
    return sketches


def merged_encoder(
    schema: Schema, site_sketches: list[dict[str, np.ndarray]]
) -> tuple[TabularEncoder, dict[str, np.ndarray]]:
    """One encoder for every site, and the merged level counts of each categorical block
    (the copula's intervals need them), keyed by block column and kind."""
    schema = modelled_schema(schema)
    summaries: dict[str, ColumnSummary] = {}
    counts: dict[str, np.ndarray] = {}
    for name in schema.names:
        column = schema.columns[name]
        if column.kind in CATEGORY_KINDS:
            total = np.sum([s[f"count.{name}"] for s in site_sketches], axis=0)
            has_missing = bool(total[-1] > 0)
            summaries[name] = ColumnSummary(has_missing=has_missing)
            counts[f"category.{name}"] = total if has_missing else total[:-1]
            continue
        missing = np.sum([s[f"missing.{name}"] for s in site_sketches], axis=0)
        has_missing = bool(missing[1] > 0)
        if has_missing:
            counts[f"indicator.{name}"] = missing
        summaries[name] = _merged_number(name, site_sketches, has_missing)
    encoder = TabularEncoder(max_knots=MAX_KNOTS).fit_summaries(schema, summaries)
    # the precision DP sketches release (the coarsest grid every site's values sit on)
    encoder.decimals_ = {
        name: max(int(s[f"decimals.{name}"][0]) for s in site_sketches)
        for name in schema.names
        if site_sketches and all(f"decimals.{name}" in s for s in site_sketches)
    }
    encoder.heaping_ = {
        name: heaping
        for name in schema.names
        if (heaping := _merged_heaping(name, site_sketches)) is not None
    }
    return encoder, counts


def _merged_heaping(name: str, site_sketches: list[dict[str, np.ndarray]]) -> np.ndarray | None:
    """A number's digit preference over the sites (DP sketches only): the sites' rounding shares
    weighted by their observed counts, when every site released them on the same grid step."""
    released = [s.get(f"heaping.{name}") for s in site_sketches]
    if not released or any(r is None for r in released):
        return None
    steps = {float(r[0]) for r in released if r is not None}
    if len(steps) != 1:
        return None
    weights = _site_weights(name, site_sketches)
    shares = np.stack([r[1:] for r in released if r is not None])
    return np.concatenate([[steps.pop()], weights @ shares / weights.sum()])


def block_counts(counts: dict[str, np.ndarray], column: str, is_indicator: bool) -> np.ndarray:
    return counts[f"{'indicator' if is_indicator else 'category'}.{column}"]


def _merged_number(
    name: str, site_sketches: list[dict[str, np.ndarray]], has_missing: bool
) -> ColumnSummary:
    tables = [s for s in site_sketches if f"values.{name}" in s]
    if len(tables) == len(site_sketches):  # every site tied: exact counts add up
        values = np.concatenate([s[f"values.{name}"] for s in tables])
        weights = np.concatenate([s[f"counts.{name}"] for s in tables])
        distinct, inverse = np.unique(values, return_inverse=True)
        # exact counts, or noisy ones under DP (kept as they are: cdf steps need no integers)
        merged = np.bincount(inverse, weights=weights)
        return number_summary(distinct, merged, MAX_KNOTS, has_missing=has_missing)
    atoms = np.unique(np.concatenate([s.get(f"atoms.{name}", []) for s in site_sketches]))
    grid = np.unique(np.concatenate([_site_points(s, name) for s in site_sketches]))
    below_atoms = np.nextafter(atoms, -np.inf)  # each atom's left limit: its jump starts there
    grid = np.unique(np.concatenate([grid, below_atoms]))
    weights = _site_weights(name, site_sketches)
    total = float(weights.sum())
    pairs = zip(weights, site_sketches, strict=True)
    cdf = np.asarray(sum(w * _site_cdf(s, name, grid) for w, s in pairs)) / total
    if atoms.size == 0:
        return _knots_from_cdf(grid, cdf, total, has_missing)
    # both an atom and its left limit are grid points: read the jump off the merged cdf
    lower, upper = cdf[np.searchsorted(grid, below_atoms)], cdf[np.searchsorted(grid, atoms)]
    jump = upper > lower
    rows = np.column_stack([atoms, lower, upper])[jump]
    # an atom's knot sits at the middle of its jump, as the encoder's own ties do
    cdf[np.isin(grid, atoms[jump])] = (lower[jump] + upper[jump]) / 2.0
    summary = _knots_from_cdf(grid, cdf, total, has_missing)
    return ColumnSummary(
        has_missing, summary.knots, summary.levels, atoms=rows if rows.size else None
    )


def _site_weights(name: str, site_sketches: list[dict[str, np.ndarray]]) -> np.ndarray:
    """Each site's weight in a number's merge: its observed count (noisy under DP: at least one
    patient's worth)."""
    return np.array([max(float(s[f"missing.{name}"][0]), 1.0) for s in site_sketches])


def _site_points(sketch: dict[str, np.ndarray], name: str) -> np.ndarray:
    """The values at which a site's distribution function bends or jumps."""
    for key in ("values", "quantiles", "edges"):
        if f"{key}.{name}" in sketch:
            return np.concatenate([sketch[f"{key}.{name}"], sketch.get(f"atoms.{name}", [])])
    raise KeyError(f"no distribution of column '{name}' in a site's sketch")


def _site_cdf(sketch: dict[str, np.ndarray], name: str, grid: np.ndarray) -> np.ndarray:
    """A site's distribution function at `grid`: steps for a value table; piecewise linear
    through the quantiles (its mass below the first and above the last quantile sits on those
    two points); for a DP histogram, linear within each bin plus a step at each atom."""
    if f"values.{name}" in sketch:
        values, counts = sketch[f"values.{name}"], sketch[f"counts.{name}"]
        cumulative = np.concatenate([[0.0], np.cumsum(counts) / counts.sum()])
        return cumulative[np.searchsorted(values, grid, side="right")]
    if f"edges.{name}" in sketch:
        edges, counts = sketch[f"edges.{name}"], sketch[f"bins.{name}"]
        atoms = sketch.get(f"atoms.{name}", np.empty(0))
        atom_counts = sketch.get(f"atomcounts.{name}", np.empty(0))
        dense = np.interp(grid, edges, np.concatenate([[0.0], np.cumsum(counts)]))
        steps = np.concatenate([[0.0], np.cumsum(atom_counts)])
        stepped = steps[np.searchsorted(atoms, grid, side="right")]
        return (dense + stepped) / (counts.sum() + atom_counts.sum())
    quantiles = sketch[f"quantiles.{name}"]
    levels = (np.arange(quantiles.size) + 0.5) / quantiles.size
    quantiles, index = np.unique(quantiles, return_index=True)  # repeated quantiles: a jump
    upper = np.append(levels[index[1:] - 1], levels[-1])
    cdf = np.interp(grid, quantiles, upper, left=0.0, right=1.0)
    cdf[grid >= quantiles[-1]] = 1.0
    return cdf


def _knots_from_cdf(
    grid: np.ndarray, cdf: np.ndarray, total: float, has_missing: bool
) -> ColumnSummary:
    """Encoder knots read off a merged distribution function: from the last point where it is 0
    to the first where it is 1, its levels kept half an observation inside (0, 1), as the
    encoder's own knots are, and strictly increasing — a flat stretch (bins the noise left
    empty) is kept as a tiny rise, not interpolated over, so that no value lands in it."""
    start = max(int(np.searchsorted(cdf, 0.0, side="right")) - 1, 0)
    stop = min(int(np.searchsorted(cdf, 1.0, side="left")) + 1, grid.size)
    grid, levels = grid[start:stop], np.clip(cdf[start:stop], 0.5 / total, 1 - 0.5 / total)
    if grid.size == 1:
        return ColumnSummary(has_missing, np.repeat(grid, 2), np.array([0.5 - 1e-9, 0.5 + 1e-9]))
    rise = 1e-9 / grid.size
    levels = np.maximum.accumulate(levels) + rise * np.arange(grid.size)
    if grid.size > MAX_KNOTS:
        targets = np.linspace(levels[0], levels[-1], MAX_KNOTS)
        grid, levels = np.interp(targets, levels, grid), targets
    return ColumnSummary(has_missing, grid.astype(np.float64), levels.astype(np.float64))
