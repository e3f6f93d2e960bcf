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

from jumeau.data.cohort import Cohort
from jumeau.data.schema import CATEGORY_KINDS
from jumeau.errors import JumeauError
from jumeau.evaluation.features import feature_matrix, shared_columns

CHUNK = 512
# An exact profile at least this many training patients hold is shared: matching it singles no
# one out (k-anonymity's k). 2 is the least that avoids singling out; the small-cell rules of
# health statistics offices (5, 11) are stricter settings of the same rule.
SHARED_PROFILE_K = 2


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

    @property
    def share_closer_to_train(self) -> float:
        """The DCR share: ≈ 0.5 for a model that learned the distribution, → 1 for copies."""
        closer = (self.to_train < self.to_holdout).mean()
        ties = (self.to_train == self.to_holdout).mean()
        return float(closer + 0.5 * ties)

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

    def train_twins(self, queries: np.ndarray) -> np.ndarray:
        """Per query row: how many training rows it equals on every column (Gower distance 0,
        missing matching missing). Counted by hashing rows, not by pairwise distances."""
        counts = Counter(_profile_keys(self.train))
        return np.array([counts.get(key, 0) for key in _profile_keys(queries)], dtype=np.int64)


def _profile_keys(features: np.ndarray) -> list[bytes]:
    missing = np.isnan(features)
    values = np.where(missing, 0.0, features) + 0.0  # + 0.0 turns -0.0 into 0.0
    return [row.tobytes() + flags.tobytes() for row, flags in zip(values, missing, strict=True)]


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
    )


def _closest(
    queries: np.ndarray, references: np.ndarray, ranges: np.ndarray, categorical: np.ndarray
) -> np.ndarray:
    result = np.empty(len(queries))
    if len(references) == 0:
        return np.full(len(queries), np.inf)
    ref = references[None, :, :]
    for start in range(0, len(queries), CHUNK):
        q = queries[start : start + CHUNK, None, :]
        difference = np.abs(q - ref) / ranges
        difference = np.where(categorical, (difference > 0).astype(float), difference)
        q_missing, r_missing = np.isnan(q), np.isnan(ref)
        difference = np.where(q_missing & r_missing, 0.0, difference)
        difference = np.where(q_missing ^ r_missing, 1.0, difference)
        result[start : start + CHUNK] = np.minimum(difference, 1.0).mean(axis=2).min(axis=1)
    return result
