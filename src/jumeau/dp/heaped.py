"""A number's distribution under differential privacy as a histogram plus atoms: the values many
patients share.

Why: clinical numbers heap. A Karnofsky score moves in steps of 10, calories are written to the
nearest 25, a tumour size to the nearest 5 mm, weight loss is 0 for one patient in six. A
histogram smears such a value over its bin, and the values between the steps — 73 for a
Karnofsky score — are what a classifier telling artificial from real patients spots first
(lung at ε = 10: one Karnofsky column alone told them apart with AUC 0.86). So a number with a
public grid (the integers; a continuous column's released precision) is released in two steps:

1. a search: a noisy count of every grid value (one patient moves one count: sensitivity 1);
   the values whose count clears the noise of the largest of that many empty cells (and
   `ATOM_MIN_PATIENTS`) are the column's atoms (`ATOM_SHARE` of the budget; skipped when no
   atom under `ATOM_REACH` of the patients could clear it, so that a budget too small to find
   one is not spent looking);
2. one noisy count per atom and per histogram bin of the other values (again sensitivity 1).

The search's counts of the other grid values, summed per bin, are a second, noisier estimate of
each bin; the two are combined by inverse variance (post-processing).

Heaping short of atoms — calories to the nearest 25 where each multiple of 25 holds only a few
patients, a tumour size to the nearest 5 mm for half of them — is released as digit preference
(Heitjan & Rubin's coarsening): a noisy count of the patients off the atoms by the coarsest
`HEAPING_STEPS` multiple of the grid their value sits on (`HEAPING_SHARE` of the budget, when the
search runs), from which the share of values rounded to each step is estimated (non-negative
least squares against what rounding to each step yields); artificial values off the atoms are
rounded alike (`heaped_rounding`).

Every step goes through `private_counts` (OpenDP); together they are ρ-zCDP for the ρ given.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import nnls

from jumeau.dp.mechanisms import cleaned_counts, noise_scale, private_counts, support_floor

# The share of a number's histogram budget spent searching its grid for atoms
ATOM_SHARE = 0.5
# A grid of more values than this is not searched (a lab to two decimals over a wide range)
MAX_LATTICE = 10_000
# The search runs only when an atom holding this share of the patients would clear its noise
ATOM_REACH = 0.2
# An atom counts at least this many patients, whatever the budget: at a very large ε the noise
# alone would let a value one patient holds through (post-processing of the noisy count)
ATOM_MIN_PATIENTS = 5.0
# Digit preference: the multiples of the grid's step a value may be rounded to, and the share of
# the histogram budget (when the search runs) that measures how often each is
HEAPING_STEPS = (5, 10, 25, 50, 100)
HEAPING_SHARE = 0.15


@dataclass(frozen=True)
class HeapedHistogram:
    """A released number: bin `edges` with the noisy `counts` of the values off the atoms, and
    the `atoms` (values) with their own noisy `atom_counts`. Counts are cleaned: non-negative,
    zero where the noise explains them."""

    edges: np.ndarray
    counts: np.ndarray
    atoms: np.ndarray
    atom_counts: np.ndarray
    heaping: np.ndarray | None = None  # [grid step, share unrounded, share per HEAPING_STEPS]

    @property
    def total(self) -> float:
        return float(self.counts.sum() + self.atom_counts.sum())


def lattice_points(low: float, high: float, step: float) -> np.ndarray | None:
    """The multiples of `step` between `low` and `high` (a public grid: the bounds and the
    precision are public or released), or None when there are more than `MAX_LATTICE`."""
    first = int(np.ceil(low / step - 1e-9))
    last = int(np.floor(high / step + 1e-9))
    if last < first or last - first + 1 > MAX_LATTICE:
        return None
    decimals = max(0, int(np.ceil(-np.log10(step) - 1e-9)))
    return np.round(np.arange(first, last + 1) * step, decimals)


def onto_lattice(values: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """Each value's index on the grid: the nearest grid value (values are clamped into it). A
    row-wise map of public parameters: it leaves the sensitivity of the counts as it is."""
    step = lattice[1] - lattice[0] if lattice.size > 1 else 1.0
    index = np.round((np.asarray(values, dtype=float) - lattice[0]) / step)
    return np.clip(index, 0, lattice.size - 1).astype(np.int64)


def atom_search_pays(patients: float, rho: float, grid_size: int) -> bool:
    """Whether an atom holding `ATOM_REACH` of `patients` (a released, noisy count) would clear
    the search's noise floor at `ATOM_SHARE` of `rho`: a function of public quantities."""
    floor = support_floor(grid_size) * noise_scale(ATOM_SHARE * rho)
    return floor <= ATOM_REACH * max(float(patients), 1.0)


def private_heaped_histogram(
    values: np.ndarray,
    edges: np.ndarray,
    rho: float,
    *,
    lattice: np.ndarray | None,
    patients: float,
) -> HeapedHistogram:
    """`values` released as atoms and a histogram over the public `edges` (see the module
    docstring), ρ-zCDP. `lattice`: the public grid the values sit on (None: no atoms are
    searched, and values are binned as they are); `patients`: the released count of values,
    which decides whether the search pays."""
    values = np.asarray(values, dtype=float)
    bins = len(edges) - 1
    atoms = np.empty(0)
    on_atom = np.zeros(values.size, dtype=bool)
    heaping = None
    searched: tuple[np.ndarray, np.ndarray] | None = None  # the search's (counts, variances)
    if lattice is not None:
        on_grid = onto_lattice(values, lattice)
        values = lattice[on_grid]
        grid_bins = _bin_codes(lattice, edges)
        if atom_search_pays(patients, rho, lattice.size):
            search_rho = ATOM_SHARE * rho
            rho -= search_rho
            heaping_rho = HEAPING_SHARE * rho
            rho -= heaping_rho
            noisy = private_counts(on_grid, lattice.size, search_rho)[:-1]
            floor = max(support_floor(lattice.size) * noise_scale(search_rho), ATOM_MIN_PATIENTS)
            found = noisy >= floor
            atoms = lattice[found]
            on_atom = np.isin(values, atoms)
            heaping = private_heaping(values[~on_atom], lattice, heaping_rho)
            searched = (
                np.bincount(grid_bins[~found], weights=noisy[~found], minlength=bins),
                np.bincount(grid_bins[~found], minlength=bins) * noise_scale(search_rho) ** 2,
            )
        holds_grid = np.bincount(grid_bins, minlength=bins) > 0
    else:
        holds_grid = np.ones(bins, dtype=bool)
    codes = np.where(
        on_atom, np.searchsorted(atoms, values), atoms.size + _bin_codes(values, edges)
    )
    noisy = private_counts(codes, atoms.size + bins, rho)[:-1]
    variance = np.full(bins, noise_scale(rho) ** 2)
    counts = noisy[atoms.size :]
    if searched is not None:  # inverse-variance combination with the search's bin sums
        extra, extra_variance = searched  # a bin holding no searched value gets weight 0
        weight = np.divide(1.0, extra_variance, out=np.zeros(bins), where=extra_variance > 0)
        counts = (counts / variance + extra * weight) / (1.0 / variance + weight)
        variance = 1.0 / (1.0 / variance + weight)
    counts = np.where(holds_grid, counts, 0.0)  # a bin no grid value falls in holds nobody
    atom_counts = np.maximum(noisy[: atoms.size], 0.0)
    cleaned = cleaned_counts(counts, np.sqrt(variance), empty_as_flat=atoms.size == 0)
    if cleaned.sum() + atom_counts.sum() <= 0:  # the atoms' counts lost in noise too
        cleaned = np.ones_like(cleaned)
    return HeapedHistogram(edges, cleaned, atoms, atom_counts, heaping)


def _bin_codes(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each value's bin under `edges` (values outside are clamped onto the end bins)."""
    clamped = np.clip(np.asarray(values, dtype=float), edges[0], edges[-1])
    return np.clip(np.searchsorted(edges, clamped, side="right") - 1, 0, len(edges) - 2)


def private_heaping(values: np.ndarray, lattice: np.ndarray, rho: float) -> np.ndarray | None:
    """[grid step, share of values left as they are, share rounded to each `HEAPING_STEPS`
    multiple of the step] from a noisy count of `values` (on `lattice`) by the coarsest multiple
    they sit on (ρ-zCDP; one patient, one count). Steps longer than half the lattice's span are
    not candidates. None when no step is."""
    step = float(lattice[1] - lattice[0]) if lattice.size > 1 else 1.0
    usable = tuple(k for k in HEAPING_STEPS if k * step <= (lattice[-1] - lattice[0]) / 2.0)
    if not usable:
        return None
    units = np.round(np.asarray(values, dtype=float) / step).astype(np.int64)
    noisy = private_counts(_coarsest_step(units, usable), len(usable) + 1, rho)[:-1]
    observed = np.maximum(noisy, 0.0)
    if observed.sum() <= 0:
        return None
    shares = _rounding_shares(observed / observed.sum(), usable)
    full = np.zeros(len(HEAPING_STEPS) + 1)
    full[0] = shares[0]
    for k, share in zip(usable, shares[1:], strict=True):
        full[1 + HEAPING_STEPS.index(k)] = share
    return np.concatenate([[step], full])


def heaped_rounding(numbers: np.ndarray, cdf: np.ndarray, heaping: np.ndarray) -> np.ndarray:
    """`numbers` with each rounded to the step a draw from the released shares picks (see
    `private_heaping`). The draw is a function of the value's own cdf level far below the
    resolution anything is read at (its digits past the 2⁻¹⁶th), which is uniform and
    independent of where the value falls: decoding stays a deterministic map of the model's
    draws, reproducible from the seed, with no generator of its own."""
    step, shares = float(heaping[0]), np.asarray(heaping[1:], dtype=float)
    multiples = np.array((1, *HEAPING_STEPS), dtype=float) * step
    uniform = np.mod(np.asarray(cdf, dtype=float) * 65536.0, 1.0)
    choice = np.searchsorted(np.cumsum(shares) / shares.sum(), uniform, side="right")
    grid = multiples[np.minimum(choice, multiples.size - 1)]
    return np.where(choice > 0, np.round(numbers / grid) * grid, numbers)


def _coarsest_step(units: np.ndarray, steps: tuple[int, ...]) -> np.ndarray:
    """Each value's class: the index (1-based) of the coarsest of `steps` that divides it, 0
    for none (0 itself sits on every step)."""
    classes = np.zeros(units.size, dtype=np.int64)
    for index, k in enumerate(steps, start=1):  # steps ascend: a coarser one overwrites
        classes[units % k == 0] = index
    return classes


@lru_cache(maxsize=32)
def _class_matrix(steps: tuple[int, ...]) -> np.ndarray:
    """Column j: the classes (`_coarsest_step`) of values rounded to option j (0: left as they
    are; then each step), over a period of all steps, where values are spread evenly."""
    period = int(np.lcm.reduce(np.array(steps)))
    options = (1, *steps)
    matrix = np.zeros((len(steps) + 1, len(options)))
    for column, k in enumerate(options):
        classes = _coarsest_step(np.arange(0, period, k, dtype=np.int64), steps)
        matrix[:, column] = np.bincount(classes, minlength=len(steps) + 1) / classes.size
    return matrix


def _rounding_shares(observed: np.ndarray, steps: tuple[int, ...]) -> np.ndarray:
    """The shares of values left as they are or rounded to each step that best give the
    observed class shares: non-negative least squares, their sum held to 1 by a heavy row."""
    matrix = _class_matrix(steps)
    weight = 100.0
    design = np.vstack([matrix, weight * np.ones(matrix.shape[1])])
    shares, _ = nnls(design, np.concatenate([observed, [weight]]))
    return shares / shares.sum() if shares.sum() > 0 else np.eye(matrix.shape[1])[0]
