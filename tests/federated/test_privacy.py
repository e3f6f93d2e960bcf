"""Differential privacy at the sites: DP-SGD (Opacus) with the ε each site spends."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.federated.config import FederatedConfig
from jumeau.federated.coordinator import Coordinator
from jumeau.federated.local import run_locally
from jumeau.federated.messages import Reply
from jumeau.federated.site import Site

pytest.importorskip("opacus")
SMALL = {"hidden_dim": 16, "latent_dim": 3}


def _fit(gbsg2: Cohort, sites: list[Site], noise: float, rounds: int = 2) -> tuple:
    replies: list[Reply] = []
    settings = FederatedConfig(rounds=rounds, local_epochs=1, dp_noise_multiplier=noise)
    coordinator = Coordinator(gbsg2.schema, "vae", seed=0, settings=settings, **SMALL)
    return run_locally(coordinator, sites, on_reply=replies.append), replies


def test_each_site_reports_the_epsilon_it_spent(gbsg2: Cohort, grade_sites: list[Site]) -> None:
    fit, replies = _fit(gbsg2, grade_sites, noise=1.0)
    assert set(fit.epsilon) == {site.name for site in grade_sites}
    assert all(0 < value < math.inf for value in fit.epsilon.values())
    assert fit.summary()["epsilon"] == fit.epsilon
    training = [r for r in replies if "epsilon" in r.meta]
    assert training and all(set(r.meta) == {"epsilon", "steps"} for r in training)  # no loss
    first, last = training[0], training[-1]
    assert last.meta["epsilon"] > first.meta["epsilon"]  # ε accumulates over rounds


def test_more_noise_spends_less_epsilon(gbsg2: Cohort, grade_sites: list[Site]) -> None:
    noisy, _ = _fit(gbsg2, grade_sites, noise=3.0)
    light, _ = _fit(gbsg2, grade_sites, noise=0.7)
    for site in grade_sites:
        assert noisy.epsilon[site.name] < light.epsilon[site.name]


def test_under_dp_every_round_runs_and_the_model_samples(
    gbsg2: Cohort, random_sites: list[Site]
) -> None:
    fit, _ = _fit(gbsg2, random_sites, noise=1.0, rounds=3)
    history = fit.generator.history_
    assert len(history.validation_loss) == 3 and all(np.isnan(history.validation_loss))
    assert fit.generator.sample(100, seed=0).validate().ok


def test_dp_is_offered_for_the_vae_only(gbsg2: Cohort, random_sites: list[Site]) -> None:
    settings = FederatedConfig(rounds=1, dp_noise_multiplier=1.0)
    coordinator = Coordinator(gbsg2.schema, "rhvae", settings=settings, **SMALL)
    with pytest.raises(JumeauError, match="vae only"):
        run_locally(coordinator, random_sites)
