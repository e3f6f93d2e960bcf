"""The similarity filter: drop artificial patients that sit closer to a real training patient
than real patients outside the training set ever come.

Real patients who were never used for training (the holdout) show how close an *independent*
patient typically is to the training set. An artificial patient closer to some training patient
than nearly every holdout patient is (below a low percentile of the holdout → train DCRs) looks
like a near-copy, whether or not it really is one; removing it costs little fidelity and removes
the most direct disclosure risk. Exact copies are always removed, even when a holdout patient
happens to duplicate a training patient (which would put the threshold at zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.evaluation.privacy import GowerSpace

DEFAULT_PERCENTILE = 0.1


@dataclass(frozen=True)
class SimilarityFilter:
    """What the filter kept and why."""

    kept: Cohort
    threshold: float  # Gower distance: artificial patients closer than this were removed
    percentile: float  # of the holdout → train DCRs that set the threshold
    n_input: int
    n_removed: int
    n_exact_copies: int  # among the removed

    @property
    def pass_rate(self) -> float:
        """Share of artificial patients kept (1.0 for an empty input)."""
        return 1.0 - self.n_removed / self.n_input if self.n_input else 1.0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "threshold": self.threshold,
            "percentile": self.percentile,
            "n_input": self.n_input,
            "n_removed": self.n_removed,
            "n_exact_copies": self.n_exact_copies,
            "pass_rate": self.pass_rate,
        }


def filter_close(
    artificial: Cohort,
    train: Cohort,
    holdout: Cohort,
    *,
    percentile: float = DEFAULT_PERCENTILE,
) -> SimilarityFilter:
    """Remove artificial patients closer to a training patient than the `percentile`-th
    percentile of the holdout patients' distances to the training set (Gower DCR)."""
    if len(holdout) == 0:
        raise JumeauError("the similarity filter needs holdout patients to set its threshold")
    space = GowerSpace(train, artificial)
    holdout_dcr = space.closest(space.features(holdout), space.train)
    to_train = space.closest(space.features(artificial), space.train)
    return filter_by_distances(artificial, to_train, holdout_dcr, percentile=percentile)


def too_close(
    to_train: np.ndarray,
    holdout_to_train: np.ndarray,
    *,
    percentile: float = DEFAULT_PERCENTILE,
    what: str = "records",
) -> tuple[np.ndarray, np.ndarray, float]:
    """The filter's rule, for any distance (Gower for patients, pixels for images, course
    features for trajectories): an artificial record is removed when it is an exact copy of a
    training record or closer to one than the `percentile`-th percentile (0–100) of real holdout
    records' distances to the training set. Returns (removed, exact copies, threshold)."""
    if not 0.0 <= percentile <= 100.0:
        raise JumeauError(f"percentile must be between 0 and 100, not {percentile}")
    if len(holdout_to_train) == 0:
        raise JumeauError(f"the similarity filter needs holdout {what} to set its threshold")
    threshold = float(np.percentile(holdout_to_train, percentile))
    copies = to_train == 0.0
    return copies | (to_train < threshold), copies, threshold


def filter_by_distances(
    artificial: Cohort,
    to_train: np.ndarray,
    holdout_to_train: np.ndarray,
    *,
    percentile: float = DEFAULT_PERCENTILE,
) -> SimilarityFilter:
    """`filter_close` from distances already measured: each artificial patient's and each
    holdout patient's Gower distance to the closest of all training patients."""
    removed, copies, threshold = too_close(
        to_train, holdout_to_train, percentile=percentile, what="patients"
    )
    kept = Cohort(
        artificial.data.iloc[np.flatnonzero(~removed)].reset_index(drop=True),
        artificial.schema,
        source=artificial.source,
        artificial=True,  # may be empty: a filter can remove everyone
    )
    return SimilarityFilter(
        kept=kept,
        threshold=threshold,
        percentile=percentile,
        n_input=len(artificial),
        n_removed=int(removed.sum()),
        n_exact_copies=int(copies.sum()),
    )
