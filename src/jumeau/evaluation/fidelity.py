"""Fidelity: do artificial patients look like real ones, column by column, pair by pair, and to
a classifier that tries to tell them apart?"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from jumeau.data.cohort import Cohort
from jumeau.data.schema import CATEGORY_KINDS
from jumeau.errors import JumeauError
from jumeau.evaluation.features import category_codes, feature_matrix, one_thread, shared_columns
from jumeau.evaluation.statistics import delong_auc, mean_auc_interval
from jumeau.generators.encoding import numeric_values

BINS_FOR_MIXED_PAIRS = 5


def column_shapes(real: Cohort, artificial: Cohort) -> dict[str, float]:
    """Per column: 1 − KS statistic for numbers, 1 − total variation distance for categories.

    Missingness counts: for numbers, the share of missing values enters as its own TVD term
    (the score is the product of the two), so a model that forgets missing values loses points.
    """
    scores = {}
    for name in shared_columns(real, artificial):
        column = real.schema.columns[name]
        a, b = real.data[name], artificial.data[name]
        if column.kind in CATEGORY_KINDS:
            scores[name] = 1.0 - _tvd(_codes(a, column.categories), _codes(b, column.categories))
            continue
        x, y = numeric_values(a, column.kind), numeric_values(b, column.kind)
        x_obs, y_obs = x[~np.isnan(x)], y[~np.isnan(y)]
        if x_obs.size == 0 or y_obs.size == 0:
            shape = 0.0 if x_obs.size != y_obs.size else 1.0
        else:
            shape = 1.0 - float(ks_2samp(x_obs, y_obs).statistic)
        missing_gap = abs(np.isnan(x).mean() - np.isnan(y).mean())
        scores[name] = shape * (1.0 - float(missing_gap))
    return scores


def missingness_patterns(real: Cohort, artificial: Cohort) -> float | None:
    """1 − total variation distance between the two cohorts' missingness patterns (which of the
    columns that ever miss a value are missing together), or None when no column misses one.

    Column shapes count each column's share of missing values; this counts how they go
    together — a lab panel not done leaves a block of columns empty in the same patients, and
    artificial patients with the right shares but scattered holes are easy to tell apart.
    """
    columns = [
        c
        for c in shared_columns(real, artificial)
        if real.data[c].isna().any() or artificial.data[c].isna().any()
    ]
    if not columns:
        return None
    shares = [_pattern_shares(cohort.data[columns]) for cohort in (real, artificial)]
    patterns = shares[0].index.union(shares[1].index)
    first, second = (share.reindex(patterns, fill_value=0.0) for share in shares)
    return 1.0 - 0.5 * float(np.abs(first - second).sum())


def _pattern_shares(frame: pd.DataFrame) -> pd.Series:
    holes = frame.isna().to_numpy()
    keys = pd.Series(["".join("1" if hole else "0" for hole in row) for row in holes])
    return keys.value_counts(normalize=True)


def pair_trends(real: Cohort, artificial: Cohort) -> dict[tuple[str, str], float]:
    """Per pair: correlation similarity (1 − |Δ Spearman| / 2) for two numbers, contingency
    similarity (1 − TVD of the joint table, numbers cut at real quintiles) otherwise."""
    columns = shared_columns(real, artificial)
    kinds = {c: real.schema.columns[c].kind in CATEGORY_KINDS for c in columns}
    real_codes = {c: _discrete(real, c, real) for c in columns}
    art_codes = {c: _discrete(artificial, c, real) for c in columns}
    scores: dict[tuple[str, str], float] = {}
    for first, second in combinations(columns, 2):
        if not kinds[first] and not kinds[second]:
            rho_real = _spearman(real, first, second)
            rho_art = _spearman(artificial, first, second)
            scores[(first, second)] = 1.0 - abs(rho_real - rho_art) / 2.0
        else:
            joint_real = real_codes[first] * 1000 + real_codes[second]
            joint_art = art_codes[first] * 1000 + art_codes[second]
            scores[(first, second)] = 1.0 - _tvd(joint_real, joint_art)
    return scores


def detection_auc(real: Cohort, artificial: Cohort, *, folds: int = 5, seed: int = 0) -> float:
    """ROC AUC of gradient boosting separating real from artificial (stratified k-fold).

    0.5 means indistinguishable. Clearly below 0.5 is *not* better: it happens when artificial
    patients nearly copy real ones (duplicates across folds fool the classifier), so judge
    |AUC − 0.5| beside the DCR share. The larger cohort is subsampled to the smaller one's size.
    """
    labels, predictions = _detection_predictions(real, artificial, folds=folds, seed=seed)
    return float(roc_auc_score(labels, predictions))


def detection_interval(
    real: Cohort, artificial: Cohort, *, repeats: int = 1, folds: int = 5, seed: int = 0
) -> tuple[float, float, float]:
    """(mean detection AUC, 95 % low, high) over `repeats` runs, each with its own subsample of
    the larger cohort and its own folds; DeLong's variance of each run's cross-validated
    predictions, averaged (the runs share patients, so they are not independent). On a small
    cohort one run's AUC moves by ±0.1 with the folds: the repeats and the interval say how far
    from 0.5 it really is."""
    if repeats < 1:
        raise JumeauError(f"repeats must be at least 1, not {repeats}")
    runs = []
    for repeat in range(repeats):
        labels, predictions = _detection_predictions(
            real, artificial, folds=folds, seed=seed + repeat
        )
        runs.append(delong_auc(predictions[labels == 1], predictions[labels == 0]))
    return mean_auc_interval(runs, independent=False)


def _detection_predictions(
    real: Cohort, artificial: Cohort, *, folds: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Labels (1: artificial) and each patient's out-of-fold predicted probability."""
    rng = np.random.default_rng(seed)
    columns = shared_columns(real, artificial)
    x_real = feature_matrix(real.data, real.schema, columns)
    x_art = feature_matrix(artificial.data, real.schema, columns)
    size = min(len(x_real), len(x_art))
    x_real = x_real[rng.choice(len(x_real), size, replace=False)]
    x_art = x_art[rng.choice(len(x_art), size, replace=False)]
    x = np.vstack([x_real, x_art])
    y = np.r_[np.zeros(size), np.ones(size)]
    categorical = [real.schema.columns[c].kind in CATEGORY_KINDS for c in columns]
    predictions = np.zeros(len(y))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with one_thread():
        for train_rows, test_rows in splitter.split(x, y):
            classifier = HistGradientBoostingClassifier(
                categorical_features=np.array(categorical, dtype=bool)
                if any(categorical)
                else None,
                random_state=seed,
            )
            classifier.fit(x[train_rows], y[train_rows])
            predictions[test_rows] = classifier.predict_proba(x[test_rows])[:, 1]
    return y, predictions


# ---------------------------------------------------------------------- helpers
def _codes(values: pd.Series, categories: list | None) -> np.ndarray:
    return category_codes(values, list(categories or []))


def _tvd(a: np.ndarray, b: np.ndarray) -> float:
    levels = np.union1d(a, b)
    pa = np.array([(a == v).mean() for v in levels])
    pb = np.array([(b == v).mean() for v in levels])
    return 0.5 * float(np.abs(pa - pb).sum())


def _discrete(cohort: Cohort, name: str, reference: Cohort) -> np.ndarray:
    """Categories as codes; numbers cut at the reference cohort's quintiles (-1: missing)."""
    column = reference.schema.columns[name]
    if column.kind in CATEGORY_KINDS:
        return _codes(cohort.data[name], column.categories)
    values = numeric_values(cohort.data[name], column.kind)
    ref = numeric_values(reference.data[name], column.kind)
    edges = np.unique(np.nanquantile(ref, np.linspace(0, 1, BINS_FOR_MIXED_PAIRS + 1)[1:-1]))
    codes = np.searchsorted(edges, values, side="right")
    return np.where(np.isnan(values), -1, codes)


def _spearman(cohort: Cohort, first: str, second: str) -> float:
    schema = cohort.schema
    x = numeric_values(cohort.data[first], schema.columns[first].kind)
    y = numeric_values(cohort.data[second], schema.columns[second].kind)
    both = ~np.isnan(x) & ~np.isnan(y)
    if both.sum() < 3 or np.ptp(x[both]) == 0 or np.ptp(y[both]) == 0:
        return 0.0
    value = pd.Series(x[both]).corr(pd.Series(y[both]), method="spearman")
    return 0.0 if np.isnan(value) else float(value)
