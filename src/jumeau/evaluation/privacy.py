"""Privacy by distances: how close is each artificial patient to the closest real one?

Distances are Gower-style, for mixed types: numbers differ by |a − b| / range (range of the
training data), categories by 0 or 1, a missing value against a present one by 1; the distance
between two patients is the mean over columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jumeau.data.cohort import Cohort
from jumeau.data.schema import CATEGORY_KINDS
from jumeau.evaluation.features import feature_matrix, shared_columns

CHUNK = 512


@dataclass(frozen=True)
class DistanceToClosestRecord:
    """DCRs of artificial patients to the training and holdout patients, and what follows."""

    to_train: np.ndarray  # per artificial patient: distance to the closest training patient
    to_holdout: np.ndarray  # ... to the closest holdout patient (same number of patients)
    holdout_to_train: np.ndarray  # per holdout patient: distance to the closest training one

    @property
    def share_closer_to_train(self) -> float:
        """The DCR share: ≈ 0.5 for a model that learned the distribution, → 1 for copies."""
        closer = (self.to_train < self.to_holdout).mean()
        ties = (self.to_train == self.to_holdout).mean()
        return float(closer + 0.5 * ties)

    @property
    def exact_copies(self) -> int:
        """Artificial patients identical to a training patient on every modelled column."""
        return int((self.to_train == 0).sum())


def distance_to_closest_record(
    train: Cohort, holdout: Cohort, artificial: Cohort, *, seed: int = 0
) -> DistanceToClosestRecord:
    """DCRs with train and holdout of equal size (the larger is subsampled), so that a model
    which learned the distribution is as close to one as to the other."""
    rng = np.random.default_rng(seed)
    columns = shared_columns(train, artificial)
    categorical = np.array([train.schema.columns[c].kind in CATEGORY_KINDS for c in columns])
    x_train = feature_matrix(train.data, train.schema, columns)
    x_holdout = feature_matrix(holdout.data, train.schema, columns)
    x_art = feature_matrix(artificial.data, train.schema, columns)
    size = min(len(x_train), len(x_holdout))
    train_part = x_train[rng.choice(len(x_train), size, replace=False)]
    holdout_part = x_holdout[rng.choice(len(x_holdout), size, replace=False)]
    ranges = np.nanmax(x_train, axis=0) - np.nanmin(x_train, axis=0)
    ranges = np.where((ranges > 0) & ~categorical, ranges, 1.0)
    return DistanceToClosestRecord(
        to_train=_closest(x_art, train_part, ranges, categorical),
        to_holdout=_closest(x_art, holdout_part, ranges, categorical),
        holdout_to_train=_closest(x_holdout, x_train, ranges, categorical),
    )


def _closest(
    queries: np.ndarray, references: np.ndarray, ranges: np.ndarray, categorical: np.ndarray
) -> np.ndarray:
    result = np.empty(len(queries))
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
