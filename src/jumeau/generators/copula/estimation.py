"""Fitting the copula's latent Gaussian by stochastic EM, so that categories and incomplete rows
count properly.

The textbook copula fit — pairwise correlations of normal scores — has two biases on clinical
data. (1) A category's score, spread uniformly over its level's interval, is only loosely tied to
the numbers, so correlations with categories come out attenuated (the polyserial correlation is the
one the model needs). (2) When values are missing at random given other columns, the observed
values of a number are not a sample of the whole column: its pairwise correlations and its normal
scores (ranked among observed values only) are both shifted.

Treating the unknown parts of the latent vector — missing numbers, and where exactly a category
sits inside its level's interval — as missing data, and alternating Gibbs draws of them with
re-estimation of the mean and covariance, removes both (the extended rank likelihood of Hoff, 2007,
in the stochastic-EM form of Celeux & Diebolt, 1985). Numbers get a free mean and scale in latent
units: a column whose high values are often missing has, once completed, a mean above that of its
observed scores. Categories keep mean 0 and variance 1, which their interval edges (the level
frequencies) define. Estimates are averaged over the second half of the iterations to damp the
Monte Carlo noise of single draws.

scikit-learn's IterativeImputer and statsmodels' MICE impute on the data scale, not on a latent
Gaussian with interval-censored categories, so this short loop is written here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jumeau.generators.copula.conditional import LatentGibbs


@dataclass(frozen=True)
class LatentFit:
    """Mean and covariance of the latent coordinates a `LatentGibbs` sampler works on."""

    mean: np.ndarray
    covariance: np.ndarray


def repaired_correlation(
    correlation: np.ndarray, *, shrinkage: float, min_eigenvalue: float
) -> np.ndarray:
    """A valid correlation matrix near `correlation`: shrunk toward the identity, eigenvalues
    floored (pairwise or Monte Carlo estimates need not be positive definite), unit diagonal."""
    matrix = np.array(correlation, dtype=np.float64)
    np.fill_diagonal(matrix, 1.0)
    matrix = (1 - shrinkage) * matrix + shrinkage * np.eye(len(matrix))
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    matrix = vectors @ np.diag(np.maximum(values, min_eigenvalue)) @ vectors.T
    scale = np.sqrt(np.diag(matrix))
    return matrix / np.outer(scale, scale)


def stochastic_em(
    sampler: LatentGibbs,
    initial_correlation: np.ndarray,
    *,
    iterations: int,
    min_eigenvalue: float,
) -> LatentFit:
    """Alternate one Gibbs sweep with re-estimation of the mean and covariance (see module)."""
    n_numeric = sampler.n_numeric
    size = len(sampler.coordinates)
    mean = np.zeros(size)
    covariance = repaired_correlation(
        initial_correlation, shrinkage=0.0, min_eigenvalue=min_eigenvalue
    )
    averaged_from = iterations // 2
    mean_sum, covariance_sum = np.zeros(size), np.zeros((size, size))
    for iteration in range(iterations):
        sampler.sweep(mean, covariance)
        mean, covariance = _moments(sampler.state, n_numeric, min_eigenvalue)
        if iteration >= averaged_from:
            mean_sum += mean
            covariance_sum += covariance
    kept = iterations - averaged_from
    return LatentFit(mean_sum / kept, covariance_sum / kept)


def _moments(
    state: np.ndarray, n_numeric: int, min_eigenvalue: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of completed latent rows, with categories pinned to N(0, 1)."""
    return moments_from_sums(
        state.sum(axis=0), state.T @ state, len(state), n_numeric, min_eigenvalue
    )


def moments_from_sums(
    total: np.ndarray, cross: np.ndarray, count: int, n_numeric: int, min_eigenvalue: float
) -> tuple[np.ndarray, np.ndarray]:
    """`_moments` from the sums Σv and Σvvᵀ over `count` completed rows: sums add up across
    hospitals, so federated training reaches the same estimate without pooling any row."""
    mean = total / count
    mean[n_numeric:] = 0.0  # categories are centred on their pinned mean, 0
    centred = cross - np.outer(total, mean) - np.outer(mean, total) + count * np.outer(mean, mean)
    covariance = centred / max(count - 1, 1)
    spread = np.sqrt(np.maximum(np.diag(covariance), 1e-12))
    correlation = repaired_correlation(
        covariance / np.outer(spread, spread), shrinkage=0.0, min_eigenvalue=min_eigenvalue
    )
    spread[n_numeric:] = 1.0
    return mean, correlation * np.outer(spread, spread)
