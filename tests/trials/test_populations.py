"""Populations hand out patients with known potential outcomes: the effect a design asks for
is the effect the patients carry, on real gbsg2 patients and on a twin population."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from jumeau.errors import JumeauError
from jumeau.trials import Arm, CohortPopulation, Endpoint, TrialDesign, TwinPopulation


def design(endpoint: Endpoint, **treated: object) -> TrialDesign:
    return TrialDesign(
        arms=[Arm(name="control", control=True), Arm(name="drug", **treated)],
        sample_size=100,
        endpoint=endpoint,
        analyses=["unadjusted"],
    )


def test_historical_and_trial_patients_never_overlap(baseline_and_rmst: pd.DataFrame) -> None:
    population = CohortPopulation(baseline_and_rmst, historical_fraction=0.3, seed=1)
    assert not set(population.historical_rows) & set(population.trial_rows)
    assert len(population.historical_rows) + len(population.trial_rows) == 686
    with pytest.raises(JumeauError, match="historical_fraction"):
        CohortPopulation(baseline_and_rmst, historical_fraction=1.0)


def test_a_shift_moves_every_patient_by_exactly_the_shift(baseline_and_rmst: pd.DataFrame) -> None:
    population = CohortPopulation(baseline_and_rmst)
    trial = design(Endpoint(outcome="rmst"), shift=-120.0)
    draw = population.draw(trial, 500, np.random.default_rng(0))
    np.testing.assert_allclose(draw.outcomes["drug"] - draw.outcomes["control"], -120.0)
    assert "rmst" not in draw.baseline.columns  # the outcome is not a baseline covariate
    assert population.estimand(trial)["drug"] == pytest.approx(-120.0)


def test_change_from_baseline_and_a_thresholded_responder(gbsg2: pd.DataFrame) -> None:
    population = CohortPopulation(gbsg2.drop(columns=["time", "cens", "horTh"]))
    change = design(Endpoint(outcome="estrec", baseline="progrec"), shift=10.0)
    draw = population.draw(change, 300, np.random.default_rng(0))
    # the baseline stays a covariate; baseline + change is a recorded outcome value
    recovered = draw.outcomes["control"] + draw.baseline["progrec"].astype(float).to_numpy()
    assert np.isin(recovered, gbsg2["estrec"].astype(float)).all()
    assert "estrec" not in draw.baseline.columns
    responder = design(Endpoint(kind="responder", outcome="rmst", threshold=1500.0), shift=100.0)
    draw = population.draw(responder, 2000, np.random.default_rng(1))
    assert set(np.unique(draw.outcomes["drug"])) <= {0.0, 1.0}
    assert draw.outcomes["drug"].mean() > draw.outcomes["control"].mean()
    assert (draw.outcomes["drug"] >= draw.outcomes["control"]).all()  # a shift up never hurts


def test_a_risk_difference_on_a_binary_outcome(gbsg2: pd.DataFrame) -> None:
    frame = (
        gbsg2.drop(columns=["time", "horTh", "rmst"])
        .assign(recurred=gbsg2["cens"].astype(int))
        .drop(columns=["cens"])
    )
    population = CohortPopulation(frame)
    trial = design(Endpoint(kind="responder", outcome="recurred"), risk_difference=-0.15)
    estimand = population.estimand(trial)["drug"]
    assert estimand == pytest.approx(-0.15, abs=0.01)
    with pytest.raises(JumeauError, match="exceeds"):
        population.draw(
            design(Endpoint(kind="responder", outcome="recurred"), risk_difference=0.9),
            10,
            np.random.default_rng(0),
        )


@pytest.mark.parametrize("hazard_ratio", [0.6, 1.5])
def test_a_hazard_ratio_is_what_a_cox_model_finds(gbsg2: pd.DataFrame, hazard_ratio: float) -> None:
    population = CohortPopulation(gbsg2.drop(columns=["horTh", "rmst"]))
    trial = design(
        Endpoint(kind="time_to_event", outcome="time", event="cens"), hazard_ratio=hazard_ratio
    )
    n = 8000
    draw = population.draw(trial, n, np.random.default_rng(0))
    assert draw.events is not None
    # the control arm is the data as recorded: same times, same events
    table = pd.DataFrame(
        {
            "time": np.r_[draw.outcomes["control"], draw.outcomes["drug"]],
            "event": np.r_[draw.events["control"], draw.events["drug"]],
            "drug": np.r_[np.zeros(n), np.ones(n)],
        }
    )
    found = CoxPHFitter().fit(table, "time", "event").params_["drug"]
    assert found == pytest.approx(np.log(hazard_ratio), abs=0.06)


def test_inclusion_criteria_are_honoured(baseline_and_rmst: pd.DataFrame) -> None:
    population = CohortPopulation(baseline_and_rmst)
    trial = TrialDesign(
        arms=[Arm(name="control", control=True), Arm(name="drug", shift=1.0)],
        sample_size=100,
        endpoint=Endpoint(outcome="rmst"),
        inclusion=["age >= 60", "menostat == 'Post'"],
        analyses=["unadjusted"],
    )
    draw = population.draw(trial, 300, np.random.default_rng(0))
    assert (draw.baseline["age"] >= 60).all()
    assert (draw.baseline["menostat"] == "Post").all()
    impossible = trial.model_copy(update={"inclusion": ["age > 200"]})
    with pytest.raises(JumeauError, match="eligibility criteria"):
        population.draw(impossible, 10, np.random.default_rng(0))


def test_missing_endpoint_columns_are_named(baseline_and_rmst: pd.DataFrame) -> None:
    population = CohortPopulation(baseline_and_rmst)
    with pytest.raises(JumeauError, match="'score' is not in the population"):
        population.draw(design(Endpoint(outcome="score"), shift=1.0), 10, np.random.default_rng(0))


def test_twin_population_gives_regimen_effects_and_a_run_in(progression_fit: object) -> None:
    population = TwinPopulation(progression_fit)
    year = 8766.0
    trial = TrialDesign(
        arms=[Arm(name="placebo", control=True), Arm(name="drug", regimen="10 mg q24h x400")],
        sample_size=100,
        endpoint=Endpoint(baseline="score", at=year, run_in=year / 2),
        analyses=["unadjusted"],
    )
    draw = population.draw(trial, 4000, np.random.default_rng(0))
    assert {"score", "score_run_in"} <= set(draw.baseline.columns)
    # untreated, the score worsens 3 points a year; the drug takes 2 off (symptomatic) and
    # slows the progression by 20 % (0.6 of the 3 points)
    assert np.mean(draw.outcomes["placebo"]) == pytest.approx(3.0, abs=0.3)
    effect = population.estimand(trial)["drug"]
    assert effect == pytest.approx(-2.6, abs=0.25)
    # the run-in tells the patient's own slope: the change over it predicts the outcome
    trend = draw.baseline["score"] - draw.baseline["score_run_in"]
    assert np.corrcoef(trend, draw.outcomes["placebo"])[0, 1] > 0.3


def test_twin_population_needs_a_time_and_a_fit(progression_fit: object) -> None:
    with pytest.raises(JumeauError, match="PopulationFit"):
        TwinPopulation(object())  # type: ignore[arg-type]
    trial = TrialDesign(
        arms=[Arm(name="placebo", control=True), Arm(name="drug", regimen="10 mg")],
        sample_size=100,
        analyses=["unadjusted"],
    )
    with pytest.raises(JumeauError, match="`at`"):
        TwinPopulation(progression_fit).draw(trial, 10, np.random.default_rng(0))  # type: ignore[arg-type]
