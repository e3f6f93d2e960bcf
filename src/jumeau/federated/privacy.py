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

import secrets
import warnings

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from jumeau.errors import JumeauError
from jumeau.federated.site import State
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
    steps taken this round."""
    try:
        from opacus import PrivacyEngine
        from opacus.accountants import RDPAccountant
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise JumeauError(
            "differential privacy needs Opacus: pip install 'jumeau[federated]'"
        ) from error
    if type(model).__name__ != "VAE":
        raise JumeauError(f"differential privacy is available for the vae only, not {model.name}")
    # The noise and the Poisson batches must be unpredictable: drawn from a seed that anyone
    # could re-derive (the run's seed, a site name), the noise could be subtracted again. So a DP
    # run takes fresh entropy here, and is not bit-for-bit reproducible — by design.
    generator = torch.Generator().manual_seed(secrets.randbits(63))
    loader = DataLoader(TensorDataset(x, m), batch_size=batch_size, generator=generator)
    model.module_.train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Opacus notes that its CSPRNG mode (torchcsprng) is off
        engine = PrivacyEngine(accountant="rdp", secure_mode=False)
        module, dp_optimiser, dp_loader = engine.make_private(
            module=model.module_, optimizer=optimiser, data_loader=loader,
            noise_multiplier=noise_multiplier, max_grad_norm=max_grad_norm,
            poisson_sampling=True, noise_generator=generator,
        )  # fmt: skip
    steps = 0
    try:
        with warnings.catch_warnings():
            # Opacus's hooks note that inputs need no gradient; benign here
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            module.train()
            for epoch in range(epochs):
                for batch_x, batch_m in dp_loader:
                    if len(batch_x) == 0:
                        continue
                    dp_optimiser.zero_grad(set_to_none=True)
                    loss = model._loss(batch_x, batch_m, epoch_offset + epoch)
                    if not torch.isfinite(loss):
                        continue
                    loss.backward()
                    dp_optimiser.step()
                    steps += 1
    finally:
        module._close()  # remove Opacus's hooks: the module goes back to plain use
    total = float(state.get(STEPS_KEY, np.zeros(1))[0]) + steps
    state[STEPS_KEY] = np.array([total])
    accountant = RDPAccountant()
    accountant.history = [(noise_multiplier, batch_size / len(x), int(total))]
    return (float(accountant.get_epsilon(delta)) if total else 0.0), steps
