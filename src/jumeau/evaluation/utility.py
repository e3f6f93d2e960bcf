"""Utility: can an analysis trained on artificial patients stand in for one trained on real ones?

Every model is scored on the real holdout, which no generator saw:
- TRTR: train on real train patients (the reference an analyst would get anyway);
- TSTR: train on artificial patients only;
- augmentation: real train patients plus k × as many artificial ones.

The outcome is the schema's target (a binary or categorical column: gradient boosting and
logistic regression, scored by balanced accuracy and ROC AUC; a number: gradient boosting and
ridge regression, scored by R²) or its time and event columns (a Cox model from lifelines,
scored by Harrell's concordance index).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import balanced_accuracy_score, r2_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from jumeau.data.cohort import Cohort
from jumeau.data.schema import CATEGORY_KINDS, Role, Schema
from jumeau.dp.mechanisms import BudgetTooSmallError
from jumeau.errors import JumeauError
from jumeau.evaluation.features import category_codes, one_thread
from jumeau.generators.encoding import numeric_values

TaskKind = Literal["classification", "regression", "survival"]
AUGMENTATION_FACTORS = (0, 1, 2, 5, 10)
COX_PENALIZER = 0.1  # a little ridge keeps Cox fits stable on small, collinear cohorts


@dataclass(frozen=True)
class UtilityTask:
    """What the analyses predict."""

    kind: TaskKind
    target: str  # the outcome column (the event indicator for survival)
    time: str | None = None  # survival only
    features: tuple[str, ...] = ()

    @property
    def metrics(self) -> tuple[str, ...]:
        return {
            "classification": ("balanced_accuracy", "roc_auc"),
            "regression": ("r2",),
            "survival": ("c_index",),
        }[self.kind]

    @property
    def models(self) -> tuple[str, ...]:
        return {
            "classification": ("gradient_boosting", "logistic_regression"),
            "regression": ("gradient_boosting", "ridge"),
            "survival": ("cox",),
        }[self.kind]


def utility_task(schema: Schema, target: str | None = None) -> UtilityTask | None:
    """The analysis the schema implies: `target` if given, else the column with role target,
    else the time/event pair; None when the schema names no outcome."""
    modelled = schema.modelled_columns
    time_columns = [c for c in schema.columns_with_role(Role.TIME) if c in modelled]
    event_columns = [c for c in schema.columns_with_role(Role.EVENT) if c in modelled]
    if target is None:
        targets = [c for c in schema.columns_with_role(Role.TARGET) if c in modelled]
        if targets:
            target = targets[0]
        elif time_columns and event_columns:
            target = event_columns[0]
        else:
            return None
    if target not in modelled:
        raise JumeauError(
            f"target {target!r} is not a modelled column; choose from {', '.join(modelled)}"
        )
    column = schema.columns[target]
    if target in event_columns and time_columns:
        excluded = {target, time_columns[0]}
        features = tuple(c for c in modelled if c not in excluded)
        return UtilityTask("survival", target, time=time_columns[0], features=features)
    # A time column says when the outcome was seen: not a baseline predictor of it.
    features = tuple(c for c in modelled if c != target and c not in time_columns)
    if column.kind in CATEGORY_KINDS:
        return UtilityTask("classification", target, features=features)
    return UtilityTask("regression", target, features=features)


@dataclass
class UtilityScores:
    """metric → model → score, for one way of training (TRTR, TSTR or one augmentation)."""

    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    n_train: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"scores": self.scores, "n_train": self.n_train, "error": self.error}


def score_training(
    task: UtilityTask, training: pd.DataFrame, holdout: pd.DataFrame, schema: Schema, seed: int
) -> UtilityScores:
    """Fit every model of the task on `training`, score on `holdout`."""
    result = UtilityScores(n_train=len(training))
    try:
        with warnings.catch_warnings(), one_thread():
            warnings.simplefilter("ignore")  # convergence chatter of small, imbalanced fits
            if task.kind == "survival":
                result.scores = _survival_scores(task, training, holdout, schema)
            elif task.kind == "classification":
                result.scores = _classification_scores(task, training, holdout, schema, seed)
            else:
                result.scores = _regression_scores(task, training, holdout, schema, seed)
    except (ValueError, np.linalg.LinAlgError, ArithmeticError) as exc:
        result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return result


# ---------------------------------------------------------------------- design matrices
def design_matrix(frame: pd.DataFrame, schema: Schema, columns: Sequence[str]) -> np.ndarray:
    """Numbers as numbers (NaN kept), each category level as a 0/1 column (schema order, so
    every cohort gets the same columns whatever levels it happens to contain)."""
    parts: list[np.ndarray] = []
    for name in columns:
        column = schema.columns[name]
        if column.kind in CATEGORY_KINDS:
            levels = list(column.categories or [])
            codes = category_codes(frame[name], levels)
            # the first level is the reference; a missing category is a level of its own
            for index in range(1, len(levels)):
                parts.append((codes == index).astype(float))
            if (codes < 0).any():
                parts.append((codes < 0).astype(float))
        else:
            parts.append(numeric_values(frame[name], column.kind))
    return np.column_stack(parts) if parts else np.zeros((len(frame), 0))


def _aligned(
    training: pd.DataFrame, holdout: pd.DataFrame, schema: Schema, columns: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Design matrices with the same columns (a missing-level column present in only one of
    them is added, as zeros, to the other)."""
    both = pd.concat([training[list(columns)], holdout[list(columns)]], ignore_index=True)
    matrix = design_matrix(both, schema, columns)
    return matrix[: len(training)], matrix[len(training) :]


def _labels(frame: pd.DataFrame, schema: Schema, target: str) -> np.ndarray:
    return category_codes(frame[target], list(schema.columns[target].categories or []))


# ---------------------------------------------------------------------- the three task kinds
def _classification_scores(
    task: UtilityTask, training: pd.DataFrame, holdout: pd.DataFrame, schema: Schema, seed: int
) -> dict[str, dict[str, float]]:
    y_train, y_test = _labels(training, schema, task.target), _labels(holdout, schema, task.target)
    keep_train, keep_test = y_train >= 0, y_test >= 0  # an unknown outcome teaches nothing
    x_train, x_test = _aligned(training, holdout, schema, task.features)
    x_train, y_train, x_test, y_test = (
        x_train[keep_train],
        y_train[keep_train],
        x_test[keep_test],
        y_test[keep_test],
    )
    if len(np.unique(y_train)) < 2:
        raise ValueError(f"the training patients have a single {task.target} value")
    models: dict[str, Callable[[], Any]] = {
        "gradient_boosting": lambda: HistGradientBoostingClassifier(random_state=seed),
        "logistic_regression": lambda: make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(max_iter=2000),
        ),
    }
    scores: dict[str, dict[str, float]] = {"balanced_accuracy": {}, "roc_auc": {}}
    for name, make in models.items():
        model = make().fit(x_train, y_train)
        predicted = model.predict(x_test)
        scores["balanced_accuracy"][name] = float(balanced_accuracy_score(y_test, predicted))
        scores["roc_auc"][name] = _roc_auc(y_test, model.predict_proba(x_test), model.classes_)
    return scores


def _roc_auc(y: np.ndarray, probabilities: np.ndarray, classes: np.ndarray) -> float:
    """Binary AUC, or macro one-vs-rest AUC; NaN when the holdout has a single class."""
    present = np.unique(y)
    if len(present) < 2:
        return float("nan")
    if len(classes) == 2:
        return float(roc_auc_score(y == classes[1], probabilities[:, 1]))
    full = np.zeros((len(y), int(max(classes.max(), present.max())) + 1))
    full[:, classes] = probabilities
    columns = full[:, present]
    columns = columns / np.clip(columns.sum(1, keepdims=True), 1e-12, None)
    return float(roc_auc_score(y, columns, multi_class="ovr", labels=present))


def _regression_scores(
    task: UtilityTask, training: pd.DataFrame, holdout: pd.DataFrame, schema: Schema, seed: int
) -> dict[str, dict[str, float]]:
    kind = schema.columns[task.target].kind
    y_train = numeric_values(training[task.target], kind)
    y_test = numeric_values(holdout[task.target], kind)
    x_train, x_test = _aligned(training, holdout, schema, task.features)
    keep_train, keep_test = ~np.isnan(y_train), ~np.isnan(y_test)
    models: dict[str, Callable[[], Any]] = {
        "gradient_boosting": lambda: HistGradientBoostingRegressor(random_state=seed),
        "ridge": lambda: make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
            Ridge(),
        ),
    }
    scores: dict[str, dict[str, float]] = {"r2": {}}
    for name, make in models.items():
        model = make().fit(x_train[keep_train], y_train[keep_train])
        predicted = model.predict(x_test[keep_test])
        scores["r2"][name] = float(r2_score(y_test[keep_test], predicted))
    return scores


def _survival_scores(
    task: UtilityTask, training: pd.DataFrame, holdout: pd.DataFrame, schema: Schema
) -> dict[str, dict[str, float]]:
    from lifelines import CoxPHFitter
    from lifelines.utils import concordance_index

    assert task.time is not None
    x_train, x_test = _aligned(training, holdout, schema, task.features)
    medians = np.nan_to_num(np.nanmedian(x_train, axis=0))  # an all-missing column: 0
    x_train = np.where(np.isnan(x_train), medians, x_train)
    x_test = np.where(np.isnan(x_test), medians, x_test)
    spread = x_train.std(0)
    usable = spread > 0  # a constant column breaks the Cox fit and carries no information
    mean, scale = x_train[:, usable].mean(0), spread[usable]
    names = [f"x{i}" for i in range(int(usable.sum()))]
    frame = pd.DataFrame((x_train[:, usable] - mean) / scale, columns=names)
    time_kind = schema.columns[task.time].kind
    frame["duration"] = numeric_values(training[task.time], time_kind)
    frame["event"] = event_indicator(training, schema, task.target)
    frame = frame.dropna()
    frame = frame[frame["duration"] > 0]
    model = CoxPHFitter(penalizer=COX_PENALIZER).fit(frame, "duration", "event")
    test = pd.DataFrame((x_test[:, usable] - mean) / scale, columns=names)
    durations = numeric_values(holdout[task.time], time_kind)
    events = event_indicator(holdout, schema, task.target)
    keep = ~np.isnan(durations) & ~np.isnan(events)
    risk = np.asarray(model.predict_partial_hazard(test)).ravel()
    index = concordance_index(durations[keep], -risk[keep], events[keep])
    return {"c_index": {"cox": float(index)}}


def event_indicator(frame: pd.DataFrame, schema: Schema, event: str) -> np.ndarray:
    """1 for the event, 0 for censoring: the *last* level of a binary category is the event
    (0/1, no/yes, alive/dead as written in the data dictionary)."""
    levels = list(schema.columns[event].categories or [])
    if levels:
        codes = category_codes(frame[event], levels)
        return np.where(codes < 0, np.nan, (codes == len(levels) - 1).astype(float))
    return numeric_values(frame[event], schema.columns[event].kind)


# ---------------------------------------------------------------------- the protocol
@dataclass
class UtilityReport:
    task: UtilityTask
    trtr: UtilityScores
    tstr: UtilityScores
    augmentation: dict[int, UtilityScores]  # k → scores
    small_cohorts: dict[int, list[dict[int, UtilityScores]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": {
                "kind": self.task.kind,
                "target": self.task.target,
                "time": self.task.time,
                "features": list(self.task.features),
                "metrics": list(self.task.metrics),
                "models": list(self.task.models),
            },
            "trtr": self.trtr.to_dict(),
            "tstr": self.tstr.to_dict(),
            "augmentation": {str(k): v.to_dict() for k, v in self.augmentation.items()},
            "small_cohorts": {
                str(size): [{str(k): v.to_dict() for k, v in run.items()} for run in runs]
                for size, runs in self.small_cohorts.items()
            },
        }


def augmented(real: pd.DataFrame, artificial: pd.DataFrame, factor: int) -> pd.DataFrame:
    """Real patients plus `factor` × as many artificial ones (fewer if fewer exist)."""
    extra = artificial.iloc[: factor * len(real)]
    return pd.concat([real, extra], ignore_index=True)


def evaluate_utility(
    task: UtilityTask,
    train: Cohort,
    holdout: Cohort,
    artificial: Cohort,
    *,
    factors: Sequence[int] = AUGMENTATION_FACTORS,
    seed: int = 0,
) -> UtilityReport:
    """TRTR, TSTR and augmentation by each factor, all scored on the holdout."""
    schema = train.schema
    real, test = train.data, holdout.data
    return UtilityReport(
        task=task,
        trtr=score_training(task, real, test, schema, seed),
        tstr=score_training(task, artificial.data, test, schema, seed),
        augmentation=augmentation_curve(task, real, artificial.data, holdout, factors, seed),
    )


def augmentation_curve(
    task: UtilityTask,
    real: pd.DataFrame,
    artificial: pd.DataFrame,
    holdout: Cohort,
    factors: Sequence[int],
    seed: int,
) -> dict[int, UtilityScores]:
    """Scores on the holdout of real + k × artificial patients, for each factor k."""
    return {
        k: score_training(task, augmented(real, artificial, k), holdout.data, holdout.schema, seed)
        for k in factors
    }


FitAndSample = Callable[[Cohort, int, int], Cohort]  # (real patients, n, seed) → artificial
SMALL_COHORT_SIZES = (50, 100)


def small_cohort_augmentation(
    task: UtilityTask,
    train: Cohort,
    holdout: Cohort,
    fit_and_sample: FitAndSample,
    *,
    sizes: Sequence[int] = SMALL_COHORT_SIZES,
    repeats: int = 3,
    factors: Sequence[int] = AUGMENTATION_FACTORS,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    notes: list[str] | None = None,
) -> dict[int, list[dict[int, UtilityScores]]]:
    """The situation jumeau is for: only `size` real patients. For each size and repeat, draw
    that many training patients, fit the generator on them alone, augment by each factor and
    score on the (full) holdout. Sizes not smaller than the training set are skipped, and so
    are sizes the generator refuses to fit (a privacy budget too small for so few patients),
    with the reason appended to `notes`."""
    rng = np.random.default_rng(seed)
    results: dict[int, list[dict[int, UtilityScores]]] = {}
    for size in sizes:
        if size >= len(train):
            continue
        runs = []
        for repeat in range(repeats):
            rows = rng.choice(len(train), size, replace=False)
            small = train.subset(rows)
            run_seed = int(rng.integers(2**31))
            if progress:
                progress(f"small cohort {size} patients, repeat {repeat + 1}/{repeats}")
            try:
                artificial = fit_and_sample(small, max(factors) * size, run_seed)
            except BudgetTooSmallError as refusal:
                if notes is not None:
                    notes.append(f"The small-cohort study skipped {size} patients: {refusal}.")
                break
            runs.append(
                augmentation_curve(task, small.data, artificial.data, holdout, factors, run_seed)
            )
        if runs:
            results[size] = runs
    return results
