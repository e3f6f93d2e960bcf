"""Conditional draws of missing values from a fitted Gaussian copula, by Gibbs sampling.

The copula is a Gaussian vector v ~ N(0, R): a number is one coordinate known exactly once
observed; a category is a coordinate known only to lie in its level's interval. Missing values are
drawn from v's conditional law given what is known — for numbers only that is the textbook
conditional Gaussian; categories make it a truncated Gaussian, which a Gibbs sampler over the
coordinates draws exactly in the limit (each coordinate's conditional given the others is a
univariate normal, truncated to the level's interval where the category is observed, and to
"anything but missing" where it is not). Rows are processed together, coordinates one at a time.

The coordinates for the present/missing flags of numbers are marginalised out (their rows and
columns dropped from R): imputation assumes the values are missing at random given the observed
ones, as MICE does; the flags' correlation with their own number cannot be estimated from data in
any case (the number is only seen when present).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri
from scipy.stats import truncnorm

from jumeau.generators.encoding import MISSING_LEVEL, CategoricalBlock, TabularEncoder

_EDGE = 1e-12


@dataclass(frozen=True)
class CategoryCoordinate:
    """A category's latent coordinate and its interval bounds per row (latent units)."""

    block: CategoricalBlock
    order: np.ndarray  # level positions in interval order
    edges: np.ndarray  # cumulative upper edges (u units)
    lower: np.ndarray  # per row
    upper: np.ndarray
    gap_lower: np.ndarray  # per row: an excluded interval inside (lower, upper), or NaN
    gap_upper: np.ndarray


def gibbs_draws(
    encoder: TabularEncoder,
    correlation: np.ndarray,
    orders: list[np.ndarray],
    edges: list[np.ndarray],
    matrix: np.ndarray,
    mask: np.ndarray,
    m: int,
    rng: np.random.Generator,
    *,
    burn_in: int,
    thinning: int,
) -> np.ndarray:
    """`m` encoded draws per row (m × rows × width), `thinning` sweeps apart after `burn_in`."""
    n_numeric = len(encoder.numeric_index)
    blocks = encoder.categorical_blocks
    kept_blocks = [j for j, b in enumerate(blocks) if not b.is_indicator]
    coordinates = list(range(n_numeric)) + [n_numeric + j for j in kept_blocks]
    precision = np.linalg.inv(correlation[np.ix_(coordinates, coordinates)])
    rows = len(matrix)

    state = np.zeros((rows, len(coordinates)))
    numeric_observed = mask[:, encoder.numeric_index] > 0
    state[:, :n_numeric] = np.where(numeric_observed, matrix[:, encoder.numeric_index], 0.0)
    categories = [_category_coordinate(blocks[j], orders[j], edges[j], matrix) for j in kept_blocks]
    # start every category inside its allowed set: one draw from its marginal N(0, 1)
    for k, category in enumerate(categories):
        state[:, n_numeric + k] = _draw(category, np.zeros(rows), np.ones(rows), rng)

    draws = np.repeat(matrix[None].astype(np.float64), m, axis=0)
    sweeps = burn_in + thinning * (m - 1) + 1
    for sweep in range(sweeps):
        for j in range(len(coordinates)):
            q = precision[j, j]
            mean = -(state @ precision[:, j] - state[:, j] * q) / q
            sd = np.full(rows, 1.0 / np.sqrt(q))
            if j < n_numeric:
                free = ~numeric_observed[:, j]
                state[free, j] = mean[free] + sd[free] * rng.standard_normal(int(free.sum()))
            else:
                state[:, j] = _draw(categories[j - n_numeric], mean, sd, rng)
        if sweep >= burn_in and (sweep - burn_in) % thinning == 0:
            copy = (sweep - burn_in) // thinning
            _write(draws[copy], state, encoder, categories, n_numeric, numeric_observed)
    return draws


def level_of(u: np.ndarray, order: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The level (position in its block) whose interval of [0, 1] holds each u."""
    position = np.minimum(np.searchsorted(edges, u, side="right"), len(order) - 1)
    return order[position]


def _category_coordinate(
    block: CategoricalBlock, order: np.ndarray, edges: np.ndarray, matrix: np.ndarray
) -> CategoryCoordinate:
    rows = len(matrix)
    onehot = matrix[:, block.start : block.stop]
    missing_code = block.levels.index(MISSING_LEVEL) if MISSING_LEVEL in block.levels else None
    known = onehot.sum(axis=1) > 0
    codes = onehot.argmax(axis=1)
    if missing_code is not None:
        known &= codes != missing_code
    lower_edges = np.concatenate([[0.0], edges[:-1]])
    position = np.argsort(order)[codes]
    lower = np.where(known, _latent(lower_edges[position]), -np.inf)
    upper = np.where(known, _latent(edges[position]), np.inf)
    gap_lower = np.full(rows, np.nan)
    gap_upper = np.full(rows, np.nan)
    if missing_code is not None:  # an unknown level may be anything but "missing"
        gap = int(np.argsort(order)[missing_code])
        low, high = _latent(lower_edges[gap]), _latent(edges[gap])
        if not (np.isinf(low) and low < 0 and np.isinf(high)):
            gap_lower[~known], gap_upper[~known] = low, high
    return CategoryCoordinate(block, order, edges, lower, upper, gap_lower, gap_upper)


def _latent(u: np.ndarray | float) -> np.ndarray:
    clipped = np.clip(u, _EDGE, 1 - _EDGE)
    result = ndtri(clipped)
    return np.where(
        np.asarray(u) <= _EDGE, -np.inf, np.where(np.asarray(u) >= 1 - _EDGE, np.inf, result)
    )


def _draw(
    category: CategoryCoordinate, mean: np.ndarray, sd: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """N(mean, sd²) truncated to (lower, upper) minus (gap_lower, gap_upper), row by row."""
    lower, upper = category.lower.copy(), category.upper.copy()
    gapped = ~np.isnan(category.gap_lower)
    if gapped.any():  # choose the side of the gap by its probability, then truncate to it
        below = ndtr((category.gap_lower[gapped] - mean[gapped]) / sd[gapped])
        above = 1.0 - ndtr((category.gap_upper[gapped] - mean[gapped]) / sd[gapped])
        total = below + above
        take_below = rng.uniform(size=total.size) * np.where(total > 0, total, 1.0) < below
        take_below = np.where(total > 0, take_below, below >= above)
        idx = np.flatnonzero(gapped)
        upper[idx[take_below]] = category.gap_lower[gapped][take_below]
        lower[idx[~take_below]] = category.gap_upper[gapped][~take_below]
    a, b = (lower - mean) / sd, (upper - mean) / sd
    result = np.empty_like(mean)
    degenerate = ~(b - a > 1e-9)  # a level never seen in training: a zero-width interval
    result[degenerate] = np.clip(mean[degenerate], lower[degenerate], upper[degenerate])
    fine = ~degenerate
    if fine.any():
        result[fine] = truncnorm.rvs(
            a[fine], b[fine], loc=mean[fine], scale=sd[fine], random_state=rng
        )
    return result


def _write(
    draw: np.ndarray,
    state: np.ndarray,
    encoder: TabularEncoder,
    categories: list[CategoryCoordinate],
    n_numeric: int,
    numeric_observed: np.ndarray,
) -> None:
    numeric_index = encoder.numeric_index
    draw[:, numeric_index] = np.where(
        numeric_observed, draw[:, numeric_index], state[:, :n_numeric]
    )
    rows = np.arange(len(state))
    for k, category in enumerate(categories):
        block = category.block
        level = level_of(ndtr(state[:, n_numeric + k]), category.order, category.edges)
        draw[:, block.start : block.stop] = 0.0
        draw[rows, block.start + level] = 1.0
