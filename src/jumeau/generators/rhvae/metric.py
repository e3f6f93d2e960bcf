"""The learned Riemannian metric of the RHVAE latent space.

The inverse metric is G⁻¹(z) = Σᵢ Mᵢ exp(−‖z − cᵢ‖² / T²) + λI, with Mᵢ = LᵢLᵢᵀ, Lᵢ the
lower-triangular output of a metric network for patient i and cᵢ that patient's encoder mean.
G⁻¹ is small (the space is "short") near the training codes and λI far from them.

Evaluating it is O(N) in the number of training patients; at generation time only the k nearest
centroids enter (the others weigh exp(−d²/T²) ≈ 0), which keeps sampling fast for N in the tens of
thousands.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from jumeau.generators.neural.networks import mlp

LOG_DIAGONAL_RANGE = (-6.0, 4.0)


class MetricNetwork(nn.Module):
    """x ↦ L(x), lower triangular with a positive diagonal."""

    def __init__(self, width: int, hidden: int, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        n_lower = latent_dim * (latent_dim - 1) // 2
        self.body = mlp([width, hidden, latent_dim + n_lower])
        self.rows, self.cols = torch.tril_indices(latent_dim, latent_dim, offset=-1)

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(x)
        d = self.latent_dim
        diagonal = torch.exp(out[:, :d].clamp(*LOG_DIAGONAL_RANGE))
        factor = torch.diag_embed(diagonal)
        if d > 1:
            lower = torch.zeros_like(factor)
            lower[:, self.rows, self.cols] = out[:, d:]
            factor = factor + lower
        return factor


def kernel_weights(z: Tensor, centroids: Tensor, temperature: float) -> Tensor:
    """w[b, i] = exp(−‖z_b − c_i‖² / T²). Explicit differences (not cdist): training needs the
    second derivative, which cdist does not provide."""
    squared = (z[:, None, :] - centroids[None, :, :]).pow(2).sum(-1)
    return torch.exp(-squared / temperature**2)


def inverse_metric(
    z: Tensor, centroids: Tensor, matrices: Tensor, temperature: float, lam: float
) -> Tensor:
    """G⁻¹(z) for every row of z (all centroids): [B, d, d]."""
    weights = kernel_weights(z, centroids, temperature)
    eye = torch.eye(z.shape[-1], dtype=z.dtype)
    return torch.einsum("bn,nij->bij", weights, matrices) + lam * eye


def log_det(matrix: Tensor) -> Tensor:
    """log det of symmetric positive-definite matrices, through Cholesky (stable)."""
    factor, _ = torch.linalg.cholesky_ex(matrix)
    return 2.0 * torch.log(torch.diagonal(factor, dim1=-2, dim2=-1).clamp_min(1e-12)).sum(-1)


def kinetic_gradient(
    z: Tensor, rho: Tensor, centroids: Tensor, matrices: Tensor, temperature: float
) -> Tensor:
    """∂/∂z of ½ ρᵀ G⁻¹(z) ρ in closed form: −(1/T²) Σᵢ (ρᵀMᵢρ) wᵢ(z) (z − cᵢ)."""
    weights = kernel_weights(z, centroids, temperature)
    quadratic = torch.einsum("bj,njk,bk->bn", rho, matrices, rho)
    coefficient = quadratic * weights  # [B, N]
    pulled = coefficient.sum(-1, keepdim=True) * z - coefficient @ centroids
    return -pulled / temperature**2


class NearestMetric:
    """G⁻¹ over the k nearest stored centroids, for sampling (fast, vectorised)."""

    def __init__(self, centroids: Tensor, matrices: Tensor, temperature: float, lam: float, k: int):
        self.centroids = centroids
        self.matrices = matrices
        self.temperature = temperature
        self.lam = lam
        self.k = min(k, len(centroids))

    def log_sqrt_det_inverse(self, z: Tensor) -> Tensor:
        """log √det G⁻¹(z): the log-density (up to a constant) of the geometry-aware sampler."""
        distances = torch.cdist(z, self.centroids)
        nearest, index = torch.topk(distances, self.k, dim=-1, largest=False)
        weights = torch.exp(-nearest.pow(2) / self.temperature**2)  # [B, k]
        chosen = self.matrices[index]  # [B, k, d, d]
        eye = torch.eye(z.shape[-1], dtype=z.dtype)
        inverse = torch.einsum("bk,bkij->bij", weights, chosen) + self.lam * eye
        return 0.5 * log_det(inverse)
