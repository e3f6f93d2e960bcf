"""From correlations of the copula's scores back to correlations of its latent normals, without
the stochastic EM — the DP fit's way, since each EM iteration would cost budget.

A category's score is drawn inside its level's interval independently of where the latent value
sat in it; a missing number's score is set to 0 (the latent mean). Both shrink the correlations
the scores show:

- a number observed in a share q of patients: its scores' correlation with any coordinate is
  the latent one times √q (the zeros add nothing to the cross products and a share 1 − q of
  zero variance), assuming the holes are missing at random;
- a category (or a missing-value flag) against a number: the latent correlation times
  corr(score, latent normal), a factor of the intervals alone (`_Category.factor`);
- two categories: E[m₁(Z₁) m₂(Z₂)] / (sd₁ sd₂), where m is the mean score of each level, is not
  linear in the latent correlation r (two binary flags of 18 % would be overcorrected by 4.6×
  with the linear factor); it is tabulated over r by simulation and inverted.

Everything here depends only on released quantities (the intervals, the missing shares), so it is
post-processing: it costs no privacy budget. The simulation uses a fixed public seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from jumeau.generators.copula.conditional import level_of

SIMULATION_SEED, SIMULATION_DRAWS = 20241, 20000
GRID = np.linspace(-0.995, 0.995, 81)  # latent correlations tabulated for two categories
# draws a category's scores as the fit did: (codes, order, edges, rng) -> scores
ScoreDrawer = Callable[[np.ndarray, np.ndarray, np.ndarray, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class _Category:
    """What a category's score keeps of its latent normal: per level, the mean score; overall,
    the scores' spread and their correlation with the latent normal (`factor`)."""

    order: np.ndarray
    edges: np.ndarray
    level_means: np.ndarray
    spread: float
    factor: float

    def mean_score(self, latent: np.ndarray) -> np.ndarray:
        return self.level_means[level_of(ndtr(latent), self.order, self.edges)]


def latent_correlation(
    observed: np.ndarray,
    intervals: list[tuple[np.ndarray, np.ndarray]],
    observed_shares: np.ndarray,
    draw_scores: ScoreDrawer,
) -> np.ndarray:
    """The latent correlation matrix whose scores would show `observed` (see module docstring).
    Coordinates: the numbers first (`observed_shares`: each one's share of patients observed),
    then one per `intervals` (order, edges) — categories and flags, as the copula lays them out.
    `draw_scores(codes, order, edges, rng)` draws scores as the fit did."""
    rng = np.random.default_rng(SIMULATION_SEED)
    latent = rng.standard_normal(SIMULATION_DRAWS)
    other = rng.standard_normal(SIMULATION_DRAWS)
    categories = [_category(order, edges, latent, rng, draw_scores) for order, edges in intervals]
    n_numbers = len(observed_shares)
    factors = np.concatenate(
        [np.sqrt(np.clip(observed_shares, 1e-3, 1.0)), [c.factor for c in categories]]
    )
    corrected = observed / np.outer(factors, factors)
    for a, first in enumerate(categories):
        for b in range(a + 1, len(categories)):
            second = categories[b]
            shown = np.array(
                [
                    np.mean(
                        first.mean_score(latent)
                        * second.mean_score(r * latent + np.sqrt(1.0 - r * r) * other)
                    )
                    / (first.spread * second.spread)
                    for r in GRID
                ]
            )
            i, j = n_numbers + a, n_numbers + b
            value = float(np.interp(observed[i, j], shown, GRID))  # `shown` rises with r
            corrected[i, j] = corrected[j, i] = value
    corrected = np.clip(corrected, -0.99, 0.99)
    np.fill_diagonal(corrected, 1.0)
    return corrected


def _category(
    order: np.ndarray,
    edges: np.ndarray,
    latent: np.ndarray,
    rng: np.random.Generator,
    draw_scores: ScoreDrawer,
) -> _Category:
    codes = level_of(ndtr(latent), order, edges)
    scores = draw_scores(codes, order, edges, rng)
    width = int(max(order.max(), codes.max())) + 1
    totals = np.bincount(codes, weights=scores, minlength=width)
    counts = np.bincount(codes, minlength=width)
    level_means = np.divide(totals, counts, out=np.zeros(width), where=counts > 0)
    spread = float(scores.std())
    factor = float(np.mean(scores * latent) / (spread * latent.std())) if spread > 0 else 1.0
    return _Category(order, edges, level_means, max(spread, 1e-9), max(factor, 0.05))
