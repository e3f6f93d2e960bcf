"""The federated VAE: FedAvg arithmetic, FedProx's pull, FedAdam, early stopping, site state."""

from __future__ import annotations

import math

import numpy as np
import torch

from jumeau.data.cohort import Cohort
from jumeau.federated.config import FederatedConfig
from jumeau.federated.coordinator import Coordinator
from jumeau.federated.local import run_locally
from jumeau.federated.messages import Instruction, Reply
from jumeau.federated.neural import WEIGHT_PREFIX, _averaged
from jumeau.federated.site import Site
from jumeau.generators.vae.model import VAE

SMALL = {"hidden_dim": 16, "latent_dim": 3}


def test_fedavg_weighs_each_site_by_its_patients() -> None:
    replies = [
        Reply("a", 10, {"module.w": np.array([1.0, 0.0], dtype=np.float32)}),
        Reply("b", 30, {"module.w": np.array([5.0, 4.0], dtype=np.float32)}),
    ]
    averaged = _averaged(replies)
    assert torch.allclose(averaged["w"], torch.tensor([4.0, 3.0]))
    assert averaged["w"].dtype == torch.float32


def test_fednova_counts_every_patient_alike_whatever_the_local_steps() -> None:
    """A large site that took 3 steps and a small one that took 1: plain averaging lets the
    large site's update count 3 × per patient; normalised by steps, each patient counts once."""
    start = {"module.w": np.array([0.0], dtype=np.float32)}
    replies = [
        Reply("small", 10, {"module.w": np.array([2.0], dtype=np.float32)}, {"steps": 1}),
        Reply("large", 30, {"module.w": np.array([3.0], dtype=np.float32)}, {"steps": 3}),
    ]
    # per-step updates 2 and 1, weighted 1/4 and 3/4: 1.25 per step, times 2.5 mean steps
    assert torch.allclose(_averaged(replies, start)["w"], torch.tensor([3.125]))
    assert torch.allclose(_averaged(replies)["w"], torch.tensor([2.75]))  # plain FedAvg


def _first_training_instruction(gbsg2: Cohort, sites: list[Site], **settings) -> Instruction:
    coordinator = Coordinator(
        gbsg2.schema, "vae", seed=0, settings=FederatedConfig(**settings), **SMALL
    )
    while coordinator.instruction().task != "neural-train":
        instruction = coordinator.instruction()
        coordinator.absorb([site.handle(instruction, {}) for site in sites])
    return coordinator.instruction()


def _drift(reply: Reply, instruction: Instruction) -> float:
    return sum(
        float(np.abs(reply.arrays[k] - instruction.arrays[k]).sum())
        for k in reply.arrays
        if k.startswith(WEIGHT_PREFIX)
    )


def test_fedprox_keeps_a_site_near_the_global_weights(
    gbsg2: Cohort, grade_sites: list[Site]
) -> None:
    free = _first_training_instruction(gbsg2, grade_sites, strategy="fedavg", local_epochs=3)
    held = _first_training_instruction(
        gbsg2, grade_sites, strategy="fedprox", proximal_mu=50.0, local_epochs=3
    )
    site = grade_sites[1]
    assert free.meta["proximal_mu"] == 0.0 and held.meta["proximal_mu"] == 50.0
    drift_free = _drift(site.handle(free, {}), free)
    drift_held = _drift(site.handle(held, {}), held)
    assert drift_held < 0.7 * drift_free


def test_site_scores_the_global_weights_on_its_own_validation_patients(
    gbsg2: Cohort, grade_sites: list[Site]
) -> None:
    instruction = _first_training_instruction(gbsg2, grade_sites)
    site = grade_sites[0]
    reply = site.handle(instruction, {})
    assert math.isfinite(reply.meta["validation_loss"])
    assert reply.n + reply.meta["validation_rows"] == len(site.frame)
    assert set(reply.arrays) == {k for k in instruction.arrays if k.startswith(WEIGHT_PREFIX)}


def test_adam_moments_stay_at_the_site_between_rounds(
    gbsg2: Cohort, grade_sites: list[Site]
) -> None:
    instruction = _first_training_instruction(gbsg2, grade_sites, strategy="fedavg")
    state: dict[str, np.ndarray] = {}
    reply = grade_sites[1].handle(instruction, state)
    assert any(k.startswith("adam.") for k in state)
    assert not any(k.startswith("adam.") for k in reply.arrays)
    assert set(reply.meta) == {"train_loss", "validation_loss", "validation_rows", "steps"}
    assert reply.meta["steps"] == 2 * -(-reply.n // 64)  # 2 local epochs, batches of 64


def test_federated_vae_trains_stops_and_samples(gbsg2: Cohort, grade_sites: list[Site]) -> None:
    settings = FederatedConfig(rounds=6, patience=2, local_epochs=1)
    fit = run_locally(Coordinator(gbsg2.schema, "vae", seed=1, settings=settings, **SMALL),
                      grade_sites)  # fmt: skip
    model = fit.generator
    assert isinstance(model, VAE)
    history = model.history_
    assert 1 <= len(history.validation_loss) <= 6
    assert history.validation_loss[0] > min(history.validation_loss)  # training helped
    tasks = [t.task for t in fit.traffic]
    assert tasks[:3] == ["check", "bounds", "sketch"] and set(tasks[3:]) == {"neural-train"}
    assert fit.settings["strategy"] == "fedadam"
    drawn = model.sample(200, seed=0)
    assert drawn.validate().ok
    assert set(drawn.data["tgrade"].unique()) <= {"I", "II", "III"}


def test_fedavg_and_fedprox_run_end_to_end(gbsg2: Cohort, random_sites: list[Site]) -> None:
    for strategy in ("fedavg", "fedprox"):
        settings = FederatedConfig(strategy=strategy, rounds=2, local_epochs=1)
        fit = run_locally(Coordinator(gbsg2.schema, "vae", settings=settings, **SMALL),
                          random_sites)  # fmt: skip
        assert len(fit.generator.history_.validation_loss) == 2
        assert fit.summary()["bytes_from_sites"] > 0
