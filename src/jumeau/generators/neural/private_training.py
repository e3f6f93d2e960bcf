"""The VAE fitted under (ε, δ)-differential privacy: DP marginals, then DP-SGD (Opacus).

1. **Marginals** (`SKETCH_SHARE` of the budget's ρ): every column's noisy sketch builds the
   encoder (`generators/private_marginals.py`, the DP copula's release).
2. **Networks**: DP-SGD (Abadi et al. 2016) through Opacus — every patient's gradient clipped to
   `dp_max_grad_norm`, Gaussian noise of σ × that norm on each batch's sum, Poisson-sampled
   batches — for a fixed number of epochs (`DP_EPOCHS` at most: no early stopping, since a
   validation loss is itself computed from patients). σ is the smallest noise multiplier whose
   composition with the sketches stays within ε.

Accounting: Opacus's Rényi accountant composes both. A ρ-zCDP release is (α, αρ)-RDP for every
α, exactly a full-batch Gaussian step of noise multiplier √(1/(2ρ)), so the sketches enter the
accountant's history as that one step beside the DP-SGD steps; the reported ε is the
accountant's conversion at δ. The noise draws fresh entropy (never the recorded seed).
"""

from __future__ import annotations

import math
import secrets
import warnings
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from jumeau.data.cohort import Cohort
from jumeau.dp.mechanisms import BudgetTooSmallError, noise_scale, rho_for
from jumeau.errors import JumeauError
from jumeau.generators.private_config import default_delta
from jumeau.generators.private_marginals import private_marginals, released_rows

if TYPE_CHECKING:
    from jumeau.generators.vae.model import VAE

SKETCH_SHARE = 0.3  # of ρ: the rest of ε buys the DP-SGD steps
DP_EPOCHS = 60
NOISE_RANGE = (0.3, 500.0)  # noise multipliers searched
MECHANISM = (
    "OpenDP: Gaussian noise on the columns' level, missing and histogram counts; Opacus DP-SGD "
    "(per-patient clipping, Gaussian noise, Poisson sampling) for the networks"
)
ACCOUNTANT = (
    "Rényi DP (Opacus RDP accountant) over the sketches (one full-batch Gaussian step of the "
    "same ρ) and the DP-SGD steps, converted to (ε, δ)"
)


def composed_epsilon(
    rho_sketches: float, noise: float, sample_rate: float, steps: int, delta: float
) -> float:
    """ε at `delta` of the sketches' ρ-zCDP release followed by `steps` DP-SGD steps."""
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    accountant.history = [(noise_scale(rho_sketches), 1.0, 1)]
    if steps:
        accountant.history.append((noise, sample_rate, steps))
    return float(accountant.get_epsilon(delta))


def noise_for_budget(
    epsilon: float, delta: float, rho_sketches: float, sample_rate: float, steps: int
) -> float:
    """The smallest DP-SGD noise multiplier whose composition with the sketches stays within ε
    (bisection on the accountant's ε, which falls as the noise grows)."""
    low, high = NOISE_RANGE
    if composed_epsilon(rho_sketches, high, sample_rate, steps, delta) > epsilon:
        raise BudgetTooSmallError(
            f"ε = {epsilon:g} cannot pay for {steps} DP-SGD steps on so few patients; raise "
            "--epsilon or use the copula, whose DP fit needs no training steps"
        )
    for _ in range(50):
        middle = math.sqrt(low * high)
        if composed_epsilon(rho_sketches, middle, sample_rate, steps, delta) > epsilon:
            low = middle
        else:
            high = middle
    return high


def fit_private_vae(model: VAE, cohort: Cohort, *, seed: int, progress: bool) -> None:
    """Fit `model` (its config holds ε and optionally δ) on `cohort` under DP; see module."""
    if model.name != "vae":
        raise JumeauError(
            f"the {model.name} generator has no differentially private fit yet (its geometry "
            "sampler keeps patients' codes); use --model vae or copula with --epsilon"
        )
    epsilon = float(model.config.epsilon or 0.0)
    delta = model.config.delta or default_delta(len(cohort))
    rho_sketches = SKETCH_SHARE * rho_for(epsilon, delta)
    marginals = private_marginals(cohort, epsilon=epsilon, delta=delta, share=SKETCH_SHARE)
    model.encoder_, model.schema_ = marginals.encoder, marginals.encoder.schema_
    matrix, mask = model.encoder_.transform(cohort.data, unseen_missing=True)
    rows = len(matrix)
    batch = max(2, min(model.config.batch_size, rows // 2))
    epochs = min(model.config.epochs, DP_EPOCHS)
    # Opacus's Poisson loader: len(loader) batches an epoch, each patient in one with
    # probability 1/len(loader) (an empty batch is skipped, which spends less than counted)
    per_epoch = math.ceil(rows / batch)
    sample_rate, steps = 1.0 / per_epoch, epochs * per_epoch
    noise = noise_for_budget(epsilon, delta, rho_sketches, sample_rate, steps)
    with torch.random.fork_rng():  # the initial weights follow the seed; the noise does not
        torch.manual_seed(seed)
        model._build(matrix.shape[1], rows)
        x, m = torch.as_tensor(matrix), torch.as_tensor(mask)
        optimiser = torch.optim.Adam(model.module_.parameters(), lr=model.config.learning_rate)
        taken = dp_sgd_epochs(
            model, x, m, optimiser, epochs=epochs, batch_size=batch, noise_multiplier=noise,
            max_grad_norm=model.config.dp_max_grad_norm, progress=progress,
        )  # fmt: skip
        model._after_training(x, m)
    model.module_.eval()
    model.training_rows_ = released_rows(marginals.sketches)
    model.privacy_ = {
        "epsilon": epsilon,
        "delta": delta,
        "rho_sketches": rho_sketches,
        "noise_multiplier": noise,
        "sample_rate": sample_rate,
        "steps": steps,
        "steps_applied": taken,
        "spent_epsilon": composed_epsilon(rho_sketches, noise, sample_rate, steps, delta),
        "max_grad_norm": model.config.dp_max_grad_norm,
        "mechanism": MECHANISM,
        "accountant": ACCOUNTANT,
    }


def dp_sgd_epochs(
    model: Any,
    x: Tensor,
    m: Tensor,
    optimiser: torch.optim.Optimizer,
    *,
    epochs: int,
    batch_size: int,
    noise_multiplier: float,
    max_grad_norm: float,
    epoch_offset: int = 0,
    progress: bool = False,
) -> int:
    """`epochs` of DP-SGD on (x, m) through Opacus with `optimiser` (the pooled fit's own Adam,
    or a federated site's, kept across rounds), minimising `model._loss`; returns the steps
    taken. Batches are Poisson-sampled and the noise drawn from fresh entropy: a seed anyone can
    re-derive would let the noise be subtracted."""
    from opacus import PrivacyEngine
    from rich.progress import Progress

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
        with warnings.catch_warnings(), Progress(disable=not progress, transient=True) as bar:
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            task = bar.add_task("DP-SGD", total=epochs)
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
                bar.update(task, advance=1)
    finally:
        module._close()  # remove Opacus's hooks: the module goes back to plain use
    return steps
