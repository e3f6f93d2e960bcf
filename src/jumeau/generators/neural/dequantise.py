"""Uniform dequantisation of tied numbers while a neural generator trains.

The encoder gives every patient of a tied value (a pain score of 0 held by 70 % of the patients,
an integer count, an atom of an interpolated column) one normal score: the middle of the value's
cdf jump. A Gaussian decoder then sees a spike beside a spread tail and fits neither: on
medicaldata's licorice_gargle the VAE drew 89 % zeros where 70 % of the patients have one. Drawn
uniformly inside the jump instead, a fresh draw at every training batch, the scores of a column
are N(0, 1) as the normal-score transform intends, the Gaussian likelihood of the jittered score
bounds the discrete likelihood of the value from below (Theis, van den Oord & Bethge, ICLR 2016),
and decoding is unchanged: any score inside the jump goes back to the value. Validation batches,
completion and the RHVAE's stored codes keep the deterministic middle.

Opt-in (`dequantise=True`): measured paired by split (benchmarks/dequantise.py), it helps where one
value holds most patients (licorice_gargle, gbsg2) and hurts elsewhere (supraclavicular, lung,
breast_cancer); docs/generators.md has the table.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from jumeau.generators.encoding import TabularEncoder

_EDGE = 1e-6  # keeps ndtri finite at the ends of the first and last jumps


class Dequantiser:
    """Per tied number: its matrix position and the cdf jumps [lower, upper) of its values."""

    def __init__(self, encoder: TabularEncoder) -> None:
        self.columns: list[tuple[int, Tensor, Tensor]] = []
        for block in encoder.numeric_blocks:
            if block.column in encoder.edges_:
                upper = np.asarray(encoder.edges_[block.column], dtype=np.float64)
                lower = np.concatenate([[0.0], upper[:-1]])
            elif block.column in encoder.atoms_:
                atoms = encoder.atoms_[block.column]
                lower, upper = atoms[:, 1], atoms[:, 2]
            else:
                continue
            self.columns.append(
                (block.index, torch.as_tensor(lower.copy()), torch.as_tensor(upper.copy()))
            )

    def __call__(self, x: Tensor, mask: Tensor) -> Tensor:
        """`x` with each observed tied score redrawn uniformly inside its value's cdf jump (torch's
        global generator, which the fit seeds)."""
        if not self.columns:
            return x
        out = x.clone()
        for index, lower, upper in self.columns:
            scores = x[:, index].double()
            cdf = torch.special.ndtr(scores)
            slot = torch.searchsorted(upper, cdf, right=True).clamp(max=len(upper) - 1)
            low, high = lower[slot], upper[slot]
            inside = (cdf >= low) & (cdf < high) & (mask[:, index] > 0)
            draw = low + (high - low) * torch.rand(len(scores), dtype=torch.float64)
            redrawn = torch.special.ndtri(draw.clamp(_EDGE, 1 - _EDGE))
            out[:, index] = torch.where(inside, redrawn, scores).to(x.dtype)
        return out


__all__ = ["Dequantiser"]
