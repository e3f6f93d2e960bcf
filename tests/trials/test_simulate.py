"""Simulated trials: operating characteristics judged against the truth the population carries,
on the real gbsg2 patients (5-year RMST pseudo-values as the endpoint)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jumeau.errors import JumeauError
from jumeau.trials import Arm, CohortPopulation, Endpoint, TrialDesign, simulate

COVARIATES = ["age", "tsize", "pnodes", "tgrade", "progrec", "estrec"]


def rmst_design(**changes: object) -> TrialDesign:
    values: dict[str, object] = {
        "arms": [Arm(name="control", control=True), Arm(name="therapy", shift=150.0)],
        "sample_size": 200,
        "endpoint": Endpoint(outcome="rmst"),
        "covariates": COVARIATES,
        "historical_size": 200,
    }
    values.update(changes)
    return TrialDesign(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def simulation(baseline_and_rmst: pd.DataFrame) -> object:
    return simulate(rmst_design(), CohortPopulation(baseline_and_rmst), 120, seed=3, progress=False)


def test_summary_has_every_scenario_analysis_and_honest_errors(simulation: object) -> None:
    summary = simulation.summary()  # type: ignore[attr-defined]
    assert set(summary["scenario"]) == {"alternative", "null"}
    assert set(summary["analysis"]) == {"unadjusted", "ancova", "procova"}
    assert (summary["trials"] == 120).all() and (summary["failed"] == 0).all()
    for row in summary.itertuples():
        # the model standard error describes the spread of the estimates it produced
        assert row.mean_se == pytest.approx(row.empirical_se, rel=0.25)
        assert 0.85 <= row.coverage <= 1.0
    null = summary[summary["scenario"] == "null"]
    assert (null["rejection_rate"] <= 0.15).all()  # 5 % ± 4 binomial sd at 120 trials
    alternative = summary[summary["scenario"] == "alternative"].set_index("analysis")
    assert alternative.loc["unadjusted", "true_effect"] == pytest.approx(150.0)
    # adjusting for prognostic covariates gains power and shrinks the standard error
    assert alternative.loc["ancova", "mean_se"] < alternative.loc["unadjusted", "mean_se"]
    assert alternative.loc["ancova", "n_for_power"] < alternative.loc["unadjusted", "n_for_power"]


def test_estimates_are_tidy_and_reproducible(
    baseline_and_rmst: pd.DataFrame, simulation: object
) -> None:
    estimates = simulation.estimates  # type: ignore[attr-defined]
    assert {"trial", "scenario", "analysis", "estimate", "se", "p_value"} <= set(estimates.columns)
    assert simulation.provenance["seed"] == 3  # type: ignore[attr-defined]
    runs = [
        simulate(
            rmst_design(),
            CohortPopulation(baseline_and_rmst),
            5,
            seed=s,
            null=False,
            progress=False,
        )
        .estimates["estimate"]
        .to_numpy()
        for s in (7, 7, 8)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_dropout_reduces_the_patients_analysed(baseline_and_rmst: pd.DataFrame) -> None:
    result = simulate(
        rmst_design(dropout=0.3, analyses=["unadjusted"]),
        CohortPopulation(baseline_and_rmst),
        20,
        seed=0,
        null=False,
        progress=False,
    )
    analysed = result.estimates["n"].mean()
    assert 120 < analysed < 160  # about 70 % of 200


def test_time_to_event_trials_with_cox(gbsg2: pd.DataFrame) -> None:
    design = TrialDesign(
        arms=[Arm(name="control", control=True), Arm(name="therapy", hazard_ratio=0.6)],
        sample_size=300,
        endpoint=Endpoint(kind="time_to_event", outcome="time", event="cens", horizon=2000.0),
        covariates=["pnodes", "tgrade"],
        prognostic_features=["age", "tsize", "pnodes", "tgrade", "progrec"],
        historical_size=200,
    )
    population = CohortPopulation(gbsg2.drop(columns=["horTh", "rmst"]))
    result = simulate(design, population, 12, seed=1, progress=False)
    summary = result.summary().set_index(["scenario", "analysis"])
    assert summary.loc[("alternative", "unadjusted"), "mean_estimate"] < -0.2
    assert summary.loc[("alternative", "unadjusted"), "true_effect"] == pytest.approx(np.log(0.6))
    assert result.prognostic_model == "cox"


def test_twin_trial_with_a_run_in(progression_fit: object) -> None:
    from jumeau.trials import TwinPopulation

    year = 8766.0
    design = TrialDesign(
        arms=[Arm(name="placebo", control=True), Arm(name="drug", regimen="10 mg q24h x400")],
        sample_size=120,
        endpoint=Endpoint(baseline="score", at=year, run_in=year / 2),
        historical_size=300,
    )
    result = simulate(design, TwinPopulation(progression_fit), 30, seed=0, progress=False)  # type: ignore[arg-type]
    summary = result.summary().set_index(["scenario", "analysis"])
    assert summary.loc[("alternative", "procova"), "rejection_rate"] > 0.9
    # the patient's own trend over the run-in is prognostic: PROCOVA beats the crude analysis
    assert (
        summary.loc[("alternative", "procova"), "mean_se"]
        < summary.loc[("alternative", "unadjusted"), "mean_se"]
    )
    assert result.prognostic_rho2 is not None and result.prognostic_rho2 > 0.1


def test_bad_trial_counts_are_refused(baseline_and_rmst: pd.DataFrame) -> None:
    with pytest.raises(JumeauError, match="n_trials"):
        simulate(rmst_design(), CohortPopulation(baseline_and_rmst), 0, progress=False)


def test_prognostic_model_from_the_users_historical_data(
    baseline_and_rmst: pd.DataFrame,
) -> None:
    population = CohortPopulation(baseline_and_rmst)
    historical = baseline_and_rmst.sample(300, random_state=0)
    result = simulate(
        rmst_design(analyses=["procova"]),
        population,
        5,
        seed=0,
        null=False,
        historical=historical,
        progress=False,
    )
    assert result.prognostic_model in ("linear", "boosting")
    with pytest.raises(JumeauError, match="lack column"):
        simulate(
            rmst_design(analyses=["procova"]),
            population,
            5,
            seed=0,
            historical=historical.drop(columns=["rmst"]),
            progress=False,
        )


def test_exclusion_criteria_and_twin_eligibility_on_measured_baseline(
    baseline_and_rmst: pd.DataFrame, progression_fit: object
) -> None:
    from jumeau.trials import TwinPopulation

    excluded = rmst_design(exclusion=["tgrade == 'III'"], analyses=["unadjusted"])
    draw = CohortPopulation(baseline_and_rmst).draw(excluded, 300, np.random.default_rng(0))
    assert (draw.baseline["tgrade"] != "III").all()
    year = 8766.0
    design = TrialDesign(
        arms=[Arm(name="placebo", control=True), Arm(name="drug", regimen="10 mg q24h x30")],
        sample_size=60,
        endpoint=Endpoint(baseline="score", at=year / 12),
        inclusion=["score >= 32"],  # a measured baseline, as trials recruit on
        analyses=["unadjusted"],
    )
    twins = TwinPopulation(progression_fit).draw(design, 200, np.random.default_rng(0))  # type: ignore[arg-type]
    assert len(twins) == 200 and (twins.baseline["score"] >= 32).all()
    impossible = design.model_copy(update={"inclusion": ["score >= 1000"]})
    with pytest.raises(JumeauError, match="eligibility criteria"):
        TwinPopulation(progression_fit).draw(impossible, 10, np.random.default_rng(0))  # type: ignore[arg-type]
