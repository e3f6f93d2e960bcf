"""Metrics of artificial cohorts: each a plain function of real / artificial / holdout cohorts.

No plotting and no rendering here (that is `jumeau.report`).
"""

from jumeau.evaluation.fidelity import (
    column_shapes,
    detection_auc,
    pair_trends,
)
from jumeau.evaluation.privacy import DistanceToClosestRecord, distance_to_closest_record

__all__ = [
    "DistanceToClosestRecord",
    "column_shapes",
    "detection_auc",
    "distance_to_closest_record",
    "pair_trends",
]
