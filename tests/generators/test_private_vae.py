"""The VAE fitted under (ε, δ)-differential privacy: the accountant composes the sketches with
DP-SGD within ε, the file holds no training value and records its guarantee, and the RHVAE
refuses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("opendp")
pytest.importorskip("opacus")

import jumeau
from jumeau import Cohort
from jumeau.dp.mechanisms import BudgetTooSmallError, epsilon_of
from jumeau.errors import JumeauError
from jumeau.generators import make_generator
from jumeau.generators.neural.private_training import composed_epsilon, noise_for_budget

FAST = {"epochs": 3, "hidden_dim": 16, "latent_dim": 3}


def test_the_sketches_enter_the_accountant_as_the_gaussian_step_of_their_rho() -> None:
    """ρ-zCDP is (α, αρ)-RDP: alone, the sketches' ε by the RDP accountant is at least OpenDP's
    (tighter) conversion and close to it; DP-SGD steps add to it, more noise adds less."""
    rho, delta = 0.05, 1e-6
    alone = composed_epsilon(rho, 1.0, 0.1, 0, delta)
    assert epsilon_of(rho, delta) <= alone <= 1.25 * epsilon_of(rho, delta)
    assert composed_epsilon(rho, 1.0, 0.1, 100, delta) > composed_epsilon(rho, 4.0, 0.1, 100, delta)
    assert composed_epsilon(rho, 4.0, 0.1, 100, delta) > alone


def test_the_noise_is_the_least_that_keeps_the_total_within_epsilon() -> None:
    rho, delta, rate, steps = 0.02, 1e-5, 0.125, 400
    noise = noise_for_budget(3.0, delta, rho, rate, steps)
    assert composed_epsilon(rho, noise, rate, steps, delta) <= 3.0 + 1e-9
    assert composed_epsilon(rho, 0.97 * noise, rate, steps, delta) > 3.0
    assert noise_for_budget(10.0, delta, rho, rate, steps) < noise
    with pytest.raises(BudgetTooSmallError, match="cannot pay for 400 DP-SGD steps"):
        noise_for_budget(0.05, delta, 0.5, rate, steps)  # the sketches alone exceed it


def test_a_dp_vae_file_holds_no_rare_training_value_and_records_its_guarantee(
    gbsg2: Cohort,
    tmp_path: Path,
    found_in_file: Callable[[Path, Cohort], list[str]],
    model_header: Callable[[Path], dict[str, Any]],
) -> None:
    from test_private_copula import _with_public_bounds  # the same public ranges

    cohort = _with_public_bounds(gbsg2)
    fitted = make_generator("vae", epsilon=5.0, **FAST).fit(cohort, seed=0, progress=False)
    path = fitted.save(tmp_path / "dp-vae.jumeau")
    header = model_header(path)
    assert header["personal_data"] is False
    record = header["differential_privacy"]
    assert record["spent_epsilon"] <= 5.0 + 1e-9 and record["steps"] == 3 * 11
    assert "Opacus" in record["mechanism"] and "RDP" in record["accountant"]
    assert header["training"]["sha256"].startswith("withheld")
    rare = found_in_file(path, cohort)
    # no network weight holds one; gbsg2's whole numbers can meet the public grids' round edges
    # in the encoder (the copula's test checks the encoder strictly, on breast_cancer)
    assert all(hit.split(" in ")[1].startswith("encoder.") for hit in rare)
    sample = jumeau.load(path).sample(100, seed=1)
    assert sample.validate().share_valid == 1.0
    assert np.isfinite(sample.data["age"].astype(float)).all()


def test_the_rhvae_refuses_a_private_fit_in_one_line() -> None:
    with pytest.raises(JumeauError, match="rhvae generator has no differentially private fit"):
        make_generator("rhvae", epsilon=1.0)
