"""Metrics of artificial cohorts: each a plain function of real / artificial / holdout cohorts.

No plotting and no rendering here (that is `jumeau.report`).
"""

from jumeau.evaluation.attacks import AttackSettings, run_attacks
from jumeau.evaluation.evaluate import Evaluation, EvaluationSettings, evaluate
from jumeau.evaluation.fidelity import (
    column_shapes,
    detection_auc,
    missingness_patterns,
    pair_trends,
)
from jumeau.evaluation.privacy import DistanceToClosestRecord, distance_to_closest_record
from jumeau.evaluation.similarity import SimilarityFilter, filter_close
from jumeau.evaluation.utility import evaluate_utility, utility_task

__all__ = [
    "AttackSettings",
    "DistanceToClosestRecord",
    "Evaluation",
    "EvaluationSettings",
    "SimilarityFilter",
    "column_shapes",
    "detection_auc",
    "distance_to_closest_record",
    "evaluate",
    "evaluate_utility",
    "filter_close",
    "missingness_patterns",
    "pair_trends",
    "run_attacks",
    "utility_task",
]
