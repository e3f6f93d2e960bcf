"""Convolutional encoder and decoder for 2D and 3D images, and the pixel likelihood.

These are the only parts of an image VAE/RHVAE that differ from the tabular ones: the modules
keep the `encode(x) -> (mean, logvar)` / `decode(z) -> params` interface of `VAEModule`, take
images flattened to rows (so the shared training loop, the RHVAE's leapfrog flow, its metric and
both samplers run unchanged), and reshape inside.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional

from jumeau.generators.rhvae.metric import MetricNetwork
from jumeau.generators.vae.model import LOGVAR_RANGE

CHANNELS = (32, 64)  # two stride-2 blocks: 28 px → 7 px, 64 px → 16 px


class ConvVAEModule(nn.Module):
    """q(z|x) and p(x|z) as small convolutional networks (2D or 3D by the image shape)."""

    def __init__(self, shape: Sequence[int], latent_dim: int, hidden: int) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        self.latent_dim = latent_dim
        dims = len(self.shape)
        if dims not in (2, 3):
            raise ValueError(f"images must be 2D or 3D, not of shape {self.shape}")
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d
        self.mode = "bilinear" if dims == 2 else "trilinear"
        first, second = CHANNELS
        self.encoder = nn.Sequential(
            conv(1, first, 3, stride=2, padding=1), norm(first), nn.SiLU(),
            conv(first, second, 3, stride=2, padding=1), norm(second), nn.SiLU(),
        )  # fmt: skip
        self.reduced = tuple(math.ceil(math.ceil(s / 2) / 2) for s in self.shape)
        flat = second * math.prod(self.reduced)
        self.to_latent = nn.Sequential(nn.Linear(flat, hidden), nn.SiLU(),
                                       nn.Linear(hidden, 2 * latent_dim))  # fmt: skip
        self.from_latent = nn.Sequential(nn.Linear(latent_dim, hidden), nn.SiLU(),
                                         nn.Linear(hidden, flat), nn.SiLU())  # fmt: skip
        self.up_first = nn.Sequential(conv(second, first, 3, padding=1), norm(first), nn.SiLU())
        self.up_second = nn.Sequential(conv(first, first, 3, padding=1), norm(first), nn.SiLU())
        self.to_pixels = conv(first, 1, 3, padding=1)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        images = x.reshape(-1, 1, *self.shape)
        mean, logvar = self.to_latent(self.encoder(images).flatten(1)).chunk(2, dim=-1)
        return mean, logvar.clamp(*LOGVAR_RANGE)

    def decode(self, z: Tensor) -> Tensor:
        """Pixel logits, flattened to rows like the input."""
        lead = z.shape[:-1]
        features = self.from_latent(z.reshape(-1, self.latent_dim))
        features = features.reshape(-1, CHANNELS[1], *self.reduced)
        middle = tuple(math.ceil(s / 2) for s in self.shape)
        features = self.up_first(functional.interpolate(features, size=middle, mode=self.mode))
        features = self.up_second(functional.interpolate(features, size=self.shape, mode=self.mode))
        return self.to_pixels(features).reshape(*lead, math.prod(self.shape))


class ConvRHVAEModule(ConvVAEModule):
    """The convolutional VAE plus the RHVAE's metric network — the same `MetricNetwork` the
    tabular RHVAE uses, on the flattened image."""

    def __init__(self, shape: Sequence[int], latent_dim: int, hidden: int) -> None:
        super().__init__(shape, latent_dim, hidden)
        self.metric = MetricNetwork(math.prod(self.shape), hidden, latent_dim)


class PixelLikelihood:
    """Bernoulli cross-entropy of grey levels in [0, 1] given pixel logits (the usual image VAE
    likelihood, as in pythae's MNIST models); samples are the decoder's mean image."""

    def __init__(self, width: int) -> None:
        self.width = width

    @property
    def n_params(self) -> int:
        return self.width

    def log_prob(self, params: Tensor, x: Tensor, mask: Tensor) -> Tensor:
        cross_entropy = functional.binary_cross_entropy_with_logits(params, x, reduction="none")
        return -(cross_entropy * mask).sum(-1)

    @torch.no_grad()
    def sample(
        self,
        params: Tensor,
        generator: torch.Generator | None = None,
        forbidden: Sequence[int] = (),
    ) -> Tensor:
        return torch.sigmoid(params)
