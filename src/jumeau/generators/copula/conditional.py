"""Conditional draws from a fitted Gaussian copula, by Gibbs sampling on its latent vector.

The copula is a Gaussian vector v ~ N(mean, covariance): a number is one coordinate known exactly
once observed; a category is a coordinate known only to lie in its level's interval. Unknown
coordinates are drawn from v's conditional law given what is known — for numbers only that is the
textbook conditional Gaussian; categories make it a truncated Gaussian, which a Gibbs sampler over
the coordinates draws exactly in the limit (each coordinate's conditional given the others is a
univariate normal, truncated to the level's interval where the category is known). Rows are
processed together, coordinates one at a time.

The same sampler serves two jobs: fitting (stochastic EM, `estimation.py`) and completion. In
both, a missing value is unknown — save, when fitting, a category seen in too few patients to
have a flag of its own (`missing_as_level`: there "missing" is one of its levels) — and the
present/missing flags are marginalised out: values are taken as missing at random given the
observed ones, as MICE does; a flag's correlation with its own value cannot be estimated from
data in any case (the value is only seen when present). The flags get their own correlations
afterwards (`flags.py`).
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


def latent_coordinates(encoder: TabularEncoder) -> list[int]:
    """Positions, in the copula's latent vector (numbers, then one coordinate per categorical
    block), of the coordinates the Gibbs sampler and the EM work on: every number and every
    category, not the present/missing flags of numbers."""
    n_numeric = len(encoder.numeric_index)
    blocks = encoder.categorical_blocks
    return list(range(n_numeric)) + [
        n_numeric + j for j, block in enumerate(blocks) if not block.is_indicator
    ]


class LatentGibbs:
    """Gibbs sampler over the latent coordinates of a block of encoded rows.

    `state` holds one latent vector per row over `coordinates` (numbers first, then the
    categories that are not present/missing flags); observed numbers never move.
    """

    def __init__(
        self,
        encoder: TabularEncoder,
        orders: list[np.ndarray],
        edges: list[np.ndarray],
        matrix: np.ndarray,
        mask: np.ndarray,
        rng: np.random.Generator,
        *,
        missing_as_level: frozenset[int] = frozenset(),
    ) -> None:
        self.encoder = encoder
        self.rng = rng
        self.n_numeric = len(encoder.numeric_index)
        blocks = encoder.categorical_blocks
        kept_blocks = [j for j, b in enumerate(blocks) if not b.is_indicator]
        self.coordinates = latent_coordinates(encoder)
        self.numeric_observed = mask[:, encoder.numeric_index] > 0
        self.categories = [
            _category_coordinate(blocks[j], orders[j], edges[j], matrix, j in missing_as_level)
            for j in kept_blocks
        ]
        rows = len(matrix)
        self.state = np.zeros((rows, len(self.coordinates)))
        self.state[:, : self.n_numeric] = np.where(
            self.numeric_observed, matrix[:, encoder.numeric_index], 0.0
        )
        # start every category inside its allowed set: one draw from its marginal N(0, 1)
        for k, category in enumerate(self.categories):
            self.state[:, self.n_numeric + k] = _draw(category, np.zeros(rows), np.ones(rows), rng)

    @property
    def has_unknowns(self) -> bool:
        """False when every coordinate is fixed (all numbers observed, no categories)."""
        return bool(self.categories) or not self.numeric_observed.all()

    def sweep(self, mean: np.ndarray, covariance: np.ndarray) -> None:
        """One pass over the coordinates, each drawn from its conditional given the others."""
        precision = np.linalg.inv(covariance)
        for j in range(len(self.coordinates)):
            conditional, sd = conditional_moments(self.state, mean, precision, j)
            if j < self.n_numeric:
                free = ~self.numeric_observed[:, j]
                self.state[free, j] = conditional[free] + sd[free] * self.rng.standard_normal(
                    int(free.sum())
                )
            else:
                self.state[:, j] = _draw(
                    self.categories[j - self.n_numeric], conditional, sd, self.rng
                )

    def write(self, draw: np.ndarray) -> None:
        """Put the current state's unknown values into an encoded matrix (in place)."""
        numeric_index = self.encoder.numeric_index
        draw[:, numeric_index] = np.where(
            self.numeric_observed, draw[:, numeric_index], self.state[:, : self.n_numeric]
        )
        rows = np.arange(len(self.state))
        for k, category in enumerate(self.categories):
            block = category.block
            level = level_of(
                ndtr(self.state[:, self.n_numeric + k]), category.order, category.edges
            )
            draw[:, block.start : block.stop] = 0.0
            draw[rows, block.start + level] = 1.0


def gibbs_draws(
    sampler: LatentGibbs,
    mean: np.ndarray,
    covariance: np.ndarray,
    matrix: np.ndarray,
    m: int,
    *,
    burn_in: int,
    thinning: int,
) -> np.ndarray:
    """`m` encoded draws per row (m × rows × width), `thinning` sweeps apart after `burn_in`."""
    draws = np.repeat(matrix[None].astype(np.float64), m, axis=0)
    sweeps = burn_in + thinning * (m - 1) + 1
    for sweep in range(sweeps):
        sampler.sweep(mean, covariance)
        if sweep >= burn_in and (sweep - burn_in) % thinning == 0:
            sampler.write(draws[(sweep - burn_in) // thinning])
    return draws


def conditional_moments(
    state: np.ndarray, mean: np.ndarray, precision: np.ndarray, j: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of coordinate `j` given the others, row by row, for v ~ N(mean, precision⁻¹)."""
    q = precision[j, j]
    centred = state - mean
    conditional = mean[j] - (centred @ precision[:, j] - centred[:, j] * q) / q
    return conditional, np.full(len(state), 1.0 / np.sqrt(q))


def level_of(u: np.ndarray, order: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The level (position in its block) whose interval of [0, 1] holds each u."""
    position = np.minimum(np.searchsorted(edges, u, side="right"), len(order) - 1)
    return order[position]


def _category_coordinate(
    block: CategoricalBlock,
    order: np.ndarray,
    edges: np.ndarray,
    matrix: np.ndarray,
    missing_is_level: bool,
) -> CategoryCoordinate:
    rows = len(matrix)
    onehot = matrix[:, block.start : block.stop]
    missing_code = (
        block.levels.index(MISSING_LEVEL)
        if MISSING_LEVEL in block.levels and not missing_is_level
        else None
    )
    known = onehot.sum(axis=1) > 0
    codes = onehot.argmax(axis=1)
    if missing_code is not None:
        known &= codes != missing_code
    level_lower, level_upper = interval_bounds(codes, order, edges)
    lower = np.where(known, level_lower, -np.inf)
    upper = np.where(known, level_upper, np.inf)
    gap_lower = np.full(rows, np.nan)
    gap_upper = np.full(rows, np.nan)
    if missing_code is not None:
        # an unknown level may be anything but "missing" (models saved before the flags gave
        # "missing" an interval of the category's coordinate; it now has none)
        low, high = (float(bound[0]) for bound in interval_bounds([missing_code], order, edges))
        if high > low and not (np.isinf(low) and low < 0 and np.isinf(high)):
            gap_lower[~known], gap_upper[~known] = low, high
    return CategoryCoordinate(block, order, edges, lower, upper, gap_lower, gap_upper)


def interval_bounds(
    codes: np.ndarray | list[int], order: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Latent-unit bounds of the interval of each level code (its position in the block)."""
    lower_edges = np.concatenate([[0.0], edges[:-1]])
    position = np.argsort(order)[np.asarray(codes)]
    return _latent(lower_edges[position]), _latent(edges[position])


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
    return truncated_normal(lower, upper, mean, sd, rng)


def truncated_normal(
    lower: np.ndarray,
    upper: np.ndarray,
    mean: np.ndarray,
    sd: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """N(mean, sd²) truncated to (lower, upper), row by row; a zero-width interval gives its
    point."""
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
