"""The learned Riemannian metric of the RHVAE latent space.

The inverse metric is G⁻¹(z) = Σᵢ Mᵢ exp(−‖z − cᵢ‖² / T²) + λI, with Mᵢ = LᵢLᵢᵀ, Lᵢ the
lower-triangular output of a metric network for patient i and cᵢ that patient's encoder mean.
G⁻¹ is small (the space is "short") near the training codes and λI far from them.

Evaluating it is O(N) in the number of training patients; at generation time it is written as dense
matrix products. The model's sampler bounds N: past `exact_metric_limit` patients it sums over a
random subset with scaled matrices (`RHVAE._metric_centroids`). (Keeping each chain's k nearest
codes instead, an earlier shortcut, misjudged the density when the kernel is wide against the
codes' spread.)
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
    eye = torch.eye(z.shape[-1], dtype=z.dtype, device=z.device)
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


class SamplingMetric:
    """log det G⁻¹(z) and its gradient in closed form, for the geometry-aware sampler.

    ∂/∂z log det G⁻¹ = Σᵢ tr(G Mᵢ) ∂wᵢ/∂z with G = (G⁻¹)⁻¹ and ∂wᵢ/∂z = −2 wᵢ (z − cᵢ)/T².
    Written out, every sum over patients is a dense matrix product that BLAS runs fast (autograd
    through the same expression costs several times more); the symmetric d × d matrices are
    stored by their upper triangle, which halves those products.
    """

    def __init__(
        self,
        centroids: Tensor,
        matrices: Tensor,
        temperature: float,
        lam: float,
    ) -> None:
        d = centroids.shape[-1]
        self.rows, self.cols = torch.triu_indices(d, d)
        # position in the upper triangle of every (row, col) of a full d × d matrix
        position = torch.zeros(d, d, dtype=torch.long)
        position[self.rows, self.cols] = torch.arange(len(self.rows))
        position[self.cols, self.rows] = torch.arange(len(self.rows))
        self.full_index = position.reshape(-1)
        self.centroids = centroids
        self.centroid_norms = centroids.pow(2).sum(-1)
        self.upper = matrices[:, self.rows, self.cols].contiguous()  # [N, d(d+1)/2]
        self.upper_t = self.upper.T.contiguous()
        # tr(G M) = Σ over the upper triangle of G·M, off-diagonal terms counted twice
        self.twice_off_diagonal = torch.where(self.rows == self.cols, 1.0, 2.0).to(centroids.dtype)
        self.temperature = temperature
        self.lam = lam

    def _squared_distances(self, z: Tensor) -> Tensor:
        """‖z − cᵢ‖² as ‖z‖² + ‖cᵢ‖² − 2 z·cᵢ: one matrix product (several times faster than
        cdist here); clamped at 0 against rounding."""
        cross = z @ self.centroids.T
        squared = z.pow(2).sum(-1, keepdim=True) + self.centroid_norms - 2.0 * cross
        return squared.clamp_min(0.0)

    def log_det_and_gradient(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """log det G⁻¹(z) [B] and its gradient [B, d]."""
        d = z.shape[-1]
        scale = 1.0 / self.temperature**2
        weights = torch.exp(-self._squared_distances(z) * scale)  # [B, N]
        inverse_upper = weights @ self.upper
        # The d × d algebra runs in float64: M's eigenvalues span up to 1e8 against λ.
        inverse = inverse_upper.double()[:, self.full_index].reshape(-1, d, d)
        inverse = inverse + self.lam * torch.eye(d, dtype=torch.float64)
        factor, _ = torch.linalg.cholesky_ex(inverse)
        diagonal = torch.diagonal(factor, dim1=-2, dim2=-1).clamp_min(1e-12)
        value = 2.0 * torch.log(diagonal).sum(-1)
        # G = L⁻ᵀ L⁻¹ from the Cholesky factor (faster than cholesky_inverse for small d)
        eye = torch.eye(d, dtype=torch.float64).expand(len(z), d, d)
        factor_inverse = torch.linalg.solve_triangular(factor, eye, upper=False)
        metric = factor_inverse.transpose(-1, -2) @ factor_inverse
        metric_upper = metric[:, self.rows, self.cols].to(z.dtype) * self.twice_off_diagonal
        coefficient = (metric_upper @ self.upper_t) * weights  # tr(G Mᵢ) wᵢ: [B, N]
        pulled = coefficient.sum(-1, keepdim=True) * z - coefficient @ self.centroids
        return value.to(z.dtype), -2.0 * scale * pulled
