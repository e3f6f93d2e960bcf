"""Differential privacy at each site: DP-SGD (Opacus) for the local epochs of the VAE.

Each site clips every patient's gradient to `max_grad_norm` and adds Gaussian noise of
`noise_multiplier × max_grad_norm` to each batch's sum (Abadi et al. 2016), with Poisson-sampled
batches; Opacus's Rényi accountant turns the site's whole history — every round's steps at that
noise and sampling rate — into the (ε, δ) the site has spent, which it reports each round.

What DP-SGD covers: everything the networks learn from a site. What it does not cover: the column
sketches that build the shared encoder (interpolated quantiles and level counts), sent once before
training. And, because a validation loss is itself computed from patients, sites under DP report
no loss at all: training runs its full number of rounds and keeps the last weights. The noise
comes from fresh entropy (never from the run's seed, which others could re-derive), so DP runs
are not bit-for-bit reproducible; Opacus's CSPRNG mode needs torchcsprng, which is not installed —
use it for production releases if your threat model requires it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from jumeau.errors import JumeauError
from jumeau.federated.site import State
from jumeau.generators.neural.private_training import dp_sgd_epochs
from jumeau.generators.vae.model import VAE

STEPS_KEY = "dp.steps"


def private_epochs(
    model: VAE,
    x: Tensor,
    m: Tensor,
    optimiser: torch.optim.Optimizer,
    *,
    epochs: int,
    epoch_offset: int,
    batch_size: int,
    noise_multiplier: float,
    max_grad_norm: float,
    delta: float,
    state: State,
) -> tuple[float, int]:
    """Train `epochs` DP-SGD epochs on (x, m); returns the ε this site has spent so far and the
    steps taken this round (the pooled DP fit's DP-SGD, `dp_sgd_epochs`, on the site's data)."""
    try:
        from opacus.accountants import RDPAccountant
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise JumeauError(
            "differential privacy needs Opacus: pip install 'jumeau[federated]'"
        ) from error
    if type(model).__name__ != "VAE":
        raise JumeauError(f"differential privacy is available for the vae only, not {model.name}")
    steps = dp_sgd_epochs(
        model, x, m, optimiser, epochs=epochs, batch_size=batch_size,
        noise_multiplier=noise_multiplier, max_grad_norm=max_grad_norm, epoch_offset=epoch_offset,
    )  # fmt: skip
    total = steps_total(state, STEPS_KEY, steps)
    accountant = RDPAccountant()
    accountant.history = [(noise_multiplier, batch_size / len(x), int(total))]
    return (float(accountant.get_epsilon(delta)) if total else 0.0), steps


def steps_total(state: State, key: str, taken: int) -> int:
    """A site's DP-SGD steps over its whole history (kept in its state between rounds): what
    its accountant composes."""
    total = int(state.get(key, np.zeros(1))[0]) + taken
    state[key] = np.array([total])
    return total
