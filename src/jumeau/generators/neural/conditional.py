"""Conditional draws of missing values from a fitted VAE or RHVAE, by importance resampling.

The model gives p(x | z) and the prior p(z) = N(0, I); what imputation needs is
p(x_missing | x_observed) = ∫ p(x_missing | z) p(z | x_observed) dz. The encoder q(z | x), fed the
observed values (missing numbers zero-filled and masked, as in training), proposes K codes; each is
weighted by w = p(x_observed | z) p(z) / q(z | x_observed), with the per-type likelihood counting
observed entries only; one code is resampled by weight and the missing values are drawn from the
decoder at that code (sampling importance resampling, as MIWAE — Mattei & Frellsen, ICML 2019 —
does for its multiple imputation). The weights correct the proposal, so the same code serves the
RHVAE, whose encoder only starts its flow: its prior is N(0, I) too.

Each completed copy gets fresh proposals, so the copies differ by the full conditional spread (a
shared set of K codes resampled m times would repeat codes when the weights are uneven and make
between-imputation variance too small). The effective sample size of the weights is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from jumeau.generators.neural.likelihood import Likelihood

if TYPE_CHECKING:  # the VAE imports this module
    from jumeau.generators.vae.model import VAEModule

ROWS_PER_CHUNK = 128


@dataclass(frozen=True)
class ImportanceDiagnostics:
    """Effective sample size of the importance weights (out of `proposals`), over rows × copies."""

    proposals: int
    mean_ess: float
    low_ess: float  # 5th percentile

    def as_dict(self) -> dict[str, float]:
        return {
            "proposals": float(self.proposals),
            "mean_effective_sample_size": self.mean_ess,
            "p5_effective_sample_size": self.low_ess,
        }


@torch.no_grad()
def importance_draws(
    module: VAEModule,
    likelihood: Likelihood,
    matrix: np.ndarray,
    mask: np.ndarray,
    m: int,
    rng: np.random.Generator,
    *,
    proposals: int,
    forbidden: np.ndarray,
) -> tuple[np.ndarray, ImportanceDiagnostics]:
    """`m` encoded draws per row (shape m × rows × width); observed entries are re-drawn too —
    the caller keeps only the missing cells."""
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    x_all = torch.as_tensor(matrix, dtype=torch.float32)
    mask_all = torch.as_tensor(mask, dtype=torch.float32)
    draws = np.zeros((m, *matrix.shape), dtype=np.float32)
    ess: list[Tensor] = []
    for start in range(0, len(matrix), ROWS_PER_CHUNK):
        x = x_all[start : start + ROWS_PER_CHUNK]
        observed = mask_all[start : start + ROWS_PER_CHUNK]
        mean, logvar = module.encode(x)
        std = torch.exp(0.5 * logvar)
        for copy in range(m):
            eps = torch.randn(
                (x.shape[0], proposals, mean.shape[-1]), generator=generator, dtype=mean.dtype
            )
            z = mean[:, None, :] + std[:, None, :] * eps
            params = module.decode(z)
            log_likelihood = likelihood.log_prob(params, x[:, None, :], observed[:, None, :])
            # log N(z; 0, I) − log q(z | x); the 2π constants cancel
            log_weight = (
                log_likelihood
                - 0.5 * z.pow(2).sum(-1)
                + 0.5 * eps.pow(2).sum(-1)
                + 0.5 * logvar.sum(-1, keepdim=True)
            )
            weights = torch.softmax(log_weight, dim=1)
            ess.append(1.0 / weights.pow(2).sum(1))
            chosen = torch.multinomial(weights, 1, generator=generator).squeeze(-1)
            picked = params[torch.arange(x.shape[0]), chosen]
            drawn = likelihood.sample(picked, generator, forbidden=forbidden.tolist())
            draws[copy, start : start + x.shape[0]] = drawn.numpy()
    sizes = torch.cat(ess).numpy() if ess else np.array([float(proposals)])
    diagnostics = ImportanceDiagnostics(
        proposals=proposals,
        mean_ess=float(sizes.mean()),
        low_ess=float(np.percentile(sizes, 5)),
    )
    return draws, diagnostics
