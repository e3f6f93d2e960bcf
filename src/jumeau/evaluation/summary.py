"""A compact fidelity/privacy summary of an artificial cohort, beside the honest ceiling: what an
independent real sample (the holdout) reaches against the same training patients."""

from __future__ import annotations

from typing import Any

import numpy as np

from jumeau.data.cohort import Cohort
from jumeau.evaluation.fidelity import column_shapes, detection_auc, pair_trends
from jumeau.evaluation.privacy import DistanceToClosestRecord, distance_to_closest_record


def train_holdout_split(
    cohort: Cohort, *, share: float = 0.3, seed: int = 0
) -> tuple[Cohort, Cohort]:
    """Seeded random split into training and holdout patients."""
    order = np.random.default_rng(seed).permutation(len(cohort))
    n_holdout = max(1, round(share * len(cohort)))
    return cohort.subset(order[n_holdout:]), cohort.subset(order[:n_holdout])


def ceiling_distance_to_closest_record(
    train: Cohort, holdout: Cohort, *, seed: int = 0
) -> DistanceToClosestRecord:
    """The DCRs an independent real sample reaches: the holdout split in two, one half playing
    the artificial cohort and the other the holdout (its DCR share is ≈ 0.5)."""
    half_a, half_b = train_holdout_split(holdout, share=0.5, seed=seed)
    return distance_to_closest_record(train, half_b, half_a, seed=seed)


def summarise(
    train: Cohort, holdout: Cohort, artificial: Cohort, *, seed: int = 0
) -> dict[str, Any]:
    """Scores of `artificial` against `train`, and the same scores for the real holdout.

    For the ceiling's DCR share the holdout is split in two: one half plays the artificial cohort,
    the other the holdout — an independent real sample scores ≈ 0.5.
    """
    ceiling_dcr = ceiling_distance_to_closest_record(train, holdout, seed=seed)
    dcr = distance_to_closest_record(train, holdout, artificial, seed=seed)
    return {
        "artificial": _scores(train, artificial, dcr.share_closer_to_train, dcr.exact_copies, seed),
        "ceiling (real holdout)": _scores(
            train, holdout, ceiling_dcr.share_closer_to_train, ceiling_dcr.exact_copies, seed
        ),
    }


def _scores(
    train: Cohort, other: Cohort, dcr_share: float, copies: int, seed: int
) -> dict[str, float]:
    auc = detection_auc(train, other, seed=seed)
    return {
        "column_shapes": float(np.mean(list(column_shapes(train, other).values()))),
        "pair_trends": float(np.mean(list(pair_trends(train, other).values()) or [1.0])),
        "detection_auc": auc,
        "detection_gap": abs(auc - 0.5),
        "dcr_share": dcr_share,
        "exact_copies": float(copies),
    }
