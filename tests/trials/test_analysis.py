"""Trial analyses: unadjusted, ANCOVA and PROCOVA estimates, Cox for time to event, RMST
pseudo-values, the prognostic model and the sample-size arithmetic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import restricted_mean_survival_time

from jumeau.errors import JumeauError
from jumeau.trials import PrognosticModel, analyse_continuous, analyse_survival
from jumeau.trials.analysis import covariate_matrix
from jumeau.trials.procova import sample_size_for_power
from jumeau.trials.survival import rmst_pseudo_values
from jumeau.trials.workflow import analyse_table


def small_trial(seed: int = 0, n: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outcome = 2·treated + 3·x + noise: x is strongly prognostic."""
    rng = np.random.default_rng(seed)
    arms = np.where(rng.random(n) < 0.5, "drug", "placebo").astype(object)
    x = rng.normal(size=n)
    y = 2.0 * (arms == "drug") + 3.0 * x + rng.normal(size=n)
    return y, arms, x


def test_adjusting_for_a_prognostic_covariate_shrinks_the_standard_error() -> None:
    y, arms, x = small_trial()
    crude = analyse_continuous(y, arms, "placebo", ["drug"], "unadjusted")[0]
    adjusted = analyse_continuous(y, arms, "placebo", ["drug"], "ancova", x[:, None])[0]
    assert adjusted.se < 0.5 * crude.se
    assert adjusted.lower < 2.0 < adjusted.upper
    assert adjusted.p_value < 1e-6 and adjusted.n == len(y)


def test_procova_uses_the_score_and_survives_a_redundant_one() -> None:
    y, arms, x = small_trial(1)
    score = 3.0 * x  # a perfect prognostic model of the control outcome
    procova = analyse_continuous(y, arms, "placebo", ["drug"], "procova", None, score)[0]
    assert procova.lower < 2.0 < procova.upper and procova.se < 0.15
    # a score that is a linear function of a covariate already adjusted for adds nothing and
    # must not make the fit singular
    both = analyse_continuous(y, arms, "placebo", ["drug"], "procova", x[:, None], score)[0]
    assert both.estimate == pytest.approx(procova.estimate, abs=1e-8)
    with pytest.raises(JumeauError, match="prognostic score"):
        analyse_continuous(y, arms, "placebo", ["drug"], "procova")


def test_missing_outcomes_are_left_out_and_unknown_analyses_refused() -> None:
    y, arms, _ = small_trial(2)
    y = y.copy()
    y[:50] = np.nan
    estimate = analyse_continuous(y, arms, "placebo", ["drug"], "unadjusted")[0]
    assert estimate.n == len(y) - 50
    with pytest.raises(JumeauError, match="unknown analysis"):
        analyse_continuous(y, arms, "placebo", ["drug"], "bayes")


def test_cox_recovers_a_known_hazard_ratio() -> None:
    rng = np.random.default_rng(3)
    n = 1500
    arms = np.where(rng.random(n) < 0.5, "drug", "placebo").astype(object)
    hazard = np.where(arms == "drug", 0.5, 1.0)
    time = rng.exponential(1 / hazard)
    censor = rng.uniform(0, 3, n)
    event = (time <= censor).astype(float)
    estimate = analyse_survival(
        np.minimum(time, censor), event, arms, "placebo", ["drug"], "unadjusted"
    )[0]
    assert estimate.lower < np.log(0.5) < estimate.upper
    with pytest.raises(JumeauError, match="fewer than two events"):
        analyse_survival(time, np.zeros(n), arms, "placebo", ["drug"], "unadjusted")


def test_covariate_matrix_encodes_categories_and_fills_gaps() -> None:
    frame = pd.DataFrame(
        {
            "grade": pd.Categorical(["I", "II", "III", "II"], categories=["I", "II", "III"]),
            "age": [50.0, np.nan, 70.0, 60.0],
        }
    )
    matrix, names = covariate_matrix(frame, ["grade", "age"])
    assert names == ["grade=II", "grade=III", "age"]
    np.testing.assert_allclose(matrix[:, 0], [0, 1, 0, 1])
    assert matrix[1, 2] == pytest.approx(60.0)  # the mean of the others
    with pytest.raises(JumeauError, match="not in the trial data"):
        covariate_matrix(frame, ["weight"])


def test_rmst_pseudo_values_match_lifelines(gbsg2: pd.DataFrame) -> None:
    time = gbsg2["time"].to_numpy(dtype=float)
    event = gbsg2["cens"].astype(int).to_numpy(dtype=float)
    values = gbsg2["rmst"].to_numpy()
    full = restricted_mean_survival_time(KaplanMeierFitter().fit(time, event), t=1826.0)
    assert values.mean() == pytest.approx(full, rel=1e-9)
    n = len(time)
    for i in (0, 17, 400):
        keep = np.arange(n) != i
        without = restricted_mean_survival_time(
            KaplanMeierFitter().fit(time[keep], event[keep]), t=1826.0
        )
        assert values[i] == pytest.approx(n * full - (n - 1) * without, rel=1e-9)
    with pytest.raises(JumeauError, match="tau"):
        rmst_pseudo_values(time, event, 1e6)
    with pytest.raises(JumeauError, match="0/1"):
        rmst_pseudo_values(time, event * 2, 1000.0)


def test_prognostic_model_choice_follows_the_data() -> None:
    rng = np.random.default_rng(4)
    n = 600
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    linear = 2 * frame["a"] - frame["b"] + rng.normal(scale=0.5, size=n)
    model = PrognosticModel(seed=0).fit(frame, linear.to_numpy())
    assert model.chosen_ == "linear"
    assert 0.85 < model.expected_variance_reduction() < 0.97
    bumpy = np.where(np.abs(frame["a"]) < 0.7, 3.0, -3.0) + rng.normal(scale=0.5, size=n)
    model = PrognosticModel(seed=0).fit(frame, bumpy)
    assert model.chosen_ == "boosting" and model.expected_variance_reduction() > 0.7
    assert model.predict(frame.head(5)).shape == (5,)


def test_prognostic_model_errors_and_other_kinds(gbsg2: pd.DataFrame) -> None:
    features = ["age", "tsize", "pnodes", "tgrade"]
    with pytest.raises(JumeauError, match="at least 20"):
        PrognosticModel(features).fit(gbsg2.head(10), gbsg2["rmst"].head(10).to_numpy())
    with pytest.raises(JumeauError, match="not in the data"):
        PrognosticModel(["weight"]).fit(gbsg2, gbsg2["rmst"].to_numpy())
    with pytest.raises(JumeauError, match="before predicting"):
        PrognosticModel(features).predict(gbsg2)
    binary = PrognosticModel(features, kind="binary").fit(
        gbsg2, gbsg2["cens"].astype(int).to_numpy()
    )
    risk = binary.predict(gbsg2)
    assert ((risk >= 0) & (risk <= 1)).all()
    cox = PrognosticModel(features, kind="time_to_event").fit(
        gbsg2, gbsg2["time"].to_numpy(dtype=float), gbsg2["cens"].astype(int).to_numpy()
    )
    hazard = cox.predict(gbsg2)
    # more positive nodes, higher hazard
    assert np.corrcoef(hazard, gbsg2["pnodes"].astype(float))[0, 1] > 0


def test_sample_size_for_power_is_the_textbook_formula() -> None:
    # 64 per arm, unit sd: se = sqrt(2/64); a 0.5 effect needs about 126 patients for 80 %
    needed = sample_size_for_power(0.5, np.sqrt(2 / 64), 128)
    assert needed == pytest.approx(125.6, abs=0.5)
    assert sample_size_for_power(0.0, 0.1, 100) == float("inf")


def test_analyse_table_on_the_real_gbsg2_trial(gbsg2: pd.DataFrame) -> None:
    table = analyse_table(
        gbsg2,
        arm="horTh",
        control="no",
        outcome="rmst",
        covariates=["age", "tsize", "pnodes", "tgrade", "progrec", "estrec"],
    )
    assert list(table["analysis"]) == ["unadjusted", "ancova"]
    crude, adjusted = table["estimate"]
    # hormonal therapy lengthens 5-year restricted mean survival (published benefit, HR ≈ 0.7)
    assert crude > 0 and adjusted > 0
    assert table.loc[1, "se_reduction"] > 0
    with pytest.raises(JumeauError, match="control arm"):
        analyse_table(gbsg2, arm="horTh", control="none", outcome="rmst", covariates=[])
