"""The copula's stochastic-EM fit: polyserial correlations with categories, a latent mean and
scale for numbers whose values are missing at random, and nothing changed for complete numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jumeau.data.cohort import Cohort
from jumeau.generators.copula import GaussianCopula
from jumeau.generators.copula.estimation import repaired_correlation


def test_category_correlation_is_the_latent_one_not_the_attenuated_one() -> None:
    """group = [x + noise > 0]: the latent correlation of x with group's coordinate is
    1/√1.25 ≈ 0.894. Uniform scores inside the level's interval (em_iterations=0) attenuate it."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(2000)
    group = np.where(x + 0.5 * rng.standard_normal(2000) > 0, "high", "low")
    cohort = Cohort.from_frame(pd.DataFrame({"x": x, "group": group}))
    fitted = GaussianCopula().fit(cohort, seed=0, progress=False)
    plain = GaussianCopula(em_iterations=0).fit(cohort, seed=0, progress=False)
    truth = 1 / np.sqrt(1.25)
    # the sign depends on the levels' interval order; the strength is what is estimated
    assert abs(fitted.correlation_[0, 1]) == pytest.approx(truth, abs=0.04)
    assert abs(plain.correlation_[0, 1]) < truth - 0.1


def test_values_missing_at_random_shift_the_latent_mean_and_the_imputations(
    y_hidden_when_x_high: tuple[Cohort, np.ndarray, np.ndarray],
) -> None:
    """y is missing mostly when x is high (MAR on x, corr 0.8): the observed y are low, so their
    normal scores understate the column. The EM fit moves y's latent mean up and imputes the
    holes near their true mean; the pairwise fit (em_iterations=0) cannot."""
    cohort, y, hidden = y_hidden_when_x_high
    errors = {}
    for iterations in (40, 0):
        model = GaussianCopula(em_iterations=iterations).fit(cohort, seed=0, progress=False)
        copies = model.complete(cohort, m=5, seed=0)
        imputed = np.mean([c.data["y"].to_numpy(dtype=float)[hidden] for c in copies], axis=0)
        errors[iterations] = abs(imputed.mean() - y[hidden].mean())
        if iterations:
            y_position = [b.column for b in model.encoder_.numeric_blocks].index("y")
            assert model.numeric_mean_[y_position] > 0.3  # observed scores have mean 0
    assert errors[40] < 0.1 < errors[0]


def test_complete_numbers_keep_the_moments_of_their_scores(gbsg2: Cohort) -> None:
    """With nothing missing a number's latent coordinate never moves: the EM's mean and scale
    are those of its normal scores (about 0 and 1; tied counts such as pnodes a little off)."""
    model = GaussianCopula().fit(gbsg2, seed=0, progress=False)
    matrix, _ = model.encoder_.transform(gbsg2.data)
    scores = matrix[:, model.encoder_.numeric_index].astype(np.float64)
    # the EM averages its second-half iterations, which for fixed coordinates are all equal
    assert np.allclose(model.numeric_mean_, scores.mean(axis=0), atol=1e-6)
    assert np.allclose(model.numeric_scale_, scores.std(axis=0, ddof=1), atol=1e-6)
    assert np.allclose(model.numeric_mean_, 0.0, atol=0.05)


def test_em_fit_is_reproducible_and_valid(gbsg2: Cohort) -> None:
    first = GaussianCopula().fit(gbsg2, seed=3, progress=False)
    again = GaussianCopula().fit(gbsg2, seed=3, progress=False)
    assert np.array_equal(first.correlation_, again.correlation_)
    assert np.linalg.eigvalsh(first.correlation_).min() > 0
    assert np.allclose(np.diag(first.correlation_), 1.0)


def test_repaired_correlation_makes_an_indefinite_matrix_valid() -> None:
    indefinite = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    assert np.linalg.eigvalsh(indefinite).min() < 0
    repaired = repaired_correlation(indefinite, shrinkage=0.0, min_eigenvalue=1e-3)
    assert np.linalg.eigvalsh(repaired).min() > 0
    assert np.allclose(np.diag(repaired), 1.0) and np.allclose(repaired, repaired.T)
    assert np.allclose(
        repaired_correlation(indefinite, shrinkage=1.0, min_eigenvalue=1e-3), np.eye(3)
    )
