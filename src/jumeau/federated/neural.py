"""The mixed-type VAE (and the RHVAE's networks), federated by FedAdam, FedAvg or FedProx.

Each round the server sends the global weights; each site first scores them on its own
validation patients (the server's early stopping reads the size-weighted mean of these losses),
then trains a few local epochs from them — with FedProx, a proximal term μ/2‖w − w_global‖² keeps
sites whose patients differ from drifting apart — and sends its weights back. The server combines
them, each site weighted by its training patients and its update normalised by its local steps
(FedNova), either as the new weights (FedAvg, McMahan et al. 2017; FedProx, Li et al. 2020) or as
a pseudo-gradient for its own Adam (FedAdam, Reddi et al. 2021).

Only network weights, the number of local steps and two mean losses leave a site (under DP-SGD,
the ε spent instead of the losses).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Generator as Coroutine
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel
from torch import Tensor

from jumeau.federated.context import read_context
from jumeau.federated.messages import Instruction, Reply
from jumeau.federated.site import Site, State
from jumeau.generators.neural.training import TrainingHistory, run_epoch, split_validation
from jumeau.generators.registry import generator_class
from jumeau.generators.vae.model import VAE

WEIGHT_PREFIX = "module."  # how `VAE._state` names the networks' weights


def neural_protocol(
    model: VAE,
    context: tuple[dict[str, np.ndarray], dict[str, Any]],
    *,
    rounds: int,
    local_epochs: int,
    proximal_mu: float,
    patience: int,
    server_learning_rate: float | None = None,
    local_learning_rate: float,
    phase: str | None = None,
    privacy: dict[str, float] | None = None,
) -> Coroutine[Instruction, list[Reply], dict[str, float]]:
    """Train `model` (built: encoder, schema and module set) by FedAdam / FedAvg / FedProx
    rounds; the weights with the best validation loss across sites are kept (early stopping by
    rounds). With `privacy` (DP-SGD settings) sites report no loss: every round runs and the
    last weights are kept. Returns the ε each site reported last (empty without privacy)."""
    arrays, meta = context
    meta = meta | {
        "local_epochs": local_epochs,
        "proximal_mu": proximal_mu,
        "local_optimizer": "adamw" if server_learning_rate is None else "sgd",
        "local_learning_rate": local_learning_rate,
        "phase": phase,
        "privacy": privacy,
    }
    spent: dict[str, float] = {}
    server = None
    if server_learning_rate is not None:
        server = torch.optim.Adam(
            model.module_.parameters(), lr=server_learning_rate, betas=(0.9, 0.99)
        )
    history = TrainingHistory()
    best, best_state = math.inf, copy.deepcopy(model.module_.state_dict())
    for round_ in range(rounds):
        weights, network = network_message(model)
        replies = yield Instruction(
            "neural-train",
            round_,
            arrays | weights,
            meta | network | {"epoch_offset": round_ * local_epochs},
        )
        if privacy is not None:
            spent = {r.site: float(r.meta["epsilon"]) for r in replies}
            history.train_loss.append(math.nan)
            history.validation_loss.append(math.nan)
            _apply_update(model, server, _averaged(replies, weights))
            continue
        validation = _weighted(
            [r.meta["validation_loss"] for r in replies],
            [r.meta["validation_rows"] for r in replies],
        )
        history.validation_loss.append(validation)
        history.train_loss.append(
            _weighted([r.meta["train_loss"] for r in replies], [r.n for r in replies])
        )
        if math.isfinite(validation) and validation < best - 1e-4 * abs(
            best if math.isfinite(best) else 1.0
        ):
            best, history.best_epoch = validation, round_
            best_state = {
                k.removeprefix(WEIGHT_PREFIX): torch.as_tensor(v) for k, v in weights.items()
            }
        elif round_ - history.best_epoch >= patience:
            history.stopped_early = True
            break
        _apply_update(model, server, _averaged(replies, weights))
    if privacy is None:
        model.module_.load_state_dict(best_state)
    model.module_.eval()
    if phase == "vae":  # the RHVAE's warm-up, as its central fit records it
        model.warmup_history_ = history  # type: ignore[attr-defined]
    else:
        model.history_ = history
    return spent


def network_message(
    model: VAE, config: BaseModel | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The networks as they travel: their weights (the arrays `VAE._state` saves, copied — the
    server goes on training; an RHVAE's per-patient codes are not among them) and what a site
    needs to rebuild them (the model's name, hyper-parameters and sizes)."""
    dims, arrays = VAE._state(model)
    weights = {name: array.copy() for name, array in arrays.items()}
    return weights, {
        "model": model.name,
        "config": (config or model.config).model_dump(),
        "dims": dims,
    }


def _apply_update(
    model: VAE, server: torch.optim.Optimizer | None, averaged: dict[str, Tensor]
) -> None:
    if server is None:  # FedAvg / FedProx: the weighted mean is the new global model
        model.module_.load_state_dict(averaged)
        return
    for name, parameter in model.module_.named_parameters():  # FedAdam: a pseudo-gradient
        parameter.grad = parameter.detach() - averaged[name]
    server.step()


def _weighted(values: list[float], weights: list[int]) -> float:
    total = float(sum(weights))
    return (
        float(sum(v * w for v, w in zip(values, weights, strict=True)) / total)
        if total
        else math.nan
    )


def _averaged(
    replies: list[Reply], start: dict[str, np.ndarray] | None = None
) -> dict[str, Tensor]:
    """The sites' weights combined, each site weighted by its training patients.

    Plain FedAvg averages the weights; a site that took more local steps (a larger hospital:
    more batches per epoch) then moves the average more than its share of patients — its
    influence grows as patients × steps, and a small hospital's patients are under-represented.
    When the sites report their steps and `start` (the weights they started from) is given, each
    site's update is first divided by its steps and the mean per-step update is scaled by the
    mean number of steps (FedNova, Wang et al. 2020): every patient then counts alike."""
    total = float(sum(r.n for r in replies))
    shares = [r.n / total for r in replies]
    steps = [float(r.meta.get("steps", 0)) for r in replies]
    normalised = start is not None and all(k > 0 for k in steps)
    averaged = {}
    for name in replies[0].arrays:
        dtype = replies[0].arrays[name].dtype
        if normalised:
            assert start is not None
            origin = start[name].astype(np.float64)
            per_step = sum(
                (r.arrays[name].astype(np.float64) - origin) * (share / k)
                for r, share, k in zip(replies, shares, steps, strict=True)
            )
            mean_steps = sum(share * k for share, k in zip(shares, steps, strict=True))
            value = origin + mean_steps * per_step
        else:
            value = np.sum(
                [
                    r.arrays[name].astype(np.float64) * w
                    for r, w in zip(replies, shares, strict=True)
                ],
                axis=0,
            )
        averaged[name.removeprefix(WEIGHT_PREFIX)] = torch.as_tensor(np.asarray(value, dtype=dtype))
    return averaged


# ---------------------------------------------------------------------- site
def site_model(
    site: Site, instruction: Instruction
) -> tuple[VAE, Tensor, Tensor, np.ndarray, np.ndarray]:
    """The global model as the instruction describes it, the site's patients encoded, and its
    fixed train / validation split (the same rows every round)."""
    meta = instruction.meta
    schema, encoder = read_context(instruction.arrays, meta)
    model = generator_class(meta["model"])(**meta["config"])
    if not isinstance(model, VAE):
        raise TypeError(f"{meta['model']} is not a neural generator")
    model.encoder_, model.schema_ = encoder, encoder.schema_
    VAE._load_state(model, meta["dims"], instruction.arrays)  # networks only (no RHVAE codes)
    matrix, mask = encoder.transform(site.cohort(schema).data)
    train_rows, validation_rows = split_validation(
        len(matrix), model.config.validation_share, site.rng(0, "validation split")
    )
    return model, torch.as_tensor(matrix), torch.as_tensor(mask), train_rows, validation_rows


def site_train(site: Site, instruction: Instruction, state: State) -> Reply:
    """Score the global weights on the site's validation patients, then train local epochs."""
    meta = instruction.meta
    model, x, m, train_rows, validation_rows = site_model(site, instruction)
    phase = meta.get("phase")
    if phase:
        model._phase = phase  # type: ignore[attr-defined]
    config = model.config
    seed = int(site.rng(instruction.round, "training").integers(2**62))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        privacy = meta.get("privacy")
        validation_loss = math.nan  # under DP no loss is sent: it is computed from patients
        if privacy is None:
            model.module_.eval()  # no `no_grad`: the RHVAE's flow differentiates in its loss
            scored = model._loss(x[validation_rows], m[validation_rows], None)
            validation_loss = float(scored.detach())
        start = [p.detach().clone() for p in model.module_.parameters()]
        mu = float(meta["proximal_mu"])

        def proximal() -> Tensor:
            pairs = zip(model.module_.parameters(), start, strict=True)
            return 0.5 * mu * torch.stack([(p - p0).pow(2).sum() for p, p0 in pairs]).sum()

        rate = float(meta["local_learning_rate"])
        optimiser: torch.optim.Optimizer
        if meta["local_optimizer"] == "sgd":
            optimiser = torch.optim.SGD(model.module_.parameters(), lr=rate)
        else:
            optimiser = torch.optim.AdamW(
                model.module_.parameters(), lr=rate, weight_decay=config.weight_decay
            )
            _restore_optimiser(optimiser, state)
        generator = torch.Generator().manual_seed(seed)
        losses, steps = [], 0
        size = getattr(config, "flow_batch_size", config.batch_size) if phase == "flow" else None
        batch_size = max(2, min(size or config.batch_size, len(train_rows)))
        if privacy is not None:
            from jumeau.federated.privacy import private_epochs

            epsilon, steps = private_epochs(
                model, x[train_rows], m[train_rows], optimiser,
                epochs=int(meta["local_epochs"]), epoch_offset=int(meta["epoch_offset"]),
                batch_size=batch_size, noise_multiplier=privacy["noise_multiplier"],
                max_grad_norm=privacy["max_grad_norm"], delta=privacy["delta"], state=state,
            )  # fmt: skip
            return _weights_reply(
                site, model, len(train_rows), {"epsilon": epsilon, "steps": steps}
            )
        for epoch in range(int(meta["local_epochs"])):
            loss, applied, _ = run_epoch(
                model.module_, model._loss, x[train_rows], m[train_rows], optimiser,
                batch_size=batch_size, clip_norm=config.clip_norm,
                epoch=int(meta["epoch_offset"]) + epoch, generator=generator,
                penalty=proximal if mu > 0 else None,
            )  # fmt: skip
            losses.append(loss)
            steps += applied
    if isinstance(optimiser, torch.optim.AdamW):
        _keep_optimiser(optimiser, state)
    return _weights_reply(
        site, model, len(train_rows),
        {"train_loss": float(np.nanmean(losses)) if losses else math.nan,
         "validation_loss": validation_loss, "validation_rows": len(validation_rows),
         "steps": steps},
    )  # fmt: skip


def _weights_reply(site: Site, model: VAE, n: int, meta: dict[str, Any]) -> Reply:
    return Reply(site.name, n, network_message(model)[0], meta)


def _keep_optimiser(optimiser: torch.optim.Optimizer, state: State) -> None:
    """Adam's moment estimates stay at the site from one round to the next (a fresh optimiser
    every round takes full-size first steps from every global model, which makes FedAvg noisy on
    small sites); they are per-parameter averages of gradients and never leave the site."""
    for index, values in optimiser.state_dict()["state"].items():
        for key, value in values.items():
            state[f"adam.{index}.{key}"] = torch.as_tensor(value).detach().numpy().copy()


def _restore_optimiser(optimiser: torch.optim.Optimizer, state: State) -> None:
    saved: dict[int, dict[str, Tensor]] = {}
    for name, value in state.items():
        if name.startswith("adam."):
            _, index, key = name.split(".", 2)
            saved.setdefault(int(index), {})[key] = torch.as_tensor(value)
    if saved:
        current = optimiser.state_dict()
        optimiser.load_state_dict({"state": saved, "param_groups": current["param_groups"]})
