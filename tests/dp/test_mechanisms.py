"""OpenDP-backed releases: the budget's arithmetic, and what each release keeps of the data."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("opendp")

from jumeau.dp.mechanisms import (
    BudgetTooSmallError,
    epsilon_of,
    private_bounds,
    private_counts,
    rho_for,
)
from jumeau.errors import JumeauError


def test_the_zcdp_conversion_is_at_least_as_tight_as_the_textbook_bound():
    """Bun & Steinke's ε = ρ + 2√(ρ log 1/δ) is an upper bound of the exact conversion; the
    Gaussian mechanism's exact (ε, δ) (Balle & Wang 2018) is a lower bound of any valid one."""
    from scipy.stats import norm

    for rho, delta in [(0.5, 1e-5), (0.05, 1e-6), (2.0, 1e-3)]:
        textbook = rho + 2 * np.sqrt(rho * np.log(1 / delta))
        sigma = np.sqrt(1 / (2 * rho))
        eps = epsilon_of(rho, delta)

        # the exact δ(ε) of the sensitivity-1 Gaussian (Balle & Wang 2018, Theorem 8)
        exact = norm.cdf(1 / (2 * sigma) - eps * sigma) - np.exp(eps) * norm.cdf(
            -1 / (2 * sigma) - eps * sigma
        )
        assert eps <= textbook + 1e-9
        assert exact <= delta * (1 + 1e-6)  # ε is valid for the Gaussian itself


def test_rho_for_inverts_the_conversion():
    rho = rho_for(1.0, 1e-5)
    assert epsilon_of(rho, 1e-5) == pytest.approx(1.0, abs=1e-6)
    assert rho_for(3.0, 1e-5) > rho  # more ε buys more ρ
    with pytest.raises(JumeauError, match="ε must be a positive number"):
        rho_for(0.0, 1e-5)
    with pytest.raises(JumeauError, match="δ must be between 0 and 1"):
        rho_for(1.0, 1.0)


def test_private_counts_are_unbiased_with_the_stated_noise():
    codes = np.repeat([0, 1, 2, -1], [50, 30, 20, 5])
    rho = 0.5  # σ = 1
    draws = np.array([private_counts(codes, 3, rho) for _ in range(300)])
    assert draws.shape == (300, 4)
    assert np.allclose(draws.mean(axis=0), [50, 30, 20, 5], atol=0.3)
    assert np.allclose(draws.std(axis=0), 1.0, atol=0.2)
    with pytest.raises(JumeauError, match="positive budget"):
        private_counts(codes, 3, 0.0)


def test_private_bounds_are_power_of_2_edges_around_the_data():
    values = np.random.default_rng(0).normal(100.0, 10.0, 2000)
    low, high = private_bounds(values, rho=1.0)
    assert low < np.quantile(values, 0.05) and high > np.quantile(values, 0.95)
    assert low in (32.0, 64.0) and high in (128.0, 256.0)  # power-of-2 bins holding patients
    # a public lower bound (the schema's min) is kept
    assert private_bounds(values, rho=1.0, lower=0.0)[0] == 0.0


def test_too_small_a_budget_for_the_range_is_refused():
    values = np.random.default_rng(3).gamma(1.0, 50.0, 12)
    with pytest.raises(BudgetTooSmallError, match="too small to find the range"):
        private_bounds(values, rho=1e-4)
