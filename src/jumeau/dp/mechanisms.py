"""Differentially private releases of one column's summaries, through OpenDP.

Why OpenDP: each measurement below is built from OpenDP's transformations and noise mechanisms,
whose privacy maps (how much a release can change when one patient is added or removed) are
proven and implemented with floating-point-safe samplers; jumeau only chooses the noise scale
and adds up the budget. Neighbouring datasets differ by one patient added or removed (OpenDP's
symmetric distance 1); a patient contributes one row.

Accounting is in ρ-zero-concentrated DP (Bun & Steinke, TCC 2016): ρ adds up over releases on
the same patients, and OpenDP converts a total ρ into the (ε, δ) a data-protection officer reads
(Canonne, Kamath & Steinke 2020's conversion, tighter than ε = ρ + 2√(ρ log 1/δ)).

Randomness: OpenDP draws its noise from the operating system's entropy and cannot be seeded. A
seeded noise would be reproducible — and subtractable by anyone who knows the seed, which every
jumeau output records — so a DP release is, by design, not bit-for-bit reproducible; everything
around it (bins, candidates, the budget's split) is deterministic.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from jumeau.errors import JumeauError

# Public bins for finding a number's range when nobody wrote it down: (2^k, 2^(k+1)] for k from
# −10 to 29 on either side of a central bin [−2^−10, 2^−10] — any clinical measure in any unit.
_POWERS = 2.0 ** np.arange(-10, 31)
BOUND_EDGES: np.ndarray = np.concatenate([-_POWERS[::-1], _POWERS])
# A bin counts as holding patients when its noisy count exceeds this many noise σ
BOUND_NOISE_FLOOR = 4.0
# log-scale bins of a number bounded below by 0 start at this fraction of its upper bound
LOG_BIN_FLOOR = 1e-3
# inside the support, histogram counts under this many noise σ are read as empty bins
HISTOGRAM_NOISE_FLOOR = 1.0
# a grid's values above the support floor holding this share of the mass make a value table
TIED_SHARE = 0.9


class BudgetTooSmallError(JumeauError):
    """A release whose noise would swamp what it measures: the caller says how to fix it."""


def bounds_rho_needed(patients: int) -> float:
    """The ρ at which `private_bounds` finds the range of `patients` values spread over several
    power-of-2 bins (the fullest holding an eighth of them; a skewed lab spans many) with its
    noise floor: σ ≤ patients/(8·floor). A function of the count alone, not of the values."""
    sigma = max(patients, 1) / (8.0 * BOUND_NOISE_FLOOR)
    return 1.0 / (2.0 * sigma**2)


def _opendp() -> Any:
    try:
        import opendp.prelude as dp
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise JumeauError(
            "differential privacy needs OpenDP: pip install 'jumeau[privacy]'"
        ) from error
    dp.enable_features("contrib")
    return dp


def check_budget(epsilon: float, delta: float) -> None:
    """ε > 0 and 0 < δ < 1, or a one-line refusal."""
    if not np.isfinite(epsilon) or epsilon <= 0:
        raise JumeauError(f"ε must be a positive number, not {epsilon}")
    if not 0.0 < delta < 1.0:
        raise JumeauError(f"δ must be between 0 and 1 (exclusive), not {delta}")


@lru_cache(maxsize=256)
def epsilon_of(rho: float, delta: float) -> float:
    """The ε at this δ of a ρ-zCDP release (OpenDP's conversion)."""
    if rho <= 0:
        return 0.0
    dp = _opendp()
    # a Gaussian mechanism of sensitivity 1 and scale σ is exactly 1/(2σ²)-zCDP: its privacy
    # profile is the profile of any ρ-zCDP release
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l2_distance(T=float)
    measurement = dp.c.make_zCDP_to_approxDP(dp.m.make_gaussian(*space, scale=noise_scale(rho)))
    return float(measurement.map(1.0).epsilon(delta))


@lru_cache(maxsize=256)
def rho_for(epsilon: float, delta: float) -> float:
    """The largest ρ whose (ε, δ) conversion stays within `epsilon` at `delta` (bisection)."""
    check_budget(epsilon, delta)
    low, high = 0.0, max(epsilon, 1.0)
    while epsilon_of(high, delta) < epsilon:
        high *= 2.0
    for _ in range(60):
        middle = (low + high) / 2.0
        low, high = (middle, high) if epsilon_of(middle, delta) <= epsilon else (low, middle)
    return low


def noise_scale(rho: float) -> float:
    """σ of the Gaussian noise that makes a sensitivity-1 count ρ-zCDP: √(1/(2ρ))."""
    return float(np.sqrt(1.0 / (2.0 * rho)))


def private_counts(codes: np.ndarray, n_categories: int, rho: float) -> np.ndarray:
    """Counts of the integer codes 0 … n_categories − 1 (any other code, e.g. −1 for missing,
    is counted in one extra last cell), each with Gaussian noise: ρ-zCDP. One patient moves one
    cell by one, so the counts' L2 sensitivity is 1 and the noise's σ is √(1/(2ρ))."""
    if rho <= 0:
        raise JumeauError(f"a private count needs a positive budget, not ρ = {rho}")
    dp = _opendp()
    space = dp.vector_domain(dp.atom_domain(T=int)), dp.symmetric_distance()
    scale = noise_scale(rho)
    measurement = (
        space
        >> dp.t.then_count_by_categories(
            categories=list(range(n_categories)), null_category=True, MO="L2Distance<int>"
        )
        >> dp.m.then_gaussian(scale=scale)
    )
    assert measurement.map(1) <= rho * (1 + 1e-9)
    return np.asarray(measurement([int(c) for c in codes]), dtype=float)


def private_gaussian_vector(values: np.ndarray, *, sensitivity: float, rho: float) -> np.ndarray:
    """`values` (a vector computed from the patients whose L2 sensitivity — how far one patient
    added or removed can move it — the caller bounds by `sensitivity`) with Gaussian noise of
    σ = sensitivity · √(1/(2ρ)): ρ-zCDP, through OpenDP's Gaussian mechanism."""
    if rho <= 0 or sensitivity <= 0:
        raise JumeauError(f"a private vector needs a positive budget, not ρ = {rho}")
    dp = _opendp()
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l2_distance(T=float)
    measurement = dp.m.make_gaussian(*space, scale=sensitivity * noise_scale(rho))
    assert measurement.map(sensitivity) <= rho * (1 + 1e-9)
    return np.asarray(measurement([float(v) for v in np.ravel(values)]), dtype=float)


def private_bounds(
    values: np.ndarray, rho: float, *, lower: float | None = None
) -> tuple[float, float]:
    """A low and a high bound of `values`, from one noisy histogram over the public power-of-2
    bins `BOUND_EDGES` (ρ-zCDP): the outer edges of the lowest and the highest bin whose noisy
    count exceeds `BOUND_NOISE_FLOOR` σ (the few patients beyond are clamped onto them). Why a
    histogram and not private quantiles: a quantile's score is the same for every candidate
    below the data (none of the patients lies below any of them), so the exponential mechanism
    spreads its choice over all of them and sends the bound orders of magnitude out; empty bins
    stay under the noise floor. A public `lower` (a schema's `min`) is kept as it is. No bin
    clearing the floor (too few patients for the budget) raises `BudgetTooSmallError`."""
    counts = bound_histogram(values, rho)
    return bounds_from_histogram(counts, noise_scale(rho), lower=lower)


def bound_histogram(values: np.ndarray, rho: float) -> np.ndarray:
    """Noisy counts of `values` over the public power-of-2 bins `BOUND_EDGES` (ρ-zCDP): what
    `private_bounds` reads a range off. Hospitals' histograms add up (their noise too)."""
    codes = np.searchsorted(BOUND_EDGES, np.asarray(values, dtype=float), side="left")
    return private_counts(codes, len(BOUND_EDGES) + 1, rho)[:-1]


def bounds_from_histogram(
    counts: np.ndarray, sigma: float, *, lower: float | None = None
) -> tuple[float, float]:
    """The outer edges of the lowest and the highest bin of a `bound_histogram` (or a sum of
    several, whose noise σ is then √k times one's) whose count clears `BOUND_NOISE_FLOOR` σ;
    a public `lower` is kept. None clearing it raises `BudgetTooSmallError`."""
    full = np.flatnonzero(counts > BOUND_NOISE_FLOOR * sigma)
    if full.size == 0:
        raise BudgetTooSmallError(
            "the budget is too small to find the range of so few patients' values"
        )
    edges = np.concatenate([[-_POWERS[-1]], BOUND_EDGES, [_POWERS[-1]]])
    low = float(edges[full[0]]) if lower is None else float(lower)
    high = float(edges[full[-1] + 1])
    if high <= low:  # the whole mass under a public lower bound: one bin above it
        above = BOUND_EDGES[low < BOUND_EDGES]
        high = float(above[0]) if above.size else low + 1.0
    return low, high


def histogram_edges(low: float, high: float, bins: int, *, integer: bool = False) -> np.ndarray:
    """Public bin edges between `low` and `high`: one bin per integer for an integer column
    whose range holds no more values than `bins`; for a non-negative number, half the bins
    equal on the log scale (a lab, a count, a dose is often skewed: they resolve its bulk near
    zero, where equal bins would put nearly everyone in one) merged with half equal on the
    linear scale (a score from 0 to 100 whose patients sit between 50 and 100); equal bins
    otherwise. An integer column's edges sit halfway between integers, so that each bin holds
    whole values (bins that would hold none merge). Chosen from the bounds alone, never from
    the values."""
    if integer and high - low + 1 <= bins:
        return np.arange(np.floor(low), np.ceil(high) + 2.0) - 0.5
    if low >= 0.0 and high > 0.0:
        start = low if low > 0.0 else high * LOG_BIN_FLOOR
        half = max(bins // 2, 1)
        edges = np.concatenate(
            [np.geomspace(start, high, half + 1), np.linspace(start, high, bins - half + 1)]
        )
        if low == 0.0:
            edges = np.append(edges, 0.0)
    else:
        edges = np.linspace(low, high, bins + 1)
    if integer:
        edges = np.concatenate([[np.floor(low)], np.round(edges), [np.ceil(high) + 1.0]]) - 0.5
    return np.unique(edges)


def support_floor(bins: int) -> float:
    """√(2 ln bins): about the largest noise, in σ, among `bins` empty bins."""
    return float(np.sqrt(2.0 * np.log(max(bins, 2))))


def cleaned_counts(
    noisy: np.ndarray, sigma: float | np.ndarray, *, empty_as_flat: bool = True
) -> np.ndarray:
    """Noisy counts read back as a histogram (post-processing): the data's support runs from the
    first to the last bin whose count clears `support_floor` σ — no empty bin's noise does, so
    no mass is spread into tails no patient has — and inside it counts under
    `HISTOGRAM_NOISE_FLOOR` σ are read as empty. `sigma`: one noise σ, or each bin's. A
    histogram the noise swamped everywhere is read as flat (`empty_as_flat`: its patients must
    be somewhere), else as empty (they are elsewhere: at a number's atoms)."""
    counts = np.where(noisy >= HISTOGRAM_NOISE_FLOOR * sigma, noisy, 0.0)
    support = np.flatnonzero(noisy >= support_floor(noisy.size) * sigma)
    if support.size:
        counts[: support[0]] = 0.0
        counts[support[-1] + 1 :] = 0.0
    if counts.sum() <= 0:
        return np.ones_like(counts) if empty_as_flat else np.zeros_like(counts)
    return counts


def tied_table(
    counts: np.ndarray, grid: np.ndarray, sigma: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """The values of a public grid (one per integer) that clear `support_floor` σ and their
    counts, when they hold at least `TIED_SHARE` of the histogram: a score in steps of 10, a
    count of nodes. Else None (the column is dense on its grid: read it as a histogram)."""
    kept = counts >= support_floor(counts.size) * sigma
    if not kept.any() or counts[kept].sum() < TIED_SHARE * counts.sum():
        return None
    return grid[kept], counts[kept]
