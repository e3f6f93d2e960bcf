"""Everything a model card says, measured: the hospital validates a score on its real patients,
optionally side by side with the same recipe trained on its own real patients.

The comparison is what makes the card honest: the loss from training on artificial patients is
measured (discrimination, calibration, chosen variables, importances), not assumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.prognostic.explain import (
    EffectCurve,
    agreement,
    effect_curves,
    importance,
    mean_absolute_shap,
    shap_values,
)
from jumeau.prognostic.score import PrognosticScore
from jumeau.prognostic.validation import DEFAULT_BOOTSTRAP, Validation, validate

SHAP_PATIENTS = 200  # patients explained for the global SHAP summary (a random subset)


@dataclass
class ScoreSide:
    """One score (the artificial-trained one, or the real-trained comparison) on real patients."""

    label: str
    score: PrognosticScore
    validation: Validation
    importance: dict[str, float]
    shap_importance: dict[str, float]
    curves: list[EffectCurve]

    def to_dict(self) -> dict[str, Any]:
        selection = self.score.selection_
        return {
            "label": self.label,
            "model": self.score.model_.kind,
            "variables": self.score.variables_,
            "selection": None if selection is None else selection.to_dict(),
            # provenance without the file path (a hospital's paths are nobody else's business)
            "training": {k: v for k, v in self.score.training_.items() if k != "source"},
            "validation": self.validation.to_dict(),
            "permutation_importance": self.importance,
            "mean_absolute_shap": self.shap_importance,
            "effect_curves": [c.to_dict() | {"shape": c.shape} for c in self.curves],
        }


@dataclass
class ScoreCard:
    task: dict[str, Any]
    sides: list[ScoreSide]
    comparison: dict[str, Any] = field(default_factory=dict)
    generator_report: dict[str, Any] | None = None  # summary of the artificial cohort's report
    intended_use: str = ""
    limits: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "scores": [side.to_dict() for side in self.sides],
            "comparison": self.comparison,
            "artificial_data_report": self.generator_report,
            "intended_use": self.intended_use,
            "limits": self.limits,
        }


def evaluate_side(
    label: str, score: PrognosticScore, real: Cohort, *, bootstrap: int, seed: int
) -> ScoreSide:
    patients = real
    if len(real) > SHAP_PATIENTS:
        patients = real.subset(_random_rows(len(real), SHAP_PATIENTS, seed))
    values = shap_values(score, patients, real, seed=seed)
    return ScoreSide(
        label=label,
        score=score,
        validation=validate(score, real, bootstrap=bootstrap, seed=seed),
        importance=importance(score, real, seed=seed),
        shap_importance=mean_absolute_shap(values),
        curves=effect_curves(score, real),
    )


def build_card(
    score: PrognosticScore,
    real: Cohort,
    *,
    real_training: Cohort | None = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    generator_report: dict[str, Any] | None = None,
) -> ScoreCard:
    """Validate `score` on the real patients `real`; with `real_training` (real patients the
    score never saw either, distinct from `real`), also fit the same recipe on them and compare."""
    if real_training is not None and real_training.sha256 == real.sha256:
        raise JumeauError(
            "the real training patients and the validation patients are the same data: the "
            "comparison needs patients the validation never sees"
        )
    trained_on = "artificial" if score.training_.get("artificial") else "real"
    sides = [
        evaluate_side(
            f"trained on {trained_on} patients", score, real, bootstrap=bootstrap, seed=seed
        )
    ]
    comparison: dict[str, Any] = {}
    if real_training is not None:
        twin = PrognosticScore(**score.get_params())
        task = score.task_
        twin.horizon = task.horizon
        twin.fit(real_training, target=task.outcome, time=task.time, seed=seed)
        sides.append(
            evaluate_side("trained on real patients", twin, real, bootstrap=bootstrap, seed=seed)
        )
        comparison = compare(sides[0], sides[1])
    limits = [
        "Validated on the patients described above only; other populations, periods or "
        "sites need their own validation.",
        "Permutation importance and SHAP values describe the model, not causes.",
    ]
    if trained_on == "artificial":
        limits.append(
            "Trained on artificial patients: the loss against a real-trained score is shown "
            "where the hospital provided real training patients; otherwise it is not known."
        )
    return ScoreCard(
        task=score.task_.to_dict() | {"description": score.task_.describe(score.schema_)},
        sides=sides,
        comparison=comparison,
        generator_report=generator_report,
        intended_use=(
            f"Estimate the risk of {score.task_.describe(score.schema_)} for patients like those "
            "of the validation cohort, as an aid to clinical judgement, not a replacement for it."
        ),
        limits=limits,
    )


def compare(first: ScoreSide, second: ScoreSide) -> dict[str, Any]:
    """Loss of the first score against the second, on the same real patients."""
    metric = "c_index" if "c_index" in first.validation.metrics else "roc_auc"
    gap = first.validation.metrics[metric].value - second.validation.metrics[metric].value
    chosen_first, chosen_second = set(first.score.variables_), set(second.score.variables_)
    return {
        "metric": metric,
        "difference": gap,
        "variables_overlap": len(chosen_first & chosen_second) / len(chosen_first | chosen_second),
        "shared_variables": sorted(chosen_first & chosen_second),
        "permutation_importance_agreement": agreement(first.importance, second.importance),
        "shap_agreement": agreement(first.shap_importance, second.shap_importance),
    }


def _random_rows(size: int, keep: int, seed: int) -> list[int]:
    import numpy as np

    return sorted(np.random.default_rng(seed).choice(size, keep, replace=False).tolist())
