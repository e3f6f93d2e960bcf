"""Explanations: effect shapes, SHAP additivity, agreement."""

from __future__ import annotations

import numpy as np
import pytest

from jumeau.data.cohort import Cohort
from jumeau.prognostic.explain import (
    EffectCurve,
    agreement,
    effect_curves,
    importance,
    shap_values,
)
from jumeau.prognostic.score import PrognosticScore


@pytest.fixture(scope="module")
def u_score(u_cohort: Cohort) -> PrognosticScore:
    return PrognosticScore(n_variables=None).fit(u_cohort, target="outcome", seed=0)


def test_boosting_shows_a_u_shaped_effect_that_logistic_regression_cannot(
    u_score: PrognosticScore, u_cohort: Cohort
) -> None:
    curves = {c.variable: c for c in effect_curves(u_score, u_cohort)}
    assert curves["x2"].shape == "U-shaped"
    assert curves["x1"].shape == "increasing"
    assert curves["group"].categorical and curves["group"].values == ["a", "b", "c"]
    assert curves["group"].risk[2] > curves["group"].risk[0]
    linear = PrognosticScore(model="reference", n_variables=None)
    linear.fit(u_cohort, target="outcome", seed=0)
    shapes = {c.variable: c.shape for c in effect_curves(linear, u_cohort)}
    assert shapes["x2"] in ("increasing", "decreasing", "flat")


@pytest.mark.parametrize(
    ("risk", "shape"),
    [
        ([0.1, 0.2, 0.3, 0.4], "increasing"),
        ([0.4, 0.3, 0.2, 0.1], "decreasing"),
        ([0.5, 0.2, 0.1, 0.2, 0.5], "U-shaped"),
        ([0.1, 0.4, 0.5, 0.4, 0.1], "inverted-U"),
        ([0.3, 0.3, 0.301, 0.3], "flat"),
    ],
)
def test_effect_shapes(risk: list[float], shape: str) -> None:
    curve = EffectCurve("v", list(range(len(risk))), risk, categorical=False)
    assert curve.shape == shape


def test_shap_values_add_up_to_the_risk(u_score: PrognosticScore, u_cohort: Cohort) -> None:
    patients = u_cohort.subset(list(range(12)))
    background = u_cohort.subset(list(range(100, 160)))
    values = shap_values(u_score, patients, background, seed=0)
    assert list(values.columns) == ["base", *u_score.variables_]  # one column per variable
    total = values.drop(columns="base").sum(1) + values["base"]
    np.testing.assert_allclose(total, u_score.predict_risk(patients), atol=1e-6)
    assert values["base"].nunique() == 1


def test_permutation_importance_ranks_noise_last(
    u_score: PrognosticScore, u_cohort: Cohort
) -> None:
    drops = importance(u_score, u_cohort, repeats=2, seed=0)
    assert min(drops["x1"], drops["x2"]) > max(drops["x3"], drops["x4"], drops["x5"])


def test_agreement() -> None:
    same = agreement({"a": 3.0, "b": 2.0, "c": 1.0}, {"a": 30.0, "b": 20.0, "c": 10.0})
    assert same["spearman"] == pytest.approx(1.0) and same["overlap"] == 1.0
    reverse = agreement({"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.0}, {"a": 1.0, "b": 2.0, "c": 3.0})
    assert reverse["spearman"] == pytest.approx(-1.0)
    assert reverse["overlap"] == pytest.approx(3 / 4)
    assert np.isnan(agreement({"a": 1.0}, {"a": 2.0})["spearman"])
