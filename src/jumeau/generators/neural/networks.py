"""Small multilayer perceptrons, sized for cohorts of a few hundred patients."""

from __future__ import annotations

import itertools

from torch import nn


def mlp(sizes: list[int], *, dropout: float = 0.0) -> nn.Sequential:
    """Linear layers with SiLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def default_latent_dim(n_columns: int) -> int:
    """About half the number of modelled columns, between 2 and 16."""
    return max(2, min(16, (n_columns + 1) // 2))


def default_hidden(n_rows: int, width: int) -> int:
    """Wider with more data and more columns, but never more than the data can support."""
    if n_rows < 300:
        base = 64
    elif n_rows < 3000:
        base = 128
    else:
        base = 256
    return max(base, min(256, 2 * width))
