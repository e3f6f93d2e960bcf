"""The Gaussian copula fitted under (ε, δ)-differential privacy.

Everything the model learns from patients goes through one of two releases, and nothing else
of the data reaches the model or its file:

1. **Marginals** (`MARGINAL_SHARE` of the budget): every column's summary — a category's level
   counts, a number's missing count, range and quantiles — is a noisy sketch
   (`generators/private_sketches.py`, OpenDP), merged into the encoder exactly as one hospital's
   sketch would be in federated training. The encoder's knots, the categories' intervals and the
   missing-value flags all come from these releases.
2. **Dependence** (the rest): each patient becomes a latent vector through that released
   encoder (normal scores of numbers, categories drawn inside their released intervals, a
   missing number at 0, the latent mean); vectors longer than √(d · `CLIP_FACTOR`) are shortened
   to it, so that one patient moves the matrix Σ xxᵀ by at most d · `CLIP_FACTOR` in Frobenius
   norm; the upper triangle of Σ xxᵀ gets Gaussian noise of that L2 sensitivity through
   OpenDP's Gaussian mechanism ("Analyze Gauss", Dwork, Talwar, Thakurta & Zhang, STOC 2014).

Post-processing (free under DP): the noisy matrix is scaled to a correlation matrix and shrunk
toward the identity by the share of its off-diagonal spread that the known noise explains (a
James–Stein weight; at a tiny budget the model falls back to independent columns rather than
to noise), then repaired into a valid correlation matrix.

What the DP fit gives up against the ordinary one, by design: no stochastic EM (each of its
iterations would need its own budget). The EM's main work, undoing the attenuation of a
category's correlations by its score drawn at random inside its level's interval, is done
instead from the released intervals and missing shares alone (`attenuation.py`); no
missing-value flags are tied (the co-missing counts are not released). Budgets add up in
ρ-zero-concentrated DP and are converted once into (ε, δ) by OpenDP (`jumeau.dp.mechanisms`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from jumeau.data.cohort import Cohort
from jumeau.dp.mechanisms import (
    noise_scale,
    private_gaussian_vector,
    rho_for,
)
from jumeau.errors import JumeauWarning
from jumeau.generators.copula.attenuation import latent_correlation
from jumeau.generators.encoding import TabularEncoder
from jumeau.generators.private_config import default_delta
from jumeau.generators.private_marginals import private_marginals, released_rows
from jumeau.generators.sketches import block_counts

if TYPE_CHECKING:
    from jumeau.generators.copula.model import GaussianCopula

# share of ρ spent on the columns' sketches; the rest buys the latent correlation
MARGINAL_SHARE = 0.5
# a latent vector's squared length is clipped at d · CLIP_FACTOR (its mean is about d)
CLIP_FACTOR = 1.0
MECHANISM = (
    "OpenDP: Gaussian noise on level, missing and histogram counts (marginals), power-of-2 "
    "histogram for ranges nobody wrote down, Gaussian noise on the clipped latent second "
    "moments (Analyze Gauss)"
)
ACCOUNTANT = (
    "zero-concentrated DP (ρ adds up over releases), converted to (ε, δ) by OpenDP "
    "(Canonne, Kamath & Steinke 2020)"
)


def fit_private_copula(model: GaussianCopula, cohort: Cohort, *, seed: int) -> None:
    """Fit `model` (its config holds ε and optionally δ) on `cohort` under DP; see module."""
    epsilon = float(model.config.epsilon or 0.0)
    delta = model.config.delta or default_delta(len(cohort))
    rho = rho_for(epsilon, delta)
    marginals = private_marginals(cohort, epsilon=epsilon, delta=delta, share=MARGINAL_SHARE)
    sketches, encoder, counts = marginals.sketches, marginals.encoder, marginals.counts
    model.encoder_, model.schema_ = encoder, encoder.schema_
    model._set_intervals(
        [block_counts(counts, b.column, b.is_indicator) for b in encoder.categorical_blocks]
    )
    model.flag_ties_ = list(range(len(model.flag_positions)))  # co-missing counts not released
    # a missing value the noisy counts did not reveal (too few to clear the noise) has no level
    # in the released encoder: its score counts as unknown, like a missing number's
    matrix, mask = encoder.transform(cohort.data, unseen_missing=True)
    latent = model._latent_scores(matrix, mask, np.random.default_rng(seed))
    n_numeric = len(encoder.numeric_index)
    for j, block in enumerate(encoder.categorical_blocks):
        latent[matrix[:, block.start : block.stop].sum(axis=1) == 0, n_numeric + j] = np.nan
    shown, shrinkage = private_latent_correlation(latent, (1.0 - MARGINAL_SHARE) * rho)
    intervals = list(zip(model.orders_, model.edges_, strict=True))
    intervals += list(zip(model.flag_orders_, model.flag_edges_, strict=True))
    correlation = latent_correlation(
        shown, intervals, _observed_shares(encoder, counts), model._category_scores
    )
    model._store_latent_law(correlation, None, None)
    model.privacy_ = {
        "epsilon": epsilon,
        "delta": delta,
        "rho": rho,
        "marginal_share": MARGINAL_SHARE,
        "correlation_shrinkage": shrinkage,
        "mechanism": MECHANISM,
        "accountant": ACCOUNTANT,
    }
    model.training_rows_ = released_rows(sketches)
    if shrinkage > 0.5:
        import warnings

        warnings.warn(
            f"ε = {epsilon:g} leaves the correlations between columns mostly noise for "
            f"{model.training_rows_} patients: they were shrunk {shrinkage:.0%} toward "
            "independent columns (a larger ε keeps more of them)",
            JumeauWarning,
            stacklevel=3,
        )


def private_latent_correlation(latent: np.ndarray, rho: float) -> tuple[np.ndarray, float]:
    """A correlation matrix of the latent rows (missing coordinates at 0), ρ-zCDP, and how far
    it was shrunk toward the identity (0 none, 1 fully independent); see module docstring."""
    rows = np.nan_to_num(np.asarray(latent, dtype=np.float64), nan=0.0)
    size = rows.shape[1]
    bound = size * CLIP_FACTOR  # ‖x‖² ≤ bound: xxᵀ has Frobenius norm ‖x‖²
    lengths = np.maximum((rows**2).sum(axis=1), 1e-300)
    rows = rows * np.sqrt(np.minimum(1.0, bound / lengths))[:, None]
    upper = np.triu_indices(size)
    # the upper triangle of Σ xxᵀ holds every entry of the symmetric matrix once: its L2
    # sensitivity is at most the Frobenius norm of one xxᵀ, `bound`
    noisy = private_gaussian_vector((rows.T @ rows)[upper], sensitivity=bound, rho=rho)
    moments = np.zeros((size, size))
    moments[upper] = noisy
    moments = moments + moments.T - np.diag(np.diag(moments))
    sigma = bound * noise_scale(rho)
    diagonal = np.maximum(np.diag(moments), 4.0 * sigma)  # a diagonal lost in noise: floored
    scale = np.sqrt(np.outer(diagonal, diagonal))
    correlation = np.clip(moments / scale, -1.0, 1.0)
    np.fill_diagonal(correlation, 1.0)
    off = ~np.eye(size, dtype=bool)
    if not off.any():
        return correlation, 0.0
    noise_variance = float(np.mean((sigma / scale[off]) ** 2))
    spread = float(np.mean(correlation[off] ** 2))
    shrinkage = float(np.clip(noise_variance / spread, 0.0, 1.0)) if spread > 0 else 1.0
    return (1.0 - shrinkage) * correlation + shrinkage * np.eye(size), shrinkage


def _observed_shares(encoder: TabularEncoder, counts: dict[str, np.ndarray]) -> np.ndarray:
    """Each number's share of patients observed, from its released missing count."""
    shares = []
    for block in encoder.numeric_blocks:
        present, missing = counts.get(f"indicator.{block.column}", np.array([1.0, 0.0]))[:2]
        shares.append(present / max(present + missing, 1e-9))
    return np.asarray(shares, dtype=float)
