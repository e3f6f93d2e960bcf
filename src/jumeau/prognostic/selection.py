"""Choosing k variables out of dozens, inside cross-validation of the training cohort only.

In each fold the model is fitted on the other folds with every candidate, and each candidate is
scored by how much the held-out fold's weighted ROC AUC drops when that variable is shuffled
(permutation importance). Importances are averaged over folds; the k largest are kept, and the
share of folds in which a variable made its fold's top k says how stable the choice is.

Variables, not feature columns, are shuffled: a category's 0/1 columns move together (scikit-learn's
`permutation_importance` shuffles one column at a time, so it cannot do this).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from jumeau.data.schema import Schema
from jumeau.errors import JumeauError
from jumeau.prognostic.design import Design
from jumeau.prognostic.models import ModelKind, RiskModel, fit_risk_model
from jumeau.prognostic.task import Outcome, PrognosticTask


@dataclass
class Selection:
    chosen: list[str]
    importance: dict[str, float]  # mean AUC drop over folds, every candidate
    stability: dict[str, float]  # share of folds where the variable was in that fold's top k
    folds: int = 0
    repeats: int = 0
    history: list[dict[str, float]] = field(default_factory=list)  # per fold

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "importance": self.importance,
            "stability": self.stability,
            "folds": self.folds,
            "repeats": self.repeats,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Selection:
        return cls(**values)


def weighted_auc(label: np.ndarray, risk: np.ndarray, weight: np.ndarray) -> float:
    known = weight > 0
    if len(np.unique(label[known])) < 2:
        return float("nan")
    return float(roc_auc_score(label[known], risk[known], sample_weight=weight[known]))


def permutation_drops(
    model: RiskModel,
    design: Design,
    frame: pd.DataFrame,
    target: Outcome,
    variables: list[str],
    repeats: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Mean drop of the weighted AUC when each variable is shuffled among the patients."""
    base = weighted_auc(target.label, model.risk(design, frame), target.weight)
    drops = {}
    for variable in variables:
        losses = []
        for _ in range(repeats):
            shuffled = frame.copy()
            shuffled[variable] = frame[variable].to_numpy()[rng.permutation(len(frame))]
            losses.append(
                base - weighted_auc(target.label, model.risk(design, shuffled), target.weight)
            )
        drops[variable] = float(np.nanmean(losses))
    return drops


def select_variables(
    kind: ModelKind,
    task: PrognosticTask,
    frame: pd.DataFrame,
    schema: Schema,
    target: Outcome,
    k: int,
    seed: int,
    folds: int = 5,
    repeats: int = 3,
) -> Selection:
    """The k most important candidates by cross-validated permutation importance."""
    candidates = list(task.candidates)
    if k < 1:
        raise JumeauError(f"the number of variables to select must be at least 1, not {k}")
    # Folds over every patient, stratified on outcome-at-horizon with "unknown" (censored before
    # the horizon) as a third stratum: the Cox reference learns from the censored patients too,
    # as the final fit does; only known outcomes are scored (their weights are > 0).
    strata = np.where(target.known, target.label, 2).astype(int)
    known_counts = np.bincount(strata[target.known], minlength=2)
    folds = min(folds, int(known_counts.min()))
    if folds < 2:
        raise JumeauError("too few patients with (or without) the outcome to cross-validate")
    rng = np.random.default_rng(seed)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    history = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")  # few censored
        splits = list(splitter.split(np.zeros(len(strata)), strata))
    for rows_train, rows_test in splits:
        train_frame = frame.iloc[rows_train].reset_index(drop=True)
        design = Design.fit(train_frame, schema, candidates)
        model = fit_risk_model(kind, task, design, train_frame, _rows(target, rows_train), seed)
        test_frame = frame.iloc[rows_test].reset_index(drop=True)
        history.append(
            permutation_drops(
                model, design, test_frame, _rows(target, rows_test), candidates, repeats, rng
            )
        )
    importance = {v: float(np.nanmean([fold[v] for fold in history])) for v in candidates}
    ranked = sorted(candidates, key=lambda v: (-importance[v], candidates.index(v)))
    stability = {
        v: float(np.mean([v in _top(fold, k, candidates) for fold in history])) for v in candidates
    }
    return Selection(ranked[:k], importance, stability, folds, repeats, history)


def _top(drops: dict[str, float], k: int, order: list[str]) -> set[str]:
    return set(sorted(order, key=lambda v: (-np.nan_to_num(drops[v]), order.index(v)))[:k])


def _rows(target: Outcome, rows: np.ndarray) -> Outcome:
    return Outcome(
        label=target.label[rows],
        weight=target.weight[rows],
        time=None if target.time is None else target.time[rows],
        event=None if target.event is None else target.event[rows],
    )
