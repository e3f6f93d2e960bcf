"""The hospital side: how well a score does on real patients it never saw.

Discrimination (ROC AUC; for survival Harrell's C-index and the IPCW time-dependent AUC at the
horizon), calibration (slope and intercept of the logistic recalibration of the outcome on the
score's log-odds, IPCW-weighted for survival; Brier score; a calibration curve by risk tenths)
and clinical usefulness (decision-curve net benefit, Vickers & Elkin 2006), each with a
percentile bootstrap confidence interval over patients (censoring weights re-estimated in every
resample).

Only aggregates leave this module: no patient's values or risk appear in a `Validation`, which
is what goes into model cards.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import brentq
from sklearn.linear_model import LogisticRegression

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.prognostic.score import PrognosticScore
from jumeau.prognostic.selection import weighted_auc
from jumeau.prognostic.task import Outcome, outcome, survival_outcome

THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 11))  # 5 % … 50 % risk
CURVE_BINS = 10
MIN_PATIENTS_PER_BIN = 20  # a calibration point never summarises fewer real patients
DEFAULT_BOOTSTRAP = 200


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass
class Validation:
    patients: int
    known_outcomes: int
    outcomes: int
    metrics: dict[str, Estimate]
    net_benefit: dict[str, list[Estimate]]  # "model" / "treat all", one per threshold
    calibration_curve: list[dict[str, float]]
    thresholds: tuple[float, ...] = THRESHOLDS
    bootstrap: int = DEFAULT_BOOTSTRAP
    seed: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "patients": self.patients,
            "known_outcomes": self.known_outcomes,
            "outcomes": self.outcomes,
            "metrics": {name: e.to_dict() for name, e in self.metrics.items()},
            "net_benefit": {
                "thresholds": list(self.thresholds),
                **{k: [e.to_dict() for e in v] for k, v in self.net_benefit.items()},
            },
            "calibration_curve": self.calibration_curve,
            "bootstrap": self.bootstrap,
            "seed": self.seed,
            "notes": self.notes,
        }


def validate(
    score: PrognosticScore,
    cohort: Cohort,
    *,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> Validation:
    """Score `cohort` (real patients with known outcomes) and measure the score on them."""
    frame = cohort.data.reset_index(drop=True)
    task = score.task_
    for column in (task.outcome, task.time):
        if column is not None and column not in frame.columns:
            raise JumeauError(f"the validation patients lack the outcome column {column!r}")
    risk = score.predict_risk(frame)
    target = outcome(task, frame, score.schema_)  # the score's levels: same positive class
    return validate_risk(risk, target, task.horizon, bootstrap=bootstrap, seed=seed)


def validate_risk(
    risk: np.ndarray,
    target: Outcome,
    horizon: float | None,
    *,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> Validation:
    """The same measures from predicted risks already in hand — for instance out-of-fold
    predictions pooled over a cross-validation, where each patient's risk comes from a score
    that never saw them and one calibration slope is fitted on every patient at once."""
    if bootstrap < 0:
        raise JumeauError(f"bootstrap must be 0 or more resamples, not {bootstrap}")
    risk = np.asarray(risk, dtype=float)
    if risk.shape != target.label.shape:
        raise JumeauError(f"{len(risk)} predicted risks for {len(target.label)} patients")
    if len(np.unique(target.label[target.known])) < 2:
        raise JumeauError(
            "the validation patients must include some with and some without the outcome"
        )
    point = _metrics(risk, target, horizon)
    rng = np.random.default_rng(seed)
    draws: list[dict[str, Any]] = []
    for _ in range(bootstrap):
        rows = rng.integers(0, len(risk), len(risk))
        resampled = _resample(target, rows, horizon)
        if len(np.unique(resampled.label[resampled.known])) < 2:
            continue
        draws.append(_metrics(risk[rows], resampled, horizon))
    metrics = {
        name: _estimate(value, [d[name] for d in draws])
        for name, value in point.items()
        if not name.startswith("net_benefit")
    }
    net_benefit = {
        label: [
            _estimate(point[key][i], [d[key][i] for d in draws]) for i in range(len(THRESHOLDS))
        ]
        for label, key in (("model", "net_benefit"), ("treat all", "net_benefit_all"))
    }
    notes = []
    if len(draws) < bootstrap:
        notes.append(f"{bootstrap - len(draws)} bootstrap resamples had one outcome class only")
    return Validation(
        patients=len(risk),
        known_outcomes=int(target.known.sum()),
        outcomes=int(target.label[target.known].sum()),
        metrics=metrics,
        net_benefit=net_benefit,
        calibration_curve=_calibration_curve(risk, target),
        bootstrap=bootstrap,
        seed=seed,
        notes=notes,
    )


def _resample(target: Outcome, rows: np.ndarray, horizon: float | None) -> Outcome:
    if target.time is None or target.event is None or horizon is None:
        return Outcome(label=target.label[rows], weight=target.weight[rows])
    return survival_outcome(target.time[rows], target.event[rows], horizon)


def _estimate(value: float, draws: list[float]) -> Estimate:
    finite = np.asarray([d for d in draws if np.isfinite(d)], dtype=float)
    if len(finite) < 2:
        return Estimate(float(value), float("nan"), float("nan"))
    low, high = np.quantile(finite, [0.025, 0.975])
    return Estimate(float(value), float(low), float(high))


def _metrics(risk: np.ndarray, target: Outcome, horizon: float | None) -> dict[str, Any]:
    known = target.known
    y, w, p = target.label[known], target.weight[known], np.clip(risk[known], 1e-6, 1 - 1e-6)
    values: dict[str, Any] = {}
    if target.time is not None and target.event is not None:
        from lifelines.utils import concordance_index

        valid = np.isfinite(target.time) & np.isfinite(target.event)
        values["c_index"] = float(
            concordance_index(target.time[valid], -risk[valid], target.event[valid])
        )
        values["auc_at_horizon"] = weighted_auc(target.label, risk, target.weight)
    else:
        values["roc_auc"] = weighted_auc(target.label, risk, target.weight)
    values["brier"] = float(np.sum(w * (y - p) ** 2) / np.sum(w))
    slope, intercept = _recalibration(y, p, w)
    values["calibration_slope"], values["calibration_intercept"] = slope, intercept
    values["observed_risk"] = float(np.sum(w * y) / np.sum(w))
    values["mean_predicted_risk"] = float(np.sum(w * p) / np.sum(w))
    values["net_benefit"], values["net_benefit_all"] = _net_benefit(y, p, w)
    return values


def _recalibration(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Slope of y on logit(p) (1 = ideal; < 1: predictions too extreme), and the
    calibration-in-the-large intercept α of y on α + logit(p) (0 = ideal; > 0: risk under-
    predicted). The offset model has no scikit-learn form, so α is the root of its score
    equation Σ w (y − σ(α + logit p)) = 0."""
    logit = np.log(p / (1 - p))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(C=np.inf, max_iter=1000)  # unpenalised
        model.fit(logit[:, None], y.astype(int), sample_weight=w)
    slope = float(model.coef_[0, 0])

    def score_equation(alpha: float) -> float:
        return float(np.sum(w * (y - 1 / (1 + np.exp(-(alpha + logit))))))

    try:
        intercept = float(brentq(score_equation, -20.0, 20.0))
    except ValueError:  # no sign change: every outcome is 0 or every one is 1
        intercept = float("nan")
    return slope, intercept


def _net_benefit(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[list[float], list[float]]:
    """Net benefit of treating patients above each threshold t: true positives minus false
    positives weighted by the odds t / (1 − t), per patient; and of treating everyone."""
    total = np.sum(w)
    prevalence = np.sum(w * y) / total
    model, everyone = [], []
    for t in THRESHOLDS:
        odds = t / (1 - t)
        treated = p >= t
        true_positive = np.sum(w * (treated & (y == 1))) / total
        false_positive = np.sum(w * (treated & (y == 0))) / total
        model.append(float(true_positive - false_positive * odds))
        everyone.append(float(prevalence - (1 - prevalence) * odds))
    return model, everyone


def _calibration_curve(risk: np.ndarray, target: Outcome) -> list[dict[str, float]]:
    """Mean predicted vs observed (weighted) risk in tenths of predicted risk — fewer groups on
    small cohorts, so that each point summarises at least `MIN_PATIENTS_PER_BIN` patients and no
    single patient can be read off the card."""
    known = target.known
    p, y, w = risk[known], target.label[known], target.weight[known]
    bins = min(CURVE_BINS, len(p) // MIN_PATIENTS_PER_BIN)
    if bins < 2:
        return []
    order = np.argsort(p, kind="stable")
    curve = []
    for part in np.array_split(order, bins):
        weight = w[part]
        curve.append(
            {
                "predicted": float(np.average(p[part], weights=weight)),
                "observed": float(np.average(y[part], weights=weight)),
                "patients": len(part),
            }
        )
    return curve
