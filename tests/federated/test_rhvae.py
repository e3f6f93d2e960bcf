"""The federated RHVAE: networks averaged, per-patient codes kept at their sites, geometry-aware
patients drawn and filtered where the codes are."""

from __future__ import annotations

import pytest
import torch

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.federated.config import FederatedConfig
from jumeau.federated.coordinator import Coordinator, FederatedFit
from jumeau.federated.local import run_locally
from jumeau.federated.messages import Reply
from jumeau.federated.site import Site
from jumeau.generators.rhvae.model import RHVAE

from .conftest import Inspector

SMALL = {"hidden_dim": 16, "latent_dim": 3, "flow_epochs": 2, "epochs": 3}


@pytest.fixture(scope="module")
def federated_rhvae(gbsg2: Cohort, grade_sites: list[Site]) -> tuple[FederatedFit, list[Reply]]:
    replies: list[Reply] = []
    settings = FederatedConfig(rounds=2, local_epochs=1)
    coordinator = Coordinator(gbsg2.schema, "rhvae", seed=0, settings=settings, artificial=120,
                              **SMALL)  # fmt: skip
    fit = run_locally(coordinator, grade_sites, on_reply=replies.append)
    # check, bounds (DP sketches, gbsg2 has unwritten ranges), sketch; 2 + 2 training; sampling
    assert len(fit.traffic) == coordinator.max_rounds == 3 + 2 + 2 + 1
    return fit, replies


def test_two_phases_then_site_sampling(federated_rhvae: tuple[FederatedFit, list[Reply]]) -> None:
    fit, _ = federated_rhvae
    phases = [t.task for t in fit.traffic]
    assert phases == ["check", "bounds", "sketch", *["neural-train"] * 4, "rhvae-sample"]
    model = fit.generator
    assert isinstance(model, RHVAE)
    assert len(model.warmup_history_.validation_loss) == 2
    assert len(model.history_.validation_loss) == 2


def test_the_server_model_holds_no_patient_code(
    tmp_path, federated_rhvae: tuple[FederatedFit, list[Reply]]
) -> None:
    from jumeau.generators import load_generator

    model = federated_rhvae[0].generator
    assert isinstance(model, RHVAE)
    assert model.centroids_.shape[0] == 0 and model.matrices_.shape[0] == 0
    assert model.config.sampler == "prior"
    assert model.sample(50, seed=0).validate().ok
    with pytest.raises(JumeauError, match="holds no training codes"):
        model.sample(5, seed=0, sampler="geometry")
    loaded = load_generator(model.save(tmp_path / "federated-rhvae.jumeau"))
    assert isinstance(loaded, RHVAE) and loaded.centroids_.shape[0] == 0
    assert torch.equal(loaded.module_.decoder[0].weight, model.module_.decoder[0].weight)


def test_sites_draw_and_filter_their_share(
    federated_rhvae: tuple[FederatedFit, list[Reply]], grade_sites: list[Site]
) -> None:
    fit, _ = federated_rhvae
    assert fit.artificial is not None and fit.artificial.artificial
    assert 100 <= len(fit.artificial) <= 120
    assert fit.artificial.validate().ok
    sizes = {site.name: len(site.frame) for site in grade_sites}
    assert set(fit.site_sampling) == set(sizes)
    for name, counts in fit.site_sampling.items():
        assert counts["drawn"] >= round(120 * sizes[name] / sum(sizes.values()))
        assert counts["removed"] >= 0 and counts["short"] >= 0


def test_training_messages_carry_no_patient(
    federated_rhvae: tuple[FederatedFit, list[Reply]],
    grade_sites: list[Site],
    no_patient_in: Inspector,
) -> None:
    """Weights and losses only during training; the sampling round carries artificial patients,
    none of them a copy of a real one."""
    _, replies = federated_rhvae
    training = [r for r in replies if "column.age" not in r.arrays]
    sampled = [r for r in replies if "column.age" in r.arrays]
    assert len(sampled) == len(grade_sites)
    no_patient_in(training, grade_sites)
    from .conftest import NUMBERS

    for reply in sampled:
        frame = next(s.frame for s in grade_sites if s.name == reply.site)
        real = {tuple(row) for row in frame[NUMBERS].astype(float).to_numpy()}
        drawn = zip(*(reply.arrays[f"column.{name}"] for name in NUMBERS), strict=True)
        assert not real & {tuple(row) for row in drawn}


def test_artificial_patients_only_from_the_rhvae(gbsg2: Cohort) -> None:
    with pytest.raises(JumeauError, match="only for rhvae"):
        Coordinator(gbsg2.schema, "vae", artificial=10)
