"""The similarity filter: drop artificial patients that sit closer to a real training patient
than real patients outside the training set ever come.

Real patients who were never used for training (the holdout) show how close an *independent*
patient typically is to the training set. An artificial patient closer to some training patient
than nearly every holdout patient is (below a low percentile of the holdout → train DCRs) looks
like a near-copy, whether or not it really is one; removing it costs little fidelity and removes
the most direct disclosure risk. Exact copies are always removed, even when a holdout patient
happens to duplicate a training patient (which would put the threshold at zero) — but a profile
that several training patients share is no one's copy (see `jumeau.evaluation.privacy`), and
removing every artificial patient with such a profile would bend the distribution of cohorts
where real patients often have twins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.evaluation.privacy import SHARED_PROFILE_K, GowerSpace, check_shared_profile_k

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
    n_shared_profiles: int = 0  # kept although identical to a profile training patients share

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
            "n_shared_profiles": self.n_shared_profiles,
            "pass_rate": self.pass_rate,
        }


def filter_close(
    artificial: Cohort,
    train: Cohort,
    holdout: Cohort,
    *,
    percentile: float = DEFAULT_PERCENTILE,
    shared_profile_k: int = SHARED_PROFILE_K,
) -> SimilarityFilter:
    """Remove artificial patients closer to a training patient than the `percentile`-th
    percentile of the holdout patients' distances to the training set (Gower DCR), except those
    whose exact profile `shared_profile_k` or more training patients share."""
    if len(holdout) == 0:
        raise JumeauError("the similarity filter needs holdout patients to set its threshold")
    shared_profile_k = check_shared_profile_k(shared_profile_k)
    space = GowerSpace(train, artificial)
    holdout_dcr = space.closest(space.features(holdout), space.train)
    features = space.features(artificial)
    to_train = space.closest(features, space.train)
    shared = space.train_twins(features) >= shared_profile_k
    return filter_by_distances(
        artificial, to_train, holdout_dcr, percentile=percentile, shared=shared
    )


def too_close(
    to_train: np.ndarray,
    holdout_to_train: np.ndarray,
    *,
    percentile: float = DEFAULT_PERCENTILE,
    what: str = "records",
    shared: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """The filter's rule, for any distance (Gower for patients, pixels for images, course
    features for trajectories): an artificial record is removed when it is an exact copy of a
    training record or closer to one than the `percentile`-th percentile (0–100) of real holdout
    records' distances to the training set — unless `shared` marks it as identical to a profile
    several training records hold. Returns (removed, exact copies, threshold)."""
    if not 0.0 <= percentile <= 100.0:
        raise JumeauError(f"percentile must be between 0 and 100, not {percentile}")
    if len(holdout_to_train) == 0:
        raise JumeauError(f"the similarity filter needs holdout {what} to set its threshold")
    threshold = float(np.percentile(holdout_to_train, percentile))
    kept_anyway = np.zeros(len(to_train), dtype=bool) if shared is None else shared
    copies = (to_train == 0.0) & ~kept_anyway
    return (copies | (to_train < threshold)) & ~kept_anyway, copies, threshold


def filter_by_distances(
    artificial: Cohort,
    to_train: np.ndarray,
    holdout_to_train: np.ndarray,
    *,
    percentile: float = DEFAULT_PERCENTILE,
    shared: np.ndarray | None = None,
) -> SimilarityFilter:
    """`filter_close` from distances already measured: each artificial patient's and each
    holdout patient's Gower distance to the closest of all training patients (and, optionally,
    which artificial patients have a profile several training patients share)."""
    removed, copies, threshold = too_close(
        to_train, holdout_to_train, percentile=percentile, what="patients", shared=shared
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
        n_shared_profiles=0 if shared is None else int(shared.sum()),
    )


def outsider_removals(
    holdout_to_train: np.ndarray,
    *,
    percentile: float = DEFAULT_PERCENTILE,
    shared: np.ndarray | None = None,
) -> int:
    """How many real outsiders (holdout patients) the filter's rule would remove, each judged
    against the threshold the *other* holdout patients set (leave-one-out): the rate at which
    real patients the generator never saw fall under the threshold by chance — about
    1/(n + 1) for n holdout patients — which is the ceiling an artificial cohort's removal rate
    is compared with."""
    distances = np.asarray(holdout_to_train, dtype=float)
    if len(distances) < 2:
        return 0
    flags = np.zeros(len(distances), dtype=bool) if shared is None else np.asarray(shared)
    removed = 0
    for i in range(len(distances)):
        hit, _, _ = too_close(
            distances[i : i + 1],
            np.delete(distances, i),
            percentile=percentile,
            shared=flags[i : i + 1],
        )
        removed += int(hit[0])
    return removed
