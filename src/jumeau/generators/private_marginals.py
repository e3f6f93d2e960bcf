"""The marginals of a differentially private fit: every column's noisy sketch, merged into the
encoder — shared by the DP copula and the DP VAE (and, one site at a time, by federated
training), so that all of them release a column the same way and refuse the same budgets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jumeau.data.cohort import Cohort
from jumeau.dp.mechanisms import BudgetTooSmallError, epsilon_of, noise_scale, rho_for
from jumeau.generators.encoding import TabularEncoder
from jumeau.generators.private_sketches import (
    SketchBudgetTooSmallError,
    private_column_sketches,
    round_up,
)
from jumeau.generators.sketches import merged_encoder

# a pooled fit's number marginal: a histogram of at most MAX_BINS bins (finer than a federated
# message's 32: nothing limits the pooled fit's resolution but the noise)
MAX_BINS = 128
# a category is refused when its average level count is under this many noise σ
LEVEL_NOISE_FLOOR = 1.0


@dataclass(frozen=True)
class PrivateMarginals:
    """The released sketches, the encoder built from them, and the merged level counts."""

    sketches: dict[str, np.ndarray]
    encoder: TabularEncoder
    counts: dict[str, np.ndarray]


def private_marginals(
    cohort: Cohort, *, epsilon: float, delta: float, share: float
) -> PrivateMarginals:
    """Release every modelled column's sketch with `share` of the (ε, δ) budget's ρ and build the
    encoder from them; a budget too small for a column's range or levels is refused in one line
    with the --epsilon that would do."""
    rho = share * rho_for(epsilon, delta)
    try:
        sketches = private_column_sketches(cohort.data, cohort.schema, rho=rho, max_bins=MAX_BINS)
    except SketchBudgetTooSmallError as error:
        raise error.refusal("--epsilon", epsilon, delta, share) from None
    names = cohort.schema.modelled_columns
    _refuse_thin_categories(sketches, names, rho, share, epsilon, delta)
    encoder, counts = merged_encoder(cohort.schema, [sketches])
    return PrivateMarginals(sketches, encoder, counts)


def _refuse_thin_categories(
    sketches: dict[str, np.ndarray],
    names: list[str],
    rho: float,
    share: float,
    epsilon: float,
    delta: float,
) -> None:
    """A category whose average level count the noise swamps is refused, with the ε that would
    keep it above `LEVEL_NOISE_FLOOR` σ (read off the released counts: post-processing)."""
    sigma = noise_scale(rho / max(len(names), 1))
    patients = float(released_rows(sketches))
    for name in names:
        counts = sketches.get(f"count.{name}")
        if counts is None:
            continue
        levels = max(len(counts) - 1, 1)
        if patients / levels >= LEVEL_NOISE_FLOOR * sigma:
            continue
        sigma_needed = patients / (levels * LEVEL_NOISE_FLOOR)
        rho_needed = 1.0 / (2.0 * sigma_needed**2) * len(names) / share
        raise BudgetTooSmallError(
            f"column '{name}': {levels} levels are more than ε = {epsilon:g} can count among "
            f"about {patients:.0f} patients (each count's noise would exceed the count); merge "
            f"rare levels, or use --epsilon {round_up(epsilon_of(rho_needed, delta))} or more"
        )


def released_rows(sketches: dict[str, np.ndarray]) -> int:
    """The training size as the DP sketches tell it (a noisy count, post-processing): the exact
    size would be one more release."""
    totals = [
        float(v.sum()) for k, v in sketches.items() if k.split(".")[0] in {"count", "missing"}
    ]
    return max(round(float(np.median(totals))), 1) if totals else 1
