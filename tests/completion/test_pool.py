"""Rubin's rules: checked against statsmodels' own MICE pooling and against the formulas by hand,
on statsmodels and lifelines analyses of completed real cohorts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import CoxPHFitter
from scipy import stats
from statsmodels.imputation.mice import MICE

from jumeau import Cohort, JumeauError
from jumeau.completion import complete, pool


@pytest.fixture(scope="module")
def completed_lung(lung: Cohort) -> list[pd.DataFrame]:
    columns = ["time", "status", "age", "ph_karno", "meal_cal", "wt_loss"]
    result = complete(lung, 5, model="copula", seed=0)
    return [c.data[columns].astype(float) for c in result]


def _ols(frame: pd.DataFrame):  # type: ignore[no-untyped-def]
    exog = sm.add_constant(frame[["age", "ph_karno", "meal_cal"]])
    return sm.OLS(frame["wt_loss"], exog).fit()


def test_matches_statsmodels_mice_pooling(completed_lung: list[pd.DataFrame]) -> None:
    """statsmodels pools inside its MICE loop only: hand it our analyses and compare."""
    results = [_ols(frame) for frame in completed_lung]
    pooled = pool(results)
    mice = MICE.__new__(MICE)
    mice.results_list = results
    mice.exog_names, mice.endog_names, mice.model_class = list(results[0].params.index), "y", sm.OLS
    reference = mice.combine()
    np.testing.assert_allclose(pooled.estimates.to_numpy(), reference.params, rtol=1e-10)
    np.testing.assert_allclose(
        pooled.std_errors.to_numpy(), np.sqrt(np.diag(reference.cov_params())), rtol=1e-8
    )
    np.testing.assert_allclose(pooled.table["lambda"].to_numpy(), reference.frac_miss_info)
    assert list(pooled.table.index) == list(results[0].params.index)


def test_degrees_of_freedom_by_hand() -> None:
    """Barnard & Rubin (1999), computed step by step for one term."""
    estimates = [1.0, 1.4, 0.8, 1.2]
    variances = [0.04, 0.05, 0.045, 0.055]
    pairs = [
        (pd.Series([q], index=["x"]), pd.Series([u], index=["x"]))
        for q, u in zip(estimates, variances, strict=True)
    ]
    m, complete_df = 4, 30.0
    q_bar, u_bar, b = np.mean(estimates), np.mean(variances), np.var(estimates, ddof=1)
    total = u_bar + (1 + 1 / m) * b
    lam = (1 + 1 / m) * b / total
    df_old = (m - 1) / lam**2
    df_obs = (complete_df + 1) / (complete_df + 3) * complete_df * (1 - lam)
    df = 1 / (1 / df_old + 1 / df_obs)
    half = stats.t.ppf(0.975, df) * np.sqrt(total)
    row = pool(pairs, complete_df=complete_df).table.loc["x"]
    assert row["estimate"] == pytest.approx(q_bar)
    assert row["total"] == pytest.approx(total)
    assert row["df"] == pytest.approx(df)
    assert row["ci_lower"] == pytest.approx(q_bar - half)
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(q_bar / np.sqrt(total), df))
    # without complete-data df: Rubin's (1987) large-sample df
    assert pool(pairs).table.loc["x", "df"] == pytest.approx(df_old)


def test_statsmodels_df_resid_is_the_complete_data_df(completed_lung: list[pd.DataFrame]) -> None:
    results = [_ols(frame) for frame in completed_lung]
    pooled = pool(results)
    assert pooled.complete_df == results[0].df_resid
    assert (pooled.table["df"] <= pooled.complete_df).all()


def test_identical_analyses_have_no_between_variance(completed_lung: list[pd.DataFrame]) -> None:
    result = _ols(completed_lung[0])
    pooled = pool([result, result, result])
    np.testing.assert_allclose(pooled.table["between"], 0.0, atol=1e-20)
    np.testing.assert_allclose(pooled.std_errors, result.bse, rtol=1e-10)
    np.testing.assert_allclose(
        pooled.table["df"], result.df_resid * (result.df_resid + 1) / (result.df_resid + 3)
    )


def test_lifelines_cox_models_pool(completed_lung: list[pd.DataFrame]) -> None:
    fits = [
        CoxPHFitter().fit(
            frame[["time", "status", "age", "ph_karno", "meal_cal"]], "time", "status"
        )
        for frame in completed_lung
    ]
    pooled = pool(fits)
    assert list(pooled.table.index) == ["age", "ph_karno", "meal_cal"]
    assert pooled.complete_df is None and np.isfinite(pooled.table["df"]).all()
    mean = np.mean([f.params_["ph_karno"] for f in fits])
    assert pooled.estimates["ph_karno"] == pytest.approx(mean)
    assert (pooled.std_errors >= np.max([f.standard_errors_ for f in fits], axis=0) * 0.5).all()
    assert "estimate" in repr(pooled)


def test_bad_input_is_refused(completed_lung: list[pd.DataFrame]) -> None:
    result = _ols(completed_lung[0])
    with pytest.raises(JumeauError, match="at least 2"):
        pool([result])
    with pytest.raises(JumeauError, match="same terms"):
        other = sm.OLS(
            completed_lung[1]["wt_loss"], sm.add_constant(completed_lung[1][["age"]])
        ).fit()
        pool([result, other])
    with pytest.raises(JumeauError, match="cannot pool"):
        pool([object(), object()])
    with pytest.raises(JumeauError, match="negative variance"):
        pool([([1.0], [-1.0]), ([1.0], [1.0])])
    with pytest.raises(JumeauError, match="alpha"):
        pool([result, result], alpha=1.5)
    with pytest.raises(JumeauError, match="complete_df"):
        pool([result, result], complete_df=0)
