"""Per-type likelihood of an encoded patient — not MSE on everything.

Numbers (normal scores) get a Gaussian whose mean and scale the decoder outputs, counted only
where the value was observed; categories (and present/missing indicators) get a categorical
distribution over their one-hot block. Sampling draws from these distributions — categories are
sampled, not argmax'ed, so rare levels keep their frequency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import torch
from torch import Tensor

from jumeau.generators.encoding import TabularEncoder
from jumeau.generators.neural.dequantise import Dequantiser

MIN_SCALE = 0.05  # ties in integer columns would otherwise let the Gaussian collapse
MAX_SCALE = 5.0
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class Likelihood(Protocol):
    """What the VAE and RHVAE need of p(x | z): mixed clinical columns or image pixels alike."""

    @property
    def n_params(self) -> int: ...

    def log_prob(self, params: Tensor, x: Tensor, mask: Tensor) -> Tensor: ...

    def sample(
        self,
        params: Tensor,
        generator: torch.Generator | None = None,
        forbidden: Sequence[int] = (),
    ) -> Tensor: ...


class MixedLikelihood:
    """Maps decoder outputs to log-likelihoods and samples, block by block."""

    def __init__(self, encoder: TabularEncoder) -> None:
        self.numeric_index = torch.as_tensor(encoder.numeric_index, dtype=torch.long)
        self.blocks = [(b.start, b.stop) for b in encoder.categorical_blocks]
        self.width = encoder.width_
        self.n_numeric = len(self.numeric_index)
        self.n_logits = sum(stop - start for start, stop in self.blocks)
        # tied numbers' cdf jumps, for training with `dequantise=True` (neural/dequantise.py)
        self.dequantiser = Dequantiser(encoder)

    @property
    def n_params(self) -> int:
        """Decoder outputs needed: a mean and a scale per number, a logit per level."""
        return 2 * self.n_numeric + self.n_logits

    def split(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mean = params[..., : self.n_numeric]
        raw_scale = params[..., self.n_numeric : 2 * self.n_numeric]
        scale = MIN_SCALE + (MAX_SCALE - MIN_SCALE) * torch.sigmoid(raw_scale)
        logits = params[..., 2 * self.n_numeric :]
        return mean, scale, logits

    def log_prob(self, params: Tensor, x: Tensor, mask: Tensor) -> Tensor:
        """log p(x | z) per row (summed over columns), observed numbers only."""
        mean, scale, logits = self.split(params)
        total = torch.zeros(params.shape[:-1], dtype=params.dtype, device=params.device)
        if self.n_numeric:
            values = x[..., self.numeric_index]
            observed = mask[..., self.numeric_index]
            z = (values - mean) / scale
            gaussian = -0.5 * z**2 - torch.log(scale) - _HALF_LOG_2PI
            total = total + (gaussian * observed).sum(-1)
        offset = 0
        for start, stop in self.blocks:
            width = stop - start
            block_logits = logits[..., offset : offset + width]
            total = total + (torch.log_softmax(block_logits, -1) * x[..., start:stop]).sum(-1)
            offset += width
        return total

    @torch.no_grad()
    def sample(
        self,
        params: Tensor,
        generator: torch.Generator | None = None,
        forbidden: Sequence[int] = (),
    ) -> Tensor:
        """Draw encoded rows (numbers with their noise, categories by sampling).

        `forbidden`: matrix positions never drawn (imputation never draws "missing"). A block
        whose every level would be forbidden keeps its own probabilities.
        """
        mean, scale, logits = self.split(params)
        rows = params.shape[0]
        out = torch.zeros(rows, self.width, dtype=params.dtype)
        if self.n_numeric:
            noise = torch.randn(mean.shape, generator=generator, dtype=params.dtype)
            out[:, self.numeric_index] = mean + scale * noise
        banned = set(int(p) for p in forbidden)
        offset = 0
        for start, stop in self.blocks:
            width = stop - start
            block_logits = logits[:, offset : offset + width]
            allowed = torch.tensor([p not in banned for p in range(start, stop)])
            if allowed.any() and not allowed.all():
                block_logits = block_logits.masked_fill(~allowed, -torch.inf)
            probabilities = torch.softmax(block_logits, -1)
            codes = torch.multinomial(probabilities, 1, generator=generator).squeeze(-1)
            out[torch.arange(rows), start + codes] = 1.0
            offset += width
        return out
