"""The copula's present/missing flags: which values are missing together.

Every column that can miss a value has a flag coordinate in the copula's latent vector — a
number's beside its value, a category's beside its level (a category's "missing" is not an
interval of its level's coordinate: no linear correlation can say "missing when the others are
missing" through an interval in the middle of a range). A flag is a binary variable, known only to
lie in its present or its missing interval, so its correlations must be the latent (tetrachoric /
biserial) ones: the pairwise correlations of scores drawn uniformly inside the intervals are
attenuated — on survival's pbc, where 106 of 418 patients miss the same 7 columns, they fell from
≈ 1 to ≈ 0.4 and the copula left 25 % of its patients complete against 66 %.

They are fitted after the values, by the same stochastic EM (`estimation.py`), with the values'
latent coordinates held at their completed state: only the flags are drawn, each from its
conditional given everything else, truncated to its interval. Holding the values keeps the
missing-at-random fit of the values untouched (a flag's correlation with its own value is not
identified by the data, and is here whatever the missing-at-random completion implies).

Flags missing on exactly the same patients, beyond chance, are tied: the artificial patient copies
one flag's draw to the others (`tied_flags`). At sampling, each value is standardised among the
patients whose flag shows it (`standardise_present`), so that present values keep the observed
marginal whatever the missing-at-random completion did to the whole population's.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln
from scipy.stats import truncnorm

from jumeau.generators.copula.conditional import (
    conditional_moments,
    interval_bounds,
    truncated_normal,
)


class FlagGibbs:
    """Gibbs sampler over the flag coordinates, with the values fixed.

    `state` holds one row per patient: the completed value coordinates (numbers first, so that
    the EM pins the rest to mean 0 and variance 1), then one coordinate per flag.
    """

    def __init__(
        self,
        values: np.ndarray,
        n_numeric: int,
        missing: np.ndarray,
        intervals: list[tuple[np.ndarray, np.ndarray]],
        rng: np.random.Generator,
    ) -> None:
        self.n_numeric = n_numeric
        self.rng = rng
        self.n_values = values.shape[1]
        bounds = [
            interval_bounds(missing[:, f].astype(np.int64), order, edges)
            for f, (order, edges) in enumerate(intervals)
        ]
        self.lower = np.stack([low for low, _ in bounds], axis=1)
        self.upper = np.stack([high for _, high in bounds], axis=1)
        rows = len(values)
        flags = truncated_normal(
            self.lower.ravel(),
            self.upper.ravel(),
            np.zeros(self.lower.size),
            np.ones(self.lower.size),
            rng,
        ).reshape(rows, -1)
        self.state = np.concatenate([values, flags], axis=1)

    def sweep(self, mean: np.ndarray, covariance: np.ndarray) -> None:
        """One pass over the flags, each drawn from its conditional given every other coordinate."""
        precision = np.linalg.inv(covariance)
        for f in range(self.lower.shape[1]):
            j = self.n_values + f
            conditional, sd = conditional_moments(self.state, mean, precision, j)
            self.state[:, j] = truncated_normal(
                self.lower[:, f], self.upper[:, f], conditional, sd, self.rng
            )


TIE_LEVEL = 1e-6  # family-wise chance of tying two flags whose identical holes are a coincidence


def tied_flags(co_missing: np.ndarray, rows: int) -> list[int]:
    """For each flag, the flag it copies at sampling (itself when none): flags whose holes fall on
    exactly the same patients — a lab panel not done, a follow-up visit missed — are one event,
    and a latent correlation, however close to 1, would still split a few of them (on mgus, a
    correlation of 0.98 left 3.5 % of the artificial patients with one of a pair that is never
    apart). Tied only beyond chance: m holes on the same patients of n happen by coincidence with
    probability 1 / C(n, m) under independence, which must be below `TIE_LEVEL` / pairs examined.

    `co_missing[i, j]` counts the patients missing both flags (its diagonal, each flag's holes):
    a sum over patients, so that hospitals can send it in federated training.
    """
    count = len(co_missing)
    holes = np.diag(co_missing)
    threshold = np.log(max(count * (count - 1) / 2, 1.0) / TIE_LEVEL)
    representative = list(range(count))
    for j in range(count):
        for i in range(j):
            same = co_missing[i, j] == holes[i] == holes[j]
            if not same or representative[i] != i or not 0 < holes[i] < rows:
                continue
            m = int(holes[i])
            chance = gammaln(rows + 1) - gammaln(m + 1) - gammaln(rows - m + 1)  # log C(n, m)
            if chance > threshold:
                representative[j] = i
                break
    return representative


def standardise_present(
    latent: np.ndarray,
    flags: list[int],
    values: list[int],
    intervals: list[tuple[np.ndarray, np.ndarray]],
    correlation: np.ndarray,
) -> None:
    """Shift and scale, in place, each value coordinate of drawn latent rows so that among the
    patients its flag keeps (present), it has mean 0 and variance 1 — the moments of the observed
    values' normal scores, from which the encoder decodes.

    Why: the values' EM gives a number a latent mean and scale for the whole population, holes
    completed as missing at random (right for completion). A drawn patient shows the value only
    where the flag says present, and a Gaussian correlation with the flag cannot say "the present
    values are the less spread ones": on SurvSet mgus, time to progression (present in 27 % of
    patients) came out with a latent scale of 1.25 and a fat upper tail. Under the copula, a value
    v with correlation ρ to its flag f, present on the interval I, has E[v | f ∈ I] = ρ·m and
    Var[v | f ∈ I] = 1 − ρ²·(1 − s²), m and s² the mean and variance of N(0, 1) truncated to I.
    `flags[i]` is the position of the flag that decides whether value `values[i]` is shown (its
    tie's, when tied) and `intervals[i]` that flag's (order, edges).
    """
    for flag, value, (order, edges) in zip(flags, values, intervals, strict=True):
        low, high = interval_bounds([0], order, edges)
        mean, variance = truncnorm.stats(low[0], high[0], moments="mv")
        rho = correlation[value, flag]
        spread = np.sqrt(max(1.0 - rho**2 * (1.0 - float(variance)), 1e-6))
        latent[:, value] = (latent[:, value] - rho * float(mean)) / spread
