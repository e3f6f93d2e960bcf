"""The Gaussian copula, federated by sufficient statistics: no gradients, no weights.

1. The merged sketches give every site the same encoder and the same category intervals.
2. `copula-pairs`: each site turns its patients into latent normal scores and sends, for every
   pair of coordinates, the count, sums and sums of squares and products over the patients who
   have both — pairwise-complete correlations then come out exactly as if the rows were pooled.
3. `copula-em` (the stochastic EM of `generators/copula/estimation.py`, one round per iteration):
   the server sends the current latent mean and covariance; each site runs one Gibbs sweep over
   its own patients' unknown coordinates (kept at the site between rounds) and sends Σv and Σvvᵀ.
   The server re-estimates the moments from the summed sums — the same estimator as the pooled fit.
4. A last `copula-pairs` on the completed latent rows gives the present/missing flags their
   correlations, as the pooled fit does.
"""

from __future__ import annotations

from collections.abc import Generator as Coroutine
from typing import Any

import numpy as np

from jumeau.federated.context import read_context
from jumeau.federated.messages import Instruction, Reply
from jumeau.federated.site import Site, State
from jumeau.federated.sketches import block_counts
from jumeau.generators.copula.conditional import LatentGibbs
from jumeau.generators.copula.estimation import moments_from_sums, repaired_correlation
from jumeau.generators.copula.model import GaussianCopula
from jumeau.generators.encoding import TabularEncoder

LATENT_STATE = "copula.latent"


# ---------------------------------------------------------------------- server
def copula_protocol(
    model: GaussianCopula,
    encoder: TabularEncoder,
    counts: dict[str, np.ndarray],
    context: tuple[dict[str, np.ndarray], dict[str, Any]],
) -> Coroutine[Instruction, list[Reply], None]:
    """Fit `model` (already holding encoder and schema) round by round; see module docstring."""
    config = model.config
    model.orders_, model.edges_ = [], []
    for block in encoder.categorical_blocks:
        order, edges = model._intervals(
            block, block_counts(counts, block.column, block.is_indicator)
        )
        model.orders_.append(order)
        model.edges_.append(edges)
    arrays, meta = context
    arrays = arrays | _intervals_arrays(model)
    n_numeric = len(encoder.numeric_index)
    model.numeric_mean_ = np.zeros(n_numeric)
    model.numeric_scale_ = np.ones(n_numeric)
    replies = yield Instruction("copula-pairs", 0, arrays, meta | {"completed": False})
    correlation = pairwise_correlation(_summed(replies))
    kept = _kept_coordinates(encoder)
    has_unknowns = len(kept) > n_numeric or any(
        b.indicator is not None for b in encoder.numeric_blocks
    )
    if config.em_iterations > 0 and has_unknowns:
        mean = np.zeros(len(kept))
        covariance = repaired_correlation(
            correlation[np.ix_(kept, kept)], shrinkage=0.0, min_eigenvalue=config.min_eigenvalue
        )
        averaged_from = config.em_iterations // 2
        mean_sum, covariance_sum = np.zeros_like(mean), np.zeros_like(covariance)
        for iteration in range(config.em_iterations):
            replies = yield Instruction(
                "copula-em", 0, arrays | {"mean": mean, "covariance": covariance}, meta
            )
            sums = _summed(replies)
            mean, covariance = moments_from_sums(
                sums["total"],
                sums["cross"],
                int(sums["count"][0]),
                n_numeric,
                config.min_eigenvalue,
            )
            if iteration >= averaged_from:
                mean_sum += mean
                covariance_sum += covariance
        kept_count = config.em_iterations - averaged_from
        mean, covariance = mean_sum / kept_count, covariance_sum / kept_count
        spread = np.sqrt(np.diag(covariance))
        replies = yield Instruction("copula-pairs", 0, arrays, meta | {"completed": True})
        correlation = pairwise_correlation(_summed(replies))
        correlation[np.ix_(kept, kept)] = covariance / np.outer(spread, spread)
        model.numeric_mean_ = mean[:n_numeric]
        model.numeric_scale_ = spread[:n_numeric]
    model.correlation_ = repaired_correlation(
        correlation, shrinkage=config.shrinkage, min_eigenvalue=config.min_eigenvalue
    )


def copula_rounds(model: GaussianCopula) -> int:
    """Rounds the copula needs at most (after check and sketch)."""
    em = model.config.em_iterations
    return 1 + (em + 1 if em > 0 else 0)


def pairwise_correlation(sums: dict[str, np.ndarray], min_periods: int = 3) -> np.ndarray:
    """Pearson correlations over pairwise-complete rows, from summed pair statistics (as pandas'
    `DataFrame.corr(min_periods=3)` gives on the pooled rows; too few pairs give 0)."""
    n, s, q, p = sums["pair_count"], sums["pair_sum"], sums["pair_squares"], sums["pair_products"]
    with np.errstate(invalid="ignore", divide="ignore"):
        covariance = n * p - s * s.T
        variance = (n * q - s**2) * (n * q.T - s.T**2)
        correlation = covariance / np.sqrt(variance)
    correlation[(n < min_periods) | ~np.isfinite(correlation)] = 0.0
    np.fill_diagonal(correlation, 1.0)
    return np.clip(correlation, -1.0, 1.0)


def _intervals_arrays(model: GaussianCopula) -> dict[str, np.ndarray]:
    arrays = {}
    for j, (order, edges) in enumerate(zip(model.orders_, model.edges_, strict=True)):
        arrays[f"copula.order.{j}"] = order.astype(np.float64)
        arrays[f"copula.edges.{j}"] = edges
    return arrays


def _kept_coordinates(encoder: TabularEncoder) -> list[int]:
    n_numeric = len(encoder.numeric_index)
    blocks = encoder.categorical_blocks
    return list(range(n_numeric)) + [
        n_numeric + j for j, b in enumerate(blocks) if not b.is_indicator
    ]


def _summed(replies: list[Reply]) -> dict[str, np.ndarray]:
    return {name: np.sum([r.arrays[name] for r in replies], axis=0) for name in replies[0].arrays}


# ---------------------------------------------------------------------- site
def _site_model(
    site: Site, instruction: Instruction
) -> tuple[GaussianCopula, np.ndarray, np.ndarray]:
    """The copula pieces a site needs, and its patients encoded with the merged encoder."""
    schema, encoder = read_context(instruction.arrays, instruction.meta)
    cohort = site.cohort(schema)
    model = GaussianCopula()
    model.encoder_, model.schema_ = encoder, encoder.schema_
    count = len(encoder.categorical_blocks)
    model.orders_ = [instruction.arrays[f"copula.order.{j}"].astype(np.int64) for j in range(count)]
    model.edges_ = [instruction.arrays[f"copula.edges.{j}"] for j in range(count)]
    matrix, mask = encoder.transform(cohort.data)
    return model, matrix, mask


def site_pairs(site: Site, instruction: Instruction, state: State) -> Reply:
    """Pair statistics of the site's latent scores (numbers' normal scores, categories drawn
    inside their intervals), over the completed rows when the EM has run."""
    model, matrix, mask = _site_model(site, instruction)
    rng = site.rng(instruction.round, "copula-pairs")
    latent = [model._numeric_scores(matrix, mask)]
    for block, order, edges in zip(
        model.encoder_.categorical_blocks, model.orders_, model.edges_, strict=True
    ):
        codes = matrix[:, block.start : block.stop].argmax(axis=1)
        latent.append(model._category_scores(codes, order, edges, rng)[:, None])
    scores = np.concatenate(latent, axis=1)
    if instruction.meta.get("completed"):
        scores[:, _kept_coordinates(model.encoder_)] = state[LATENT_STATE]
    observed = (~np.isnan(scores)).astype(np.float64)
    filled = np.nan_to_num(scores)
    arrays = {
        "pair_count": observed.T @ observed,
        "pair_sum": filled.T @ observed,
        "pair_squares": (filled**2).T @ observed,
        "pair_products": filled.T @ filled,
    }
    return Reply(site.name, len(matrix), arrays)


def site_em_sweep(site: Site, instruction: Instruction, state: State) -> Reply:
    """One Gibbs sweep over the site's unknown latent coordinates; the state stays here."""
    model, matrix, mask = _site_model(site, instruction)
    sampler = LatentGibbs(
        model.encoder_, model.orders_, model.edges_, matrix, mask,
        site.rng(instruction.round, "copula-em"), missing_is_level=True,
    )  # fmt: skip
    if LATENT_STATE in state:
        sampler.state = state[LATENT_STATE].copy()
    sampler.sweep(instruction.arrays["mean"], instruction.arrays["covariance"])
    state[LATENT_STATE] = sampler.state
    arrays = {
        "total": sampler.state.sum(axis=0),
        "cross": sampler.state.T @ sampler.state,
        "count": np.array([float(len(sampler.state))]),
    }
    return Reply(site.name, len(matrix), arrays)
