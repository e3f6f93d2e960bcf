"""The prognostic model behind PROCOVA: it predicts a patient's outcome *without treatment* from
what is known at randomisation, trained only on historical control patients (real, artificial or
both), never on the trial being analysed.

The model is chosen by cross-validation on the historical data between a regularised linear model
and gradient boosting: on a few hundred historical patients the linear model usually wins, on
thousands with non-linear effects boosting does, and guessing one for every user would be tuning
for a dataset. Its cross-validated squared correlation with the outcome, ρ², is what PROCOVA
promises: the variance of the adjusted effect estimate shrinks by about ρ², so the same power
needs about n·(1 − ρ²) patients (Schuler et al., Int J Biostat 2021).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from jumeau.errors import JumeauError

ModelChoice = Literal["auto", "linear", "boosting"]


class PrognosticModel:
    """Predicts the control outcome from baseline columns (scikit-learn estimator style)."""

    def __init__(
        self,
        features: list[str] | None = None,
        model: ModelChoice = "auto",
        kind: Literal["continuous", "binary", "time_to_event"] = "continuous",
        folds: int = 5,
        seed: int = 0,
    ) -> None:
        self.features = features
        self.model = model
        self.kind = kind
        self.folds = folds
        self.seed = seed

    def fit(
        self,
        frame: pd.DataFrame,
        outcome: np.ndarray,
        event: np.ndarray | None = None,
    ) -> PrognosticModel:
        features = list(frame.columns) if self.features is None else list(self.features)
        missing = [c for c in features if c not in frame.columns]
        if missing:
            raise JumeauError(f"prognostic feature(s) not in the data: {', '.join(missing)}")
        outcome = np.asarray(outcome, dtype=float)
        known = ~np.isnan(outcome)
        if known.sum() < 20:
            raise JumeauError(
                f"only {int(known.sum())} historical patients have an outcome; "
                "a prognostic model needs at least 20"
            )
        table = frame.loc[known, features].reset_index(drop=True)
        y = outcome[known]
        self.features_ = features
        self.n_train_ = int(known.sum())
        if self.kind == "time_to_event":
            if event is None:
                raise JumeauError("a time-to-event prognostic model needs the event indicator")
            self._fit_cox(table, y, np.asarray(event, dtype=float)[known])
            return self
        candidates = ["linear", "boosting"] if self.model == "auto" else [self.model]
        # one OpenMP thread: on a few hundred patients, boosting's threads cost more than they
        # save, and simulations already run one process per core
        with threadpool_limits(limits=1, user_api="openmp"):
            scores = {name: self._cv_correlation(name, table, y) for name in candidates}
            self.cv_scores_ = scores
            self.chosen_ = max(scores, key=lambda name: scores[name])
            self.rho2_ = max(scores[self.chosen_], 0.0)
            self.pipeline_ = self._pipeline(self.chosen_, table).fit(table, self._target(y))
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The predicted control outcome (a probability for a binary outcome; the log partial
        hazard for a time to event)."""
        if not hasattr(self, "features_"):
            raise JumeauError("fit the prognostic model before predicting")
        missing = [c for c in self.features_ if c not in frame.columns]
        if missing:
            raise JumeauError(f"the trial data lack prognostic feature(s): {', '.join(missing)}")
        table = frame[self.features_].reset_index(drop=True)
        if self.kind == "time_to_event":
            encoded = self._encode_cox(table)
            return np.asarray(self.cox_.predict_log_partial_hazard(encoded), dtype=float)
        with threadpool_limits(limits=1, user_api="openmp"):
            if self.kind == "binary":
                return np.asarray(self.pipeline_.predict_proba(table)[:, 1], dtype=float)
            return np.asarray(self.pipeline_.predict(table), dtype=float)

    def expected_variance_reduction(self) -> float:
        """ρ²: the cross-validated squared correlation of prediction and control outcome."""
        if not hasattr(self, "rho2_"):
            raise JumeauError("the variance reduction is known after fitting a model")
        return float(self.rho2_)

    # --- internals -------------------------------------------------------------------------

    def _target(self, y: np.ndarray) -> np.ndarray:
        if self.kind == "binary":
            if not np.isin(y, (0, 1)).all():
                raise JumeauError("a binary prognostic target must hold 0/1")
            return y.astype(int)
        return y

    def _pipeline(self, name: str, table: pd.DataFrame) -> Any:
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression, RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        categorical = [c for c in table.columns if _is_category(table[c])]
        numeric = [c for c in table.columns if c not in categorical]
        encoder = ColumnTransformer(
            [
                ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
                (
                    "categories",
                    make_pipeline(
                        SimpleImputer(strategy="most_frequent"),
                        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                    ),
                    categorical,
                ),
            ]
        )
        binary = self.kind == "binary"
        if name == "linear":
            estimator: object = (
                LogisticRegression(max_iter=2000) if binary else RidgeCV(np.logspace(-3, 3, 13))
            )
        elif name == "boosting":
            kwargs = {
                "max_iter": 200,
                "learning_rate": 0.05,
                "early_stopping": True,
                "random_state": self.seed,
            }
            estimator = (
                HistGradientBoostingClassifier(**kwargs)
                if binary
                else HistGradientBoostingRegressor(**kwargs)
            )
        else:
            raise JumeauError(f"unknown prognostic model {name!r}; use auto, linear or boosting")
        return make_pipeline(encoder, estimator)

    def _cv_correlation(self, name: str, table: pd.DataFrame, y: np.ndarray) -> float:
        from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

        target = self._target(y)
        folds = min(self.folds, len(y) // 4)
        splitter = (
            StratifiedKFold(folds, shuffle=True, random_state=self.seed)
            if self.kind == "binary"
            else KFold(folds, shuffle=True, random_state=self.seed)
        )
        method = "predict_proba" if self.kind == "binary" else "predict"
        predicted = cross_val_predict(
            self._pipeline(name, table), table, target, cv=splitter, method=method
        )
        if predicted.ndim == 2:
            predicted = predicted[:, 1]
        if np.std(predicted) == 0:
            return 0.0
        return float(stats.pearsonr(predicted, y)[0] ** 2)

    def _encode_cox(self, table: pd.DataFrame) -> pd.DataFrame:
        encoded = pd.get_dummies(table, drop_first=True, dtype=float)
        encoded = encoded.reindex(columns=self.cox_columns_, fill_value=0.0)
        return encoded.astype(float).fillna(self.cox_means_)

    def _fit_cox(self, table: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> None:
        from lifelines import CoxPHFitter

        encoded = pd.get_dummies(table, drop_first=True, dtype=float).astype(float)
        encoded = encoded.loc[:, encoded.std() > 0]
        self.cox_columns_ = list(encoded.columns)
        self.cox_means_ = encoded.mean()
        encoded = encoded.fillna(self.cox_means_)
        encoded["__time"] = time
        encoded["__event"] = event
        self.cox_ = CoxPHFitter(penalizer=0.01).fit(encoded, "__time", "__event")
        self.chosen_ = "cox"
        self.cv_scores_ = {}


def _is_category(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.CategoricalDtype) or series.dtype == object


def sample_size_for_power(
    effect: float, se_at_n: float, n: int, power: float = 0.8, alpha: float = 0.05
) -> float:
    """Patients needed for `power` when an analysis has standard error `se_at_n` with `n`
    patients (the standard error shrinks as 1/√n): n · ((z₁₋α/₂ + z_power) · se / |effect|)²."""
    if effect == 0:
        return float("inf")
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(n * (z * se_at_n / abs(effect)) ** 2)


def cross_fitted_scores(
    frame: pd.DataFrame,
    outcome: np.ndarray,
    is_control: np.ndarray,
    features: list[str],
    *,
    folds: int = 5,
    model: ModelChoice = "auto",
    kind: Literal["continuous", "binary", "time_to_event"] = "continuous",
    event: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, float]:
    """Prognostic scores for the patients of one trial when no separate historical data exist:
    each fold's patients are scored by a model trained on the *control* patients of the other
    folds, so no patient's own outcome enters their score (cross-fitting, as the EMA opinion
    on PROCOVA allows). Returns the scores and ρ² of score and outcome among controls (for a
    time to event, of the log hazard and the event indicator: a rough guide only)."""
    outcome = np.asarray(outcome, dtype=float)
    is_control = np.asarray(is_control, dtype=bool)
    if len(frame) != len(outcome) or len(outcome) != len(is_control):
        raise JumeauError("frame, outcome and control flags must describe the same patients")
    if folds < 2:
        raise JumeauError("cross-fitting needs at least 2 folds")
    assignment = np.random.default_rng(seed).permutation(len(outcome)) % folds
    scores = np.full(len(outcome), np.nan)
    table = frame.reset_index(drop=True)
    for fold in range(folds):
        train = (assignment != fold) & is_control & ~np.isnan(outcome)
        fitted = PrognosticModel(features, model=model, kind=kind, seed=seed).fit(
            table.loc[train], outcome[train], None if event is None else event[train]
        )
        scores[assignment == fold] = fitted.predict(table.loc[assignment == fold])
    known = is_control & ~np.isnan(outcome)
    target = outcome if event is None else np.asarray(event, dtype=float)
    rho2 = float(stats.pearsonr(scores[known], target[known])[0] ** 2)
    return scores, rho2
