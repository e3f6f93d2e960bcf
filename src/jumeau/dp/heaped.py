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
each bin; the two are combined by inverse variance (post-processing). Every step goes through
`private_counts` (OpenDP); together they are ρ-zCDP for the ρ given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


@dataclass(frozen=True)
class HeapedHistogram:
    """A released number: bin `edges` with the noisy `counts` of the values off the atoms, and
    the `atoms` (values) with their own noisy `atom_counts`. Counts are cleaned: non-negative,
    zero where the noise explains them."""

    edges: np.ndarray
    counts: np.ndarray
    atoms: np.ndarray
    atom_counts: np.ndarray

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
    searched: tuple[np.ndarray, np.ndarray] | None = None  # the search's (counts, variances)
    if lattice is not None:
        on_grid = onto_lattice(values, lattice)
        values = lattice[on_grid]
        grid_bins = _bin_codes(lattice, edges)
        if atom_search_pays(patients, rho, lattice.size):
            search_rho = ATOM_SHARE * rho
            rho -= search_rho
            noisy = private_counts(on_grid, lattice.size, search_rho)[:-1]
            floor = max(support_floor(lattice.size) * noise_scale(search_rho), ATOM_MIN_PATIENTS)
            found = noisy >= floor
            atoms = lattice[found]
            searched = (
                np.bincount(grid_bins[~found], weights=noisy[~found], minlength=bins),
                np.bincount(grid_bins[~found], minlength=bins) * noise_scale(search_rho) ** 2,
            )
        holds_grid = np.bincount(grid_bins, minlength=bins) > 0
    else:
        holds_grid = np.ones(bins, dtype=bool)
    atom_index = np.clip(np.searchsorted(atoms, values), 0, max(atoms.size - 1, 0))
    on_atom = atoms[atom_index] == values if atoms.size else np.zeros(values.size, dtype=bool)
    codes = np.where(on_atom, atom_index, atoms.size + _bin_codes(values, edges))
    noisy = private_counts(codes, atoms.size + bins, rho)[:-1]
    variance = np.full(bins, noise_scale(rho) ** 2)
    counts = noisy[atoms.size :]
    if searched is not None:  # inverse-variance combination with the search's bin sums
        extra, extra_variance = searched
        usable = extra_variance > 0
        weight = np.where(usable, 1.0 / np.where(usable, extra_variance, 1.0), 0.0)
        counts = (counts / variance + extra * weight) / (1.0 / variance + weight)
        variance = 1.0 / (1.0 / variance + weight)
    counts = np.where(holds_grid, counts, 0.0)  # a bin no grid value falls in holds nobody
    atom_counts = np.maximum(noisy[: atoms.size], 0.0)
    cleaned = cleaned_counts(counts, np.sqrt(variance), empty_as_flat=atoms.size == 0)
    if cleaned.sum() + atom_counts.sum() <= 0:  # the atoms' counts lost in noise too
        cleaned = np.ones_like(cleaned)
    return HeapedHistogram(edges, cleaned, atoms, atom_counts)


def _bin_codes(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each value's bin under `edges` (values outside are clamped onto the end bins)."""
    clamped = np.clip(np.asarray(values, dtype=float), edges[0], edges[-1])
    return np.clip(np.searchsorted(edges, clamped, side="right") - 1, 0, len(edges) - 2)
