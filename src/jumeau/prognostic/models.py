"""The risk models behind a score: gradient boosting, and the classical references.

- `boosting`: scikit-learn's histogram gradient boosting, shallow trees and a small learning rate
  with early stopping (a few hundred patients overfit deep trees), IPCW-weighted for survival.
- `reference`: what a clinical statistician would fit — logistic regression for a binary outcome,
  a Cox model (lifelines, a little ridge for stability on small collinear cohorts) for a survival
  outcome, its risk by the horizon 1 − S(τ | 0)^exp(xβ).

Every model answers one question, the probability of the outcome (by the horizon), and stores
itself as arrays + JSON (never pickle): the trees through `trees.TreeEnsemble`, the linear models
as their coefficients.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from jumeau.errors import JumeauError
from jumeau.evaluation.features import one_thread
from jumeau.prognostic.design import Design
from jumeau.prognostic.task import Outcome, PrognosticTask
from jumeau.prognostic.trees import TreeEnsemble

ModelKind = Literal["boosting", "reference"]
MODEL_KINDS: tuple[ModelKind, ...] = ("boosting", "reference")
COX_PENALIZER = 0.1


class RiskModel(Protocol):
    kind: str

    def risk(self, design: Design, frame: pd.DataFrame) -> np.ndarray:
        """Probability of the outcome (by the horizon) of every patient."""
        ...

    def risk_of_features(self, design: Design, features: np.ndarray) -> np.ndarray:
        """The same from `design.matrix` rows (model-agnostic explainers work on these)."""
        ...

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]: ...


@dataclass
class BoostingRisk:
    ensemble: TreeEnsemble
    kind: str = "boosting"

    def risk(self, design: Design, frame: pd.DataFrame) -> np.ndarray:
        return self.risk_of_features(design, design.matrix(frame))

    def risk_of_features(self, design: Design, features: np.ndarray) -> np.ndarray:
        return self.ensemble.probability(features)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"baseline": self.ensemble.baseline}, self.ensemble.arrays("trees")


@dataclass
class LogisticRisk:
    coefficients: np.ndarray
    intercept: float
    kind: str = "logistic"

    def risk(self, design: Design, frame: pd.DataFrame) -> np.ndarray:
        return self.risk_of_features(design, design.matrix(frame))

    def risk_of_features(self, design: Design, features: np.ndarray) -> np.ndarray:
        linear = design.standardise(features) @ self.coefficients + self.intercept
        return 1.0 / (1.0 + np.exp(-linear))

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"intercept": self.intercept}, {"coefficients": self.coefficients}


@dataclass
class CoxRisk:
    coefficients: np.ndarray  # on the standardised design
    survival_at_zero: float  # S(τ | x = 0), the average patient of the training cohort
    kind: str = "cox"

    def risk(self, design: Design, frame: pd.DataFrame) -> np.ndarray:
        return self.risk_of_features(design, design.matrix(frame))

    def risk_of_features(self, design: Design, features: np.ndarray) -> np.ndarray:
        linear = design.standardise(features) @ self.coefficients
        return 1.0 - self.survival_at_zero ** np.exp(np.clip(linear, -50, 50))

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"survival_at_zero": self.survival_at_zero}, {"coefficients": self.coefficients}


def fit_risk_model(
    kind: ModelKind,
    task: PrognosticTask,
    design: Design,
    frame: pd.DataFrame,
    target: Outcome,
    seed: int,
) -> RiskModel:
    """Fit one model on the patients whose outcome is known (weights > 0)."""
    known = target.known
    if known.sum() < 10 or len(np.unique(target.label[known])) < 2:
        raise JumeauError(
            f"too few patients with a known outcome to fit a score ({int(known.sum())}, "
            f"{int(target.label[known].sum())} with the outcome)"
        )
    with warnings.catch_warnings(), one_thread():
        warnings.simplefilter("ignore")  # convergence chatter of small fits
        if kind == "boosting":
            return _fit_boosting(design, frame, target, seed)
        if task.kind == "binary":
            return _fit_logistic(design, frame, target)
        return _fit_cox(task, design, frame, target)


def _fit_boosting(design: Design, frame: pd.DataFrame, target: Outcome, seed: int) -> BoostingRisk:
    known = target.known
    x = design.matrix(frame)[known]
    model = HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=300,
        max_depth=3,
        min_samples_leaf=max(5, int(known.sum()) // 40),
        l2_regularization=1.0,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=20,
        random_state=seed,
    )
    model.fit(x, target.label[known].astype(int), sample_weight=target.weight[known])
    return BoostingRisk(TreeEnsemble.from_sklearn(model))


def _fit_logistic(design: Design, frame: pd.DataFrame, target: Outcome) -> LogisticRisk:
    known = target.known
    model = LogisticRegression(max_iter=2000)  # the default L2 (C = 1) on standardised features
    model.fit(design.standardised(frame)[known], target.label[known].astype(int))
    return LogisticRisk(model.coef_.ravel().astype(float), float(model.intercept_[0]))


def _fit_cox(task: PrognosticTask, design: Design, frame: pd.DataFrame, target: Outcome) -> CoxRisk:
    from lifelines import CoxPHFitter

    assert target.time is not None and target.event is not None and task.horizon is not None
    x = design.standardised(frame)
    valid = np.isfinite(target.time) & np.isfinite(target.event) & (target.time > 0)
    # lifelines scales every column by its spread: a constant one (a level absent from this
    # cohort) would divide by zero; it carries no information and keeps a zero coefficient
    usable = np.flatnonzero(x[valid].std(0) > 0)
    names = [f"x{i}" for i in usable]
    data = pd.DataFrame(x[:, usable], columns=names)
    data["duration"], data["event"] = target.time, target.event
    model = CoxPHFitter(penalizer=COX_PENALIZER).fit(data[valid], "duration", "event")
    # S(τ | x) = S(τ | 0)^exp(xβ) under proportional hazards
    zero = pd.DataFrame(np.zeros((1, len(names))), columns=names)
    at_zero = model.predict_survival_function(zero, times=[task.horizon])
    coefficients = np.zeros(x.shape[1])
    coefficients[usable] = model.params_[names].to_numpy(dtype=float)
    return CoxRisk(coefficients, float(np.asarray(at_zero).ravel()[0]))


def risk_model_from_state(
    kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray], width: int
) -> RiskModel:
    """The model a score file describes; checks the array shapes against the design's width."""
    model: RiskModel
    if kind == "boosting":
        ensemble = TreeEnsemble.from_arrays(float(meta["baseline"]), arrays, "trees")
        if (ensemble.feature >= width).any():
            raise JumeauError("the score file's trees use a feature its design does not have")
        model = BoostingRisk(ensemble)
    elif kind in ("logistic", "cox"):
        if "coefficients" not in arrays:
            raise JumeauError("the score file lacks the model's coefficients")
        coefficients = np.asarray(arrays["coefficients"], dtype=float)
        if coefficients.shape != (width,):
            raise JumeauError(
                f"the score file has {coefficients.size} coefficients for {width} features"
            )
        if kind == "logistic":
            model = LogisticRisk(coefficients, float(meta["intercept"]))
        else:
            model = CoxRisk(coefficients, float(meta["survival_at_zero"]))
    else:
        raise JumeauError(f"unknown risk model {kind!r} in the score file")
    return model
