"""Validation metrics against hand-computed values and known truths."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.prognostic.score import PrognosticScore
from jumeau.prognostic.task import Outcome, outcome
from jumeau.prognostic.validation import (
    THRESHOLDS,
    _metrics,
    _recalibration,
    validate,
    validate_risk,
)


def _binary(label: list[int]) -> Outcome:
    values = np.asarray(label, dtype=float)
    return Outcome(label=values, weight=np.ones_like(values))


def test_net_benefit_by_hand() -> None:
    target = _binary([1, 1, 0, 0, 0])
    risk = np.array([0.9, 0.2, 0.6, 0.08, 0.03])
    values = _metrics(risk, target, None)
    at_10 = THRESHOLDS.index(0.1)
    # treated at 10 % (risk ≥ 0.1): patients 0, 1, 2 → 2 true positives, 1 false positive
    assert values["net_benefit"][at_10] == pytest.approx(2 / 5 - 1 / 5 * (0.1 / 0.9))
    assert values["net_benefit_all"][at_10] == pytest.approx(2 / 5 - 3 / 5 * (0.1 / 0.9))
    assert values["roc_auc"] == pytest.approx(5 / 6)
    assert values["brier"] == pytest.approx(np.mean((risk - target.label) ** 2))


def test_recalibration_of_well_calibrated_risks_is_ideal() -> None:
    rng = np.random.default_rng(0)
    risk = rng.uniform(0.02, 0.98, 20_000)
    y = (rng.random(risk.size) < risk).astype(float)
    slope, intercept = _recalibration(y, risk, np.ones_like(risk))
    assert slope == pytest.approx(1.0, abs=0.05)
    assert intercept == pytest.approx(0.0, abs=0.05)
    # risks pushed toward the extremes: slope below 1; all risks halved: intercept above 0
    logit = np.log(risk / (1 - risk))
    extreme = 1 / (1 + np.exp(-2 * logit))
    assert _recalibration(y, extreme, np.ones_like(risk))[0] == pytest.approx(0.5, abs=0.05)
    assert _recalibration(y, risk / 2, np.ones_like(risk))[1] > 0.3


def test_validation_on_real_holdout_has_sane_figures_and_intervals(
    breast_halves: tuple[Cohort, Cohort],
) -> None:
    train, holdout = breast_halves
    score = PrognosticScore(n_variables=None).fit(train, seed=0)
    result = validate(score, holdout, bootstrap=40, seed=0)
    auc = result.metrics["roc_auc"]
    assert auc.value > 0.9  # breast_cancer diagnosis is easy
    assert auc.low <= auc.value <= auc.high
    assert result.patients == len(holdout)
    assert len(result.calibration_curve) == min(10, len(holdout) // 20)
    assert min(p["patients"] for p in result.calibration_curve) >= 20
    assert sum(p["patients"] for p in result.calibration_curve) == len(holdout)
    assert len(result.net_benefit["model"]) == len(THRESHOLDS)
    payload = result.to_dict()
    assert set(payload["metrics"]["roc_auc"]) == {"value", "low", "high"}
    again = validate(score, holdout, bootstrap=40, seed=0)
    assert again.metrics["brier"] == result.metrics["brier"]  # seeded


def test_survival_validation_reports_c_index_and_auc_at_horizon(
    gbsg2_halves: tuple[Cohort, Cohort],
) -> None:
    train, holdout = gbsg2_halves
    score = PrognosticScore(model="reference", n_variables=None).fit(train, seed=0)
    result = validate(score, holdout, bootstrap=20, seed=0)
    assert {"c_index", "auc_at_horizon", "calibration_slope"} <= set(result.metrics)
    assert 0.6 < result.metrics["c_index"].value < 0.85  # a Cox model on gbsg2: about 0.68


def test_validating_predicted_risks_is_validating_the_score(
    gbsg2_halves: tuple[Cohort, Cohort],
) -> None:
    """Pooled out-of-fold predictions go through validate_risk: the same figures as validate."""
    train, holdout = gbsg2_halves
    score = PrognosticScore(model="reference", n_variables=None).fit(train, seed=0)
    frame = holdout.data.reset_index(drop=True)
    target = outcome(score.task_, frame, score.schema_)
    risk = score.predict_risk(frame)
    direct = validate(score, holdout, bootstrap=10, seed=3)
    from_risk = validate_risk(risk, target, score.task_.horizon, bootstrap=10, seed=3)
    assert from_risk.to_dict() == direct.to_dict()
    with pytest.raises(JumeauError, match="predicted risks for"):
        validate_risk(risk[:-1], target, score.task_.horizon, bootstrap=0)


def test_validation_needs_both_outcomes(breast_halves: tuple[Cohort, Cohort]) -> None:
    train, holdout = breast_halves
    score = PrognosticScore(n_variables=None).fit(train, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant diagnosis column is the point here
        benign = holdout.subset(np.flatnonzero(holdout.data["diagnosis"].astype(str) == "benign"))
    with pytest.raises(JumeauError, match="some with and some without"):
        validate(score, benign, bootstrap=5)
    with pytest.raises(JumeauError, match="bootstrap"):
        validate(score, holdout, bootstrap=-1)


def test_calibration_curve_never_summarises_fewer_than_20_patients() -> None:
    rng = np.random.default_rng(0)
    for n, bins in ((30, 0), (45, 2), (1000, 10)):
        risk = rng.uniform(0, 1, n)
        target = _binary((rng.random(n) < risk).astype(int).tolist())
        from jumeau.prognostic.validation import _calibration_curve

        curve = _calibration_curve(risk, target)
        assert len(curve) == bins
        assert all(point["patients"] >= 20 for point in curve)
