"""Privacy by distances: how close is each artificial patient to the closest real one?

Distances are Gower-style, for mixed types: numbers differ by |a − b| / range (range of the
training data), categories by 0 or 1, a missing value against a present one by 1; the distance
between two patients is the mean over columns.

An exact match is not always a copy. When several training patients share one exact profile —
common in cohorts of a few categories and coarse integers, where half the real patients can have
a twin — an artificial patient with that profile singles nobody out, and real unseen patients
match it as often. Only a match with a profile fewer than `shared_profile_k` training patients
hold (by default: a profile that is one patient's alone) counts as an exact copy.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, ndtri

from jumeau.data.cohort import Cohort
from jumeau.data.schema import CATEGORY_KINDS
from jumeau.errors import JumeauError
from jumeau.evaluation.features import feature_matrix, shared_columns

CHUNK = 512
# An exact profile at least this many training patients hold is shared: matching it singles no
# one out (k-anonymity's k). 2 is the least that avoids singling out; the small-cell rules of
# health statistics offices (5, 11) are stricter settings of the same rule.
SHARED_PROFILE_K = 2
# The DCR share's standard error: half-set draws, and at most this many artificial patients
INTERVAL_DRAWS = 200
Z95 = float(ndtri(0.975))  # a two-sided 95 % interval's half-width in standard errors
INTERVAL_PATIENTS = 1000


@dataclass(frozen=True)
class DistanceToClosestRecord:
    """DCRs of artificial patients to the training and holdout patients, and what follows."""

    to_train: np.ndarray  # per artificial patient: distance to the closest training patient
    # of a training subsample as large as the holdout (what the DCR share compares)
    to_holdout: np.ndarray  # ... to the closest holdout patient (same number of patients)
    holdout_to_train: np.ndarray  # per holdout patient: distance to the closest training one
    to_all_train: np.ndarray  # per artificial patient: distance to the closest of *all* training
    # per artificial patient: how many training patients have exactly its profile (0: none)
    train_twins: np.ndarray
    shared_profile_k: int = SHARED_PROFILE_K
    # per holdout patient: how many training patients have exactly its profile
    holdout_train_twins: np.ndarray | None = None
    # per artificial patient: the chance, over every subsample of the larger reference set as
    # large as the smaller one, that it is closer to the training side (ties counting half)
    closer_chance: np.ndarray | None = None

    @property
    def share_closer_to_train(self) -> float:
        """The DCR share: ≈ 0.5 for a model that learned the distribution, → 1 for copies. Its
        expectation over the subsamples of the larger reference set (`closer_chance`) where
        measured, else the share on the one subsample `to_train`/`to_holdout` were taken on."""
        if self.closer_chance is not None and len(self.closer_chance):
            return float(np.mean(self.closer_chance))
        return share_closer(self.to_train, self.to_holdout)

    @property
    def shared(self) -> np.ndarray:
        """Per artificial patient: it has a profile that `shared_profile_k` or more training
        patients hold (no copy of anyone)."""
        return self.train_twins >= self.shared_profile_k

    @property
    def exact_copies(self) -> int:
        """Artificial patients identical, on every modelled column, to a training patient whose
        profile fewer than `shared_profile_k` training patients hold."""
        return int(((self.to_all_train == 0) & ~self.shared).sum())

    @property
    def shared_profile_matches(self) -> int:
        """Artificial patients identical to a profile that several training patients share."""
        return int(self.shared.sum())


class GowerSpace:
    """Cohorts as feature matrices with the scales of the Gower distance, fixed by `train`."""

    def __init__(self, train: Cohort, other: Cohort) -> None:
        self.schema = train.schema
        self.columns = shared_columns(train, other)
        self.categorical = np.array(
            [train.schema.columns[c].kind in CATEGORY_KINDS for c in self.columns], dtype=bool
        )
        self.train = self.features(train)
        if len(self.train) and self.train.shape[1]:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column
                ranges = np.nanmax(self.train, axis=0) - np.nanmin(self.train, axis=0)
        else:
            ranges = np.ones(len(self.columns))
        self.ranges = np.where((ranges > 0) & ~self.categorical, ranges, 1.0)

    def features(self, cohort: Cohort) -> np.ndarray:
        return feature_matrix(cohort.data, self.schema, self.columns)

    def closest(self, queries: np.ndarray, references: np.ndarray) -> np.ndarray:
        """Per query row: the Gower distance to the closest reference row."""
        return _closest(queries, references, self.ranges, self.categorical)

    def distances(self, queries: np.ndarray, references: np.ndarray) -> np.ndarray:
        """Gower distances of every query row to every reference row, in chunks of queries."""
        blocks = [
            _gower(queries[start : start + CHUNK], references, self.ranges, self.categorical)
            for start in range(0, len(queries), CHUNK)
        ]
        return np.concatenate(blocks) if blocks else np.zeros((0, len(references)))

    def train_twins(self, queries: np.ndarray) -> np.ndarray:
        """Per query row: how many training rows it equals on every column (Gower distance 0,
        missing matching missing). Counted by hashing rows, not by pairwise distances."""
        counts = Counter(_profile_keys(self.train))
        return np.array([counts.get(key, 0) for key in _profile_keys(queries)], dtype=np.int64)


def _profile_keys(features: np.ndarray) -> list[bytes]:
    missing = np.isnan(features)
    values = np.where(missing, 0.0, features) + 0.0  # + 0.0 turns -0.0 into 0.0
    return [row.tobytes() + flags.tobytes() for row, flags in zip(values, missing, strict=True)]


def share_closer(to_train: np.ndarray, to_holdout: np.ndarray) -> float:
    """Share of patients closer to the training set than to the holdout, ties counting half."""
    closer = (to_train < to_holdout).mean()
    ties = (to_train == to_holdout).mean()
    return float(closer + 0.5 * ties)


def check_shared_profile_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 2:
        raise JumeauError(
            f"shared_profile_k must be an integer of at least 2 (patients sharing a profile), "
            f"not {k!r}"
        )
    return int(k)


def distance_to_closest_record(
    train: Cohort,
    holdout: Cohort,
    artificial: Cohort,
    *,
    seed: int = 0,
    shared_profile_k: int = SHARED_PROFILE_K,
) -> DistanceToClosestRecord:
    """DCRs with train and holdout of equal size (the larger is subsampled), so that a model
    which learned the distribution is as close to one as to the other."""
    shared_profile_k = check_shared_profile_k(shared_profile_k)
    rng = np.random.default_rng(seed)
    space = GowerSpace(train, artificial)
    x_train, x_holdout, x_art = space.train, space.features(holdout), space.features(artificial)
    size = min(len(x_train), len(x_holdout))
    subsample = rng.choice(len(x_train), size, replace=False)
    holdout_part = x_holdout[rng.choice(len(x_holdout), size, replace=False)]
    to_all_train = space.closest(x_art, x_train)
    # with no subsampling the two are the same distances (the subsample is a permutation)
    full = size == len(x_train)
    to_train = to_all_train if full else space.closest(x_art, x_train[subsample])
    return DistanceToClosestRecord(
        to_train=to_train,
        to_holdout=space.closest(x_art, holdout_part),
        holdout_to_train=space.closest(x_holdout, x_train),
        to_all_train=to_all_train,
        train_twins=space.train_twins(x_art),
        shared_profile_k=shared_profile_k,
        holdout_train_twins=space.train_twins(x_holdout),
        closer_chance=closer_chance(space, x_art, x_train, x_holdout),
    )


def closer_chance(
    space: GowerSpace, x_art: np.ndarray, x_train: np.ndarray, x_holdout: np.ndarray
) -> np.ndarray:
    """Per artificial patient: the chance that it sits closer to a training subsample than to
    the holdout, ties counting half, over *every* subsample of the larger set as large as the
    smaller one — the DCR share's expectation over the subsample, where one drawn subsample
    moved the share by ± 0.02–0.03 on gbsg2 and lung (sd over 200 draws) on top of the
    reference patients' own noise. Exact, from counts: a random m-subset of N patients misses
    c given ones with probability C(N − c, m) / C(N, m)."""
    if len(x_art) == 0 or len(x_train) == 0 or len(x_holdout) == 0:
        return np.full(len(x_art), 0.5)
    m = min(len(x_train), len(x_holdout))
    chances = np.empty(len(x_art))
    for start in range(0, len(x_art), CHUNK):
        chunk = x_art[start : start + CHUNK]
        to_train = space.distances(chunk, x_train)
        to_holdout = space.distances(chunk, x_holdout)
        if len(x_train) >= len(x_holdout):  # the training side is subsampled
            fixed = to_holdout.min(axis=1, keepdims=True)
            below = _miss_chance(len(x_train), (to_train < fixed).sum(axis=1), m)
            at_most = _miss_chance(len(x_train), (to_train <= fixed).sum(axis=1), m)
            closer, tie = 1.0 - below, below - at_most  # the subsample's min < or = the holdout's
        else:  # the holdout side is subsampled
            fixed = to_train.min(axis=1, keepdims=True)
            below = _miss_chance(len(x_holdout), (to_holdout < fixed).sum(axis=1), m)
            at_most = _miss_chance(len(x_holdout), (to_holdout <= fixed).sum(axis=1), m)
            closer, tie = at_most, below - at_most
        chances[start : start + CHUNK] = closer + 0.5 * tie
    return chances


def _miss_chance(population: int, given: np.ndarray, size: int) -> np.ndarray:
    """Chance that a random `size`-subset of `population` patients misses `given` of them."""
    rest = population - np.asarray(given, dtype=np.float64)
    kept = np.maximum(rest, size)  # where rest < size the subset cannot miss them: chance 0
    log_chance = (
        gammaln(kept + 1)
        - gammaln(kept - size + 1)
        - gammaln(population + 1)
        + gammaln(population - size + 1)
    )
    return np.where(rest >= size, np.exp(log_chance), 0.0)


def dcr_share_standard_error(
    train: Cohort,
    holdout: Cohort,
    artificial: Cohort,
    *,
    seed: int = 0,
    draws: int = INTERVAL_DRAWS,
) -> float:
    """The DCR share's standard error. Its uncertainty lies in the two reference sets — the
    holdout and the equally large training subsample, a few dozen patients in a small cohort —
    not in the thousands of artificial patients. Each draw takes half of each set without
    replacement and measures the share on those halves; the spread of half-set shares, divided
    by √2 (a share's variance falls as one over the set size), is the full sets' standard error.
    Half-sets rather than the bootstrap: resampling with replacement drops a third of the
    training patients from each draw, hiding copies of them, and thins the holdout, pushing an
    honest model's share above 0.5. At most `INTERVAL_PATIENTS` artificial patients are used."""
    shares = half_set_shares(train, holdout, [artificial], seed=seed, draws=draws)
    return float("nan") if shares is None else float(shares[0].std(ddof=1) / np.sqrt(2.0))


def half_set_shares(
    train: Cohort,
    holdout: Cohort,
    cohorts: list[Cohort],
    *,
    seed: int = 0,
    draws: int = INTERVAL_DRAWS,
) -> np.ndarray | None:
    """Each cohort's DCR share on `draws` random halves of the training set and of the holdout,
    the same halves for every cohort (cohorts × draws), so that two cohorts' shares can be
    compared draw by draw: the reference sets' noise, which dominates either share, cancels in
    their difference. None when a reference set has fewer than two patients."""
    rng = np.random.default_rng(seed)
    space = GowerSpace(train, cohorts[0])
    x_holdout = space.features(holdout)
    half = min(len(space.train), len(x_holdout)) // 2
    if half < 1 or any(len(c) == 0 for c in cohorts):
        return None
    distances = []
    for cohort in cohorts:
        x_art = space.features(cohort)
        if len(x_art) > INTERVAL_PATIENTS:
            x_art = x_art[rng.choice(len(x_art), INTERVAL_PATIENTS, replace=False)]
        distances.append((space.distances(x_art, space.train), space.distances(x_art, x_holdout)))
    shares = np.empty((len(cohorts), draws))
    for draw in range(draws):
        train_half = rng.choice(len(space.train), half, replace=False)
        holdout_half = rng.choice(len(x_holdout), half, replace=False)
        for i, (to_train, to_holdout) in enumerate(distances):
            shares[i, draw] = share_closer(
                to_train[:, train_half].min(axis=1), to_holdout[:, holdout_half].min(axis=1)
            )
    return shares


def normal_interval(
    value: float, standard_error: float, level: float = 0.95
) -> tuple[float, float]:
    """value ± z·se, within [0, 1] (a share)."""
    if not 0.0 < level < 1.0:
        raise JumeauError(f"the interval's level must be between 0 and 1, not {level}")
    margin = float(ndtri((1 + level) / 2)) * standard_error
    return max(0.0, value - margin), min(1.0, value + margin)


def _gower(
    queries: np.ndarray, references: np.ndarray, ranges: np.ndarray, categorical: np.ndarray
) -> np.ndarray:
    """Gower distances of every query row to every reference row (queries × references)."""
    q, ref = queries[:, None, :], references[None, :, :]
    difference = np.abs(q - ref) / ranges
    difference = np.where(categorical, (difference > 0).astype(float), difference)
    q_missing, r_missing = np.isnan(q), np.isnan(ref)
    difference = np.where(q_missing & r_missing, 0.0, difference)
    difference = np.where(q_missing ^ r_missing, 1.0, difference)
    return np.minimum(difference, 1.0).mean(axis=2)


def _closest(
    queries: np.ndarray, references: np.ndarray, ranges: np.ndarray, categorical: np.ndarray
) -> np.ndarray:
    if len(references) == 0:
        return np.full(len(queries), np.inf)
    result = np.empty(len(queries))
    for start in range(0, len(queries), CHUNK):
        chunk = queries[start : start + CHUNK]
        result[start : start + CHUNK] = _gower(chunk, references, ranges, categorical).min(axis=1)
    return result
