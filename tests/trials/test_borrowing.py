"""Augmented control arms: weighting fixes measured differences, discounting limits the damage
of unmeasured drift, and the simulation shows both."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from jumeau.errors import JumeauError
from jumeau.trials import Arm, CohortPopulation, Endpoint, TrialDesign
from jumeau.trials.borrowing import augmented_control, borrowing_simulation
from jumeau.trials.workflow import analyse_table

COVARIATES = ["age", "tsize", "pnodes", "tgrade"]


def split_trial(gbsg2: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The real trial, half its controls set aside as the 'external' ones."""
    rng = np.random.default_rng(seed)
    controls = np.flatnonzero(gbsg2["horTh"] == "no")
    external_rows = rng.choice(controls, size=len(controls) // 2, replace=False)
    external = gbsg2.iloc[external_rows]
    trial = gbsg2.drop(index=gbsg2.index[external_rows])
    return trial, external


def test_borrowing_compatible_controls_narrows_the_interval(gbsg2: pd.DataFrame) -> None:
    trial, external = split_trial(gbsg2)
    kwargs: dict[str, Any] = {
        "arm": "horTh",
        "control": "no",
        "outcome": "rmst",
        "covariates": COVARIATES,
    }
    alone = analyse_table(trial, **kwargs).set_index("analysis").loc["ancova"]
    pooled = augmented_control(trial, external, discount="none", **kwargs)
    assert pooled.borrowed and pooled.effective_borrowed > 50
    assert pooled.estimate.se < alone["se"]
    assert pooled.estimate.estimate > 0  # hormonal therapy helps, as in the full trial
    assert list(pooled.balance.columns) == ["covariate", "smd_before", "smd_after"]
    half = augmented_control(trial, external, discount="power_prior", a0=0.5, **kwargs)
    assert half.effective_borrowed == pytest.approx(pooled.effective_borrowed / 2)


def test_weighting_balances_a_shifted_external_population(gbsg2: pd.DataFrame) -> None:
    trial, external = split_trial(gbsg2, seed=1)
    older = external[external["age"] >= 50]  # external controls older than the trial's
    result = augmented_control(
        trial, older, arm="horTh", control="no", outcome="rmst", covariates=COVARIATES
    )
    age = result.balance.set_index("covariate").loc["age"]
    assert abs(age["smd_after"]) < abs(age["smd_before"])
    assert abs(age["smd_before"]) > 0.3


def test_test_then_pool_refuses_drifted_controls(gbsg2: pd.DataFrame) -> None:
    trial, external = split_trial(gbsg2, seed=2)
    drifted = external.assign(rmst=external["rmst"] - 600.0)  # another era: much worse outcome
    result = augmented_control(
        trial,
        drifted,
        arm="horTh",
        control="no",
        outcome="rmst",
        covariates=COVARIATES,
        discount="test_then_pool",
    )
    assert not result.borrowed and result.effective_borrowed == 0.0
    assert result.pool_p_value is not None and result.pool_p_value < 0.1


def test_borrowing_errors_are_clear(gbsg2: pd.DataFrame) -> None:
    trial, external = split_trial(gbsg2)
    kwargs = {"arm": "horTh", "outcome": "rmst", "covariates": COVARIATES}
    with pytest.raises(JumeauError, match="control arm"):
        augmented_control(trial, external, control="none", **kwargs)
    with pytest.raises(JumeauError, match="a0"):
        augmented_control(trial, external, control="no", discount="power_prior", a0=2, **kwargs)
    with pytest.raises(JumeauError, match="no external control"):
        augmented_control(trial, external.iloc[:0], control="no", **kwargs)
    with pytest.raises(JumeauError, match="lack column"):
        augmented_control(trial, external.drop(columns=["age"]), control="no", **kwargs)


def test_drift_simulation_shows_the_risk(baseline_and_rmst: pd.DataFrame) -> None:
    design = TrialDesign(
        arms=[Arm(name="control", control=True), Arm(name="therapy", shift=150.0)],
        sample_size=120,
        endpoint=Endpoint(outcome="rmst"),
        covariates=["age", "pnodes"],
        analyses=["unadjusted", "ancova"],
    )
    table = borrowing_simulation(
        design,
        CohortPopulation(baseline_and_rmst),
        external_size=120,
        drifts=[0.0, 400.0],
        n_trials=25,
        seed=0,
        progress=False,
    )
    assert set(table["method"]) == {"concurrent", "none", "test_then_pool", "power_prior"}
    null = table[table["scenario"] == "null"].set_index(["drift", "method"])
    # controls borrowed with a better outcome (+400) make the drug look worse: a negative bias
    assert null.loc[(400.0, "none"), "bias"] < -100
    assert abs(null.loc[(400.0, "concurrent"), "bias"]) < 100
    assert (
        null.loc[(400.0, "none"), "rejection_rate"]
        > null.loc[(400.0, "concurrent"), "rejection_rate"]
    )
    # without drift, borrowing shrinks the standard error
    assert null.loc[(0.0, "none"), "mean_se"] < null.loc[(0.0, "concurrent"), "mean_se"]
