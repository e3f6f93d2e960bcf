"""Categorical covariate effects: estimated, reported, saved, and used for new patients."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from jumeau.errors import JumeauError, JumeauWarning
from jumeau.twins import PKData, make_model
from jumeau.twins.calibrate import fit_population
from jumeau.twins.forecast import forecast_twin
from jumeau.twins.persistence import load_fit
from jumeau.twins.population import virtual_population
from jumeau.twins.regimen import Regimen
from jumeau.twins.simulate import simulate_studies, simulate_study

TIMES = np.array([0.5, 2.0, 6.0, 12.0, 24.0])


def _two_groups() -> PKData:
    model = make_model("pk1_iv")
    parts = []
    for offset, (sex, clearance, n) in enumerate([("M", 5.0, 14), ("F", 3.0, 10)]):
        frame, _ = simulate_study(
            model,
            {"CL": clearance, "V": 40.0},
            {"CL": 0.2, "V": 0.1},
            subjects=n,
            times=TIMES,
            regimens=Regimen.parse("200 mg iv"),
            sigma_prop=0.08,
            seed=10 + offset,
        )
        frame["ID"] += 100 * offset
        frame["SEX"] = sex
        parts.append(frame)
    return PKData.from_frame(pd.concat(parts, ignore_index=True))


@pytest.fixture(scope="module")
def fitted():
    study = _two_groups()
    # NUTS: SVI's Gaussian approximation trades the typical value against the effect here
    # (individual clearances right, factor 0.73 for 0.63), a known weakness of SVI on
    # hierarchical models; short chains are enough for the point being tested
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JumeauWarning)
        fit = fit_population(
            study,
            "pk1_iv",
            chains=2,
            warmup=100,
            samples=75,
            seed=0,
            error="proportional",
            categorical={"SEX": ["CL"]},
            progress=False,
            parallel=True,  # two chains at once on two cores: the wall time of one
        )
    return study, fit


def test_a_level_shifts_its_parameter_by_the_right_factor(fitted) -> None:
    _, fit = fitted
    assert fit.effects.references == {"SEX": "M"}  # the most frequent level
    row = next(r for r in fit.summary() if r["parameter"] == "CL × (SEX=F)")
    assert row["median"] == pytest.approx(0.632, rel=0.1)  # the simulated groups' own ratio
    assert row["q95"] < 1.0  # the effect is detected
    assert np.median(fit.typical["CL"]) == pytest.approx(5.0, rel=0.15)  # reference level


def test_effects_survive_the_fit_file_and_reach_new_patients(fitted, tmp_path) -> None:
    study, fit = fitted
    loaded = load_fit(fit.save(tmp_path / "sex.jumeau"))
    assert loaded.effects == fit.effects
    np.testing.assert_array_equal(loaded.design, fit.design)
    table = pd.DataFrame({"SEX": ["F"] * 300 + ["M"] * 300})
    population = virtual_population(loaded, 600, covariates=table, seed=1)
    clearance = population.frame().groupby("SEX")["CL"].median()
    assert clearance["F"] / clearance["M"] == pytest.approx(0.6, rel=0.2)
    with pytest.raises(JumeauError, match="not in the fitted study"):
        virtual_population(loaded, 50, covariates=pd.DataFrame({"SEX": ["X"] * 9 + ["M"]}))
    simulated = simulate_studies(fit, study, replicates=20, seed=0)
    assert simulated.values.shape[1] == len(study)


def test_forecasts_use_the_new_patients_level(fitted) -> None:
    study, fit = fitted
    first_dose = study.subjects[0]
    empty = type(first_dose)(
        id="new",
        dose_times=first_dose.dose_times,
        dose_amounts=first_dose.dose_amounts,
        dose_durations=first_dose.dose_durations,
        dose_compartments=first_dose.dose_compartments,
        times=np.zeros(0),
        values=np.zeros(0),
        covariates={},
    )
    women = forecast_twin(fit, empty, covariates={"SEX": "F"}, proposals=4000, draws=500, seed=0)
    men = forecast_twin(fit, empty, covariates={"SEX": "M"}, proposals=4000, draws=500, seed=0)
    assert np.median(women.params["CL"]) < 0.8 * np.median(men.params["CL"])
    with pytest.raises(JumeauError, match="SEX"):
        forecast_twin(fit, empty, proposals=1000, draws=100)


def test_bad_categorical_requests_are_refused() -> None:
    study = _two_groups()
    for spec, message in [
        ({"AGE": ["CL"]}, "no covariate 'AGE'"),
        ({"SEX": ["ka"]}, "no parameter ka"),
        ({"SEX": []}, "no parameter"),
    ]:
        with pytest.raises(JumeauError, match=message):
            fit_population(
                study, "pk1_iv", method="svi", steps=1, samples=1, categorical=spec, progress=False
            )


def test_later_chains_start_around_the_pooled_estimates() -> None:
    import torch

    from jumeau.twins.calibrate import _jittered

    start = {
        "typical_std": torch.zeros(3, dtype=torch.float64),
        "omega_std": torch.full((3,), 0.3, dtype=torch.float64),
        "z": torch.zeros(5, 3, dtype=torch.float64),
        "sigma_prop": torch.tensor(0.1, dtype=torch.float64),
    }
    assert _jittered(start, 7, 0) is start
    moved = _jittered(start, 7, 1)
    assert set(moved) == set(start) and torch.equal(moved["z"], start["z"])
    assert 0 < float((moved["typical_std"] - start["typical_std"]).abs().max()) < 1.5
    assert bool((moved["omega_std"] > 0).all()) and float(moved["sigma_prop"]) > 0
    assert torch.equal(_jittered(start, 7, 1)["typical_std"], moved["typical_std"])  # seeded


def test_parallel_chains_draw_what_sequential_chains_draw() -> None:
    study = _two_groups()
    # the draws need not have converged to be compared: a few iterations suffice
    common = dict(chains=2, warmup=10, samples=5, seed=3, error="proportional", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JumeauWarning)
        alone = fit_population(study, "pk1_iv", **common)
        together = fit_population(study, "pk1_iv", parallel=True, **common)
    assert together.draws["z"].shape == alone.draws["z"].shape == (2, 5, len(study), 2)
    np.testing.assert_allclose(together.draws["log_typical"], alone.draws["log_typical"], rtol=1e-6)
