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

from collections.abc import Generator
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class LatentSampler(Protocol):
    """A Gibbs sampler the EM alternates with: the values' (`LatentGibbs`) or the flags'
    (`FlagGibbs`). Its state puts the numbers first: the rest is pinned to N(0, 1)."""

    n_numeric: int
    state: np.ndarray

    def sweep(self, mean: np.ndarray, covariance: np.ndarray) -> None: ...


@dataclass(frozen=True)
class LatentFit:
    """Mean and covariance of the latent coordinates a Gibbs sampler works on."""

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
    sampler: LatentSampler,
    initial_correlation: np.ndarray,
    *,
    iterations: int,
    min_eigenvalue: float,
) -> LatentFit:
    """Alternate one Gibbs sweep with re-estimation of the mean and covariance (see module)."""
    steps = em_steps(
        initial_correlation,
        n_numeric=sampler.n_numeric,
        iterations=iterations,
        min_eigenvalue=min_eigenvalue,
    )
    mean, covariance = next(steps)
    while True:
        sampler.sweep(mean, covariance)
        state = sampler.state
        try:
            mean, covariance = steps.send((state.sum(axis=0), state.T @ state, len(state)))
        except StopIteration as finished:
            fit: LatentFit = finished.value
            return fit


Sums = tuple[np.ndarray, np.ndarray, int]  # Σv, Σvvᵀ and the number of completed rows


def em_steps(
    initial_correlation: np.ndarray, *, n_numeric: int, iterations: int, min_eigenvalue: float
) -> Generator[tuple[np.ndarray, np.ndarray], Sums, LatentFit]:
    """The stochastic EM's estimation side, as a coroutine: it yields the current mean and
    covariance, receives the sums of the completed rows after a Gibbs sweep, and returns the
    estimate averaged over the second half. The pooled fit sweeps its own rows; federated
    training sends the moments to the sites and sums what they return — one estimator for both."""
    size = len(initial_correlation)
    mean = np.zeros(size)
    covariance = repaired_correlation(
        initial_correlation, shrinkage=0.0, min_eigenvalue=min_eigenvalue
    )
    averaged_from = iterations // 2
    mean_sum, covariance_sum = np.zeros(size), np.zeros((size, size))
    for iteration in range(iterations):
        total, cross, count = yield mean, covariance
        mean, covariance = moments_from_sums(total, cross, count, n_numeric, min_eigenvalue)
        if iteration >= averaged_from:
            mean_sum += mean
            covariance_sum += covariance
    kept = iterations - averaged_from
    return LatentFit(mean_sum / kept, covariance_sum / kept)


def moments_from_sums(
    total: np.ndarray, cross: np.ndarray, count: int, n_numeric: int, min_eigenvalue: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of completed latent rows, with categories pinned to N(0, 1), from
    the sums Σv and Σvvᵀ over `count` rows: sums add up across hospitals, so federated training
    reaches the same estimate without pooling any row."""
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
