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
   starting correlations, and `copula-flags` runs the flags' EM (`generators/copula/flags.py`)
   the same way, one round per iteration, the values held at each site's completed state. The
   first `copula-pairs` also sends, per pair of flags, how many patients miss both: flags missing
   on exactly the same patients across every site are tied, as in the pooled fit.
"""

from __future__ import annotations

from collections.abc import Generator as Coroutine
from typing import Any

import numpy as np

from jumeau.federated.context import read_context
from jumeau.federated.messages import Instruction, Reply
from jumeau.federated.site import Site, State
from jumeau.generators.copula.conditional import LatentGibbs, latent_coordinates
from jumeau.generators.copula.estimation import LatentFit, LatentSampler, em_steps
from jumeau.generators.copula.flags import FlagGibbs, tied_flags
from jumeau.generators.copula.model import GaussianCopula
from jumeau.generators.encoding import TabularEncoder
from jumeau.generators.sketches import block_counts

LATENT_STATE = "copula.latent"
FLAG_STATE = "copula.flags"


# ---------------------------------------------------------------------- server
def copula_protocol(
    model: GaussianCopula,
    encoder: TabularEncoder,
    counts: dict[str, np.ndarray],
    context: tuple[dict[str, np.ndarray], dict[str, Any]],
) -> Coroutine[Instruction, list[Reply], None]:
    """Fit `model` (already holding encoder and schema) round by round; see module docstring.
    The estimation is the pooled fit's own (`_set_intervals`, `em_steps`, `_store_latent_law`);
    only where the sums come from differs."""
    config = model.config
    model._set_intervals(
        [block_counts(counts, b.column, b.is_indicator) for b in encoder.categorical_blocks]
    )
    arrays, meta = context
    arrays = arrays | _intervals_arrays(model)
    replies = yield Instruction("copula-pairs", 0, arrays, meta | {"completed": False})
    summed = _summed(replies)
    correlation = pairwise_correlation(summed)
    model.flag_ties_ = tied_flags(summed["co_missing"], sum(reply.n for reply in replies))
    kept = latent_coordinates(encoder)
    has_unknowns = len(kept) > len(encoder.numeric_index) or any(
        b.indicator is not None for b in encoder.numeric_blocks
    )
    fit = flag_fit = None
    if config.em_iterations > 0 and has_unknowns:
        fit = yield from _em_rounds("copula-em", model, correlation[np.ix_(kept, kept)], context)
        replies = yield Instruction("copula-pairs", 0, arrays, meta | {"completed": True})
        correlation = pairwise_correlation(_summed(replies))
        if model.flag_positions:
            order = model.flag_problem_order
            initial = correlation[np.ix_(order, order)]
            flag_fit = yield from _em_rounds("copula-flags", model, initial, context)
    model._store_latent_law(correlation, fit, flag_fit)


def _em_rounds(
    task: str,
    model: GaussianCopula,
    initial_correlation: np.ndarray,
    context: tuple[dict[str, np.ndarray], dict[str, Any]],
) -> Coroutine[Instruction, list[Reply], LatentFit]:
    """The stochastic EM (`em_steps`), one round per iteration: the sites sweep, the server sums."""
    arrays, meta = context
    arrays = arrays | _intervals_arrays(model)
    steps = em_steps(
        initial_correlation,
        n_numeric=len(model.encoder_.numeric_index),
        iterations=model.config.em_iterations,
        min_eigenvalue=model.config.min_eigenvalue,
    )
    mean, covariance = next(steps)
    while True:
        moments = {"mean": mean, "covariance": covariance}
        replies = yield Instruction(task, 0, arrays | moments, meta)
        sums = _summed(replies)
        try:
            mean, covariance = steps.send((sums["total"], sums["cross"], int(sums["count"][0])))
        except StopIteration as finished:
            fit: LatentFit = finished.value
            return fit


def copula_rounds(model: GaussianCopula) -> int:
    """Rounds the copula needs at most (after check and sketch)."""
    em = model.config.em_iterations
    return 1 + (2 * em + 1 if em > 0 else 0)  # pairs, values' EM, pairs, flags' EM


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
    arrays["copula.flagged"] = np.asarray(model.flagged_, dtype=np.float64)
    for f, (order, edges) in enumerate(zip(model.flag_orders_, model.flag_edges_, strict=True)):
        arrays[f"copula.flag_order.{f}"] = order.astype(np.float64)
        arrays[f"copula.flag_edges.{f}"] = edges
    return arrays


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
    model.flagged_ = [int(j) for j in instruction.arrays["copula.flagged"]]
    flags = range(len(model.flagged_))
    arrays = instruction.arrays
    model.flag_orders_ = [arrays[f"copula.flag_order.{f}"].astype(np.int64) for f in flags]
    model.flag_edges_ = [arrays[f"copula.flag_edges.{f}"] for f in flags]
    # under DP sketches a category's few missing values can fall within the noise: the merged
    # encoder then has no missing level, and such a patient's block stays empty (unseen_missing)
    matrix, mask = encoder.transform(cohort.data, unseen_missing=True)
    return model, matrix, mask


def site_pairs(site: Site, instruction: Instruction, state: State) -> Reply:
    """Pair statistics of the site's latent scores (numbers' normal scores, categories drawn
    inside their intervals), over the completed rows when the EM has run."""
    model, matrix, mask = _site_model(site, instruction)
    scores = model._latent_scores(matrix, mask, site.rng(instruction.round, "copula-pairs"))
    if instruction.meta.get("completed"):
        scores[:, latent_coordinates(model.encoder_)] = state[LATENT_STATE]
    observed = (~np.isnan(scores)).astype(np.float64)
    filled = np.nan_to_num(scores)
    holes = model.flag_missing(matrix).astype(np.float64)
    arrays = {
        "co_missing": holes.T @ holes,  # patients missing both flags, for the ties
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
        site.rng(instruction.round, "copula-em"), missing_as_level=model.missing_as_level,
    )  # fmt: skip
    return Reply(site.name, len(matrix), _kept_sweep(sampler, state, LATENT_STATE, instruction))


def site_flag_sweep(site: Site, instruction: Instruction, state: State) -> Reply:
    """One Gibbs sweep over the site's present/missing flags, its values held at their
    completed state; the state stays here."""
    model, matrix, _ = _site_model(site, instruction)
    sampler = FlagGibbs(
        state[LATENT_STATE], len(model.encoder_.numeric_index), model.flag_missing(matrix),
        model.flag_intervals, site.rng(instruction.round, "copula-flags"),
    )  # fmt: skip
    return Reply(site.name, len(matrix), _kept_sweep(sampler, state, FLAG_STATE, instruction))


def _kept_sweep(
    sampler: LatentSampler, state: State, key: str, instruction: Instruction
) -> dict[str, np.ndarray]:
    """One sweep from the state the site kept under `key` (the sampler's own start on the first
    round), kept again; the sums of the swept rows, which are all the server sees."""
    if key in state:
        sampler.state = state[key].copy()
    sampler.sweep(instruction.arrays["mean"], instruction.arrays["covariance"])
    state[key] = latent = sampler.state
    return {
        "total": latent.sum(axis=0),
        "cross": latent.T @ latent,
        "count": np.array([float(len(latent))]),
    }
