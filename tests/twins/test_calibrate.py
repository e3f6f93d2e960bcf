"""Population calibration and twins on a simulated study with known parameters (small and short
chains, to keep the suite fast; the recovery benchmark runs the full designs)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from jumeau.data.cohort import Cohort
from jumeau.data.schema import Schema
from jumeau.errors import JumeauError, JumeauWarning
from jumeau.generators.copula import GaussianCopula
from jumeau.generators.persistence import ModelFileError
from jumeau.twins import PKData, make_model, plots
from jumeau.twins.calibrate import (
    PopulationFit,
    StudyTensors,
    _individual_parameters,
    _warn_if_unconverged,
    fit_population,
)
from jumeau.twins.forecast import forecast_twin
from jumeau.twins.models import PaddedDoses
from jumeau.twins.persistence import load_fit
from jumeau.twins.population import virtual_population
from jumeau.twins.regimen import Regimen
from jumeau.twins.simulate import simulate_studies

TRUTH = {"ka": 1.5, "CL": 3.0, "V": 30.0}
OMEGA = {"ka": 0.3, "CL": 0.3, "V": 0.2}
TIMES = [0.25, 0.5, 1.0, 2.0, 4.0, 6.0, 9.0, 12.0, 24.0]


def simulated_study(subjects: int, seed: int) -> tuple[PKData, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    individual = {
        name: TRUTH[name] * np.exp(OMEGA[name] * rng.standard_normal(subjects)) for name in TRUTH
    }
    model = make_model("pk1_oral")
    doses = PaddedDoses.stack([Regimen(320.0).events() for _ in range(subjects)])
    times = torch.tensor([TIMES] * subjects, dtype=torch.float64)
    params = {k: torch.as_tensor(v) for k, v in individual.items()}
    curves = model.predict(params, doses, times).numpy()
    observed = curves * (1 + 0.1 * rng.standard_normal(curves.shape)) + 0.05 * rng.standard_normal(
        curves.shape
    )
    rows = []
    for i in range(subjects):
        rows.append({"ID": i + 1, "TIME": 0.0, "DV": np.nan, "AMT": 320.0, "EVID": 1})
        for t, y in zip(TIMES, observed[i], strict=True):
            rows.append({"ID": i + 1, "TIME": t, "DV": y, "AMT": 0.0, "EVID": 0})
    return PKData.from_frame(pd.DataFrame(rows)), individual


@pytest.fixture(scope="module")
def fitted() -> tuple[PopulationFit, dict[str, np.ndarray]]:
    study, individual = simulated_study(10, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JumeauWarning)  # short chains may not pass R-hat
        # parallel chains draw exactly what sequential ones draw (test_categorical.py) in half
        # the wall time on two cores
        fit = fit_population(
            study, "pk1_oral", chains=2, warmup=120, samples=100, seed=0, progress=False,
            parallel=True,
        )  # fmt: skip
    return fit, individual


def test_typical_values_are_recovered(fitted) -> None:
    fit, _ = fitted
    typical = {name: float(np.median(values)) for name, values in fit.typical.items()}
    assert typical["CL"] == pytest.approx(TRUTH["CL"], rel=0.25)
    assert typical["V"] == pytest.approx(TRUTH["V"], rel=0.25)
    assert typical["ka"] == pytest.approx(TRUTH["ka"], rel=0.5)
    assert fit.typical["CL"].shape == (2, 100)


def test_individual_clearances_follow_the_true_ones(fitted) -> None:
    fit, individual = fitted
    estimated = np.median(fit.individual_all()["CL"].reshape(-1, 10), axis=0)
    assert np.corrcoef(np.log(estimated), np.log(individual["CL"]))[0, 1] > 0.8
    assert fit.individual(3)["CL"].shape == (2, 100)


def test_diagnostics_and_summary_are_reported(fitted) -> None:
    fit, _ = fitted
    assert set(fit.diagnostics) == {"rhat_max", "ess_min", "divergences", "chains", "method"}
    assert fit.diagnostics["chains"] == 2 and fit.diagnostics["rhat_max"]["log_typical"] > 0.9
    names = [row["parameter"] for row in fit.summary()]
    assert names[:3] == ["ka (typical)", "CL (typical)", "V (typical)"]
    assert "sigma_prop" in names and "sigma_add" in names
    for row in fit.summary():
        assert row["q05"] <= row["median"] <= row["q95"]


def test_twin_bands_hold_the_patients_own_observations(fitted) -> None:
    fit, _ = fitted
    twin = fit.twin(1)
    subject = fit.data.subject(1)
    simulation = twin.simulate("320 mg", subject.times, level=0.99)
    assert simulation.draws.shape == (200, len(subject.times))
    inside = (subject.values >= simulation.lower * 0.8 - 0.2) & (
        subject.values <= simulation.upper * 1.2 + 0.2
    )
    assert inside.mean() >= 0.75
    frame = twin.simulate(Regimen(320.0, interval=12.0, doses=3)).frame()
    assert list(frame.columns) == ["time", "median", "lower", "upper"]
    assert (frame["lower"] <= frame["median"]).all() and (frame["median"] <= frame["upper"]).all()


def test_compare_answers_what_if_questions(fitted) -> None:
    fit, _ = fitted
    twin = fit.twin(2)
    table = twin.compare(
        {"low": "160 mg q12h x6", "high": "640 mg q12h x6"}, metric="trough", above=2.0
    )
    low, high = table.set_index("regimen").loc["low"], table.set_index("regimen").loc["high"]
    assert high["median"] == pytest.approx(4 * low["median"], rel=1e-6)  # linear kinetics
    assert high["probability"] >= low["probability"]
    peaks = twin.compare({"a": "320 mg"}, metric="peak", below=1e6)
    assert peaks["probability"].iloc[0] == 1.0
    with pytest.raises(JumeauError, match="unknown metric"):
        twin.compare({"a": "320 mg"}, metric="mean")
    with pytest.raises(JumeauError, match="has no absorption"):
        fit_iv = fit.twin(1)
        object.__setattr__(fit_iv, "model", make_model("pk1_iv"))
        fit_iv.simulate("320 mg")


def test_bad_settings_are_refused() -> None:
    study, _ = simulated_study(3, seed=1)
    with pytest.raises(JumeauError, match="unknown error model"):
        fit_population(study, "pk1_oral", error="exponential")
    with pytest.raises(JumeauError, match="chains must be"):
        fit_population(study, "pk1_oral", chains=0)
    with pytest.raises(JumeauError, match="no covariate 'WT'"):
        fit_population(study, "pk1_oral", weight="WT")
    with pytest.raises(JumeauError, match="unknown mechanistic model"):
        fit_population(study, "pk9")
    with pytest.raises(JumeauError, match="unknown method 'laplace'"):
        fit_population(study, "pk1_oral", method="laplace")
    with pytest.raises(JumeauError, match="steps must be"):
        fit_population(study, "pk1_oral", method="svi", steps=0)


def test_variational_fit_recovers_typical_values_quickly() -> None:
    study, individual = simulated_study(10, seed=0)
    fit = fit_population(study, "pk1_oral", method="svi", steps=1500, samples=200, seed=0)
    typical = {name: float(np.median(values)) for name, values in fit.typical.items()}
    assert typical["CL"] == pytest.approx(TRUTH["CL"], rel=0.25)
    assert typical["V"] == pytest.approx(TRUTH["V"], rel=0.25)
    assert fit.diagnostics["method"] == "svi" and np.isfinite(fit.diagnostics["final_elbo_loss"])
    assert fit.draws["z"].shape == (1, 200, 10, 3) and fit.draws["sigma_prop"].shape == (1, 200)
    estimated = np.median(fit.individual_all()["CL"].reshape(-1, 10), axis=0)
    assert np.corrcoef(np.log(estimated), np.log(individual["CL"]))[0, 1] > 0.8
    assert fit.twin(4).simulate("320 mg", [1.0, 6.0]).draws.shape == (200, 2)


def test_unconverged_fits_warn(fitted) -> None:
    fit, _ = fitted
    fit.diagnostics = {**fit.diagnostics, "rhat_max": {"omega": 1.3}, "divergences": 4}
    with pytest.warns(JumeauWarning, match=r"R-hat 1.300 > 1.05; 4 divergent"):
        _warn_if_unconverged(fit)


def test_weight_scales_clearance_and_volume_allometrically() -> None:
    """CL ∝ (WT / median)^0.75, V ∝ WT / median: a patient twice the median weight has 2^0.75
    times the typical clearance and twice the volume, ka unchanged beyond its CL/V shift."""
    study, _ = simulated_study(3, seed=2)
    frame = pd.DataFrame(
        [
            {"ID": s.id, "TIME": t, "DV": v, "AMT": 0.0, "EVID": 0, "WT": w}
            for s, w in zip(study, (35.0, 70.0, 140.0), strict=True)
            for t, v in zip(s.times, s.values, strict=True)
        ]
        + [
            {"ID": s.id, "TIME": 0.0, "DV": np.nan, "AMT": 320.0, "EVID": 1, "WT": w}
            for s, w in zip(study, (35.0, 70.0, 140.0), strict=True)
        ]
    ).sort_values(["ID", "TIME", "EVID"], ascending=[True, True, False], kind="stable")
    weighted = PKData.from_frame(frame)
    model = make_model("pk1_oral")
    tensors = StudyTensors.build(weighted, model, "WT")
    np.testing.assert_allclose(tensors.weight_ratio.numpy(), [0.5, 1.0, 2.0])
    sites = {
        "log_typical": torch.log(torch.tensor([1.0, 3.0, 30.0], dtype=torch.float64)),
        "omega": torch.zeros(3, dtype=torch.float64),
        "z": torch.zeros(3, 3, dtype=torch.float64),
    }
    params = _individual_parameters(model, sites, tensors.weight_ratio)
    np.testing.assert_allclose(params["CL"].numpy(), 3.0 * np.array([0.5, 1.0, 2.0]) ** 0.75)
    np.testing.assert_allclose(params["V"].numpy(), 30.0 * np.array([0.5, 1.0, 2.0]))
    np.testing.assert_allclose(params["ka"].numpy(), 1.0 + (params["CL"] / params["V"]).numpy())
    per_kg = _individual_parameters(model, sites, tensors.weight_ratio, clearance_exponent=1.0)
    np.testing.assert_allclose(per_kg["CL"].numpy(), 3.0 * np.array([0.5, 1.0, 2.0]))
    with pytest.raises(JumeauError, match="clearance_exponent"):
        fit_population(weighted, "pk1_oral", weight="WT", clearance_exponent=-1.0)
    with pytest.raises(JumeauError, match="positive 'WT'"):
        StudyTensors.build(PKData.from_frame(frame.assign(WT=0.0)), model, "WT")


# ------------------------------------------------------------------ fit files
def test_a_fit_file_round_trips_without_patient_records(fitted, tmp_path) -> None:
    fit, _ = fitted
    path = fit.save(tmp_path / "fits" / "theo.jumeau")
    loaded = load_fit(path)
    assert loaded.data is None and loaded.subject_ids == fit.subject_ids
    assert loaded.study_sha256 == fit.study_sha256 and loaded.seed == fit.seed
    for name in fit.model.parameter_names:
        np.testing.assert_array_equal(loaded.typical[name], fit.typical[name])
        np.testing.assert_array_equal(loaded.individual_all()[name], fit.individual_all()[name])
    again = loaded.twin(2).simulate("320 mg q12h x2", [1.0, 13.0]).draws
    np.testing.assert_array_equal(again, fit.twin(2).simulate("320 mg q12h x2", [1.0, 13.0]).draws)
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as reader:
        header = reader.metadata()["jumeau"]
        names = set(reader.keys())
    assert names == {f"draws.{k}" for k in fit.draws}  # draws only: no concentration, no dose
    for subject in fit.data:
        for value in subject.values[:3]:
            assert f"{value:.6g}" not in header


def test_bad_fit_files_are_refused_clearly(fitted, tmp_path, gbsg2) -> None:
    fit, _ = fitted
    path = fit.save(tmp_path / "fit.jumeau")
    with pytest.raises(ModelFileError, match="no such fit file"):
        load_fit(tmp_path / "absent.jumeau")
    truncated = tmp_path / "truncated.jumeau"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelFileError, match=r"corrupted or truncated|not a jumeau"):
        load_fit(truncated)
    generator_file = GaussianCopula().fit(gbsg2, seed=0, progress=False).save(tmp_path / "g.jumeau")
    with pytest.raises(ModelFileError, match="not a jumeau-twin-fit file"):
        load_fit(generator_file)
    flipped = bytearray(path.read_bytes())
    flipped[-20] ^= 0xFF  # inside the draws
    damaged = tmp_path / "damaged.jumeau"
    damaged.write_bytes(bytes(flipped))
    with pytest.raises(ModelFileError, match=r"checksum|damaged"):
        load_fit(damaged)
    with pytest.raises(JumeauError, match="no subject 99"):
        load_fit(path).twin(99)


# ------------------------------------------------------------------ studies simulated, figures
def test_simulated_studies_look_like_the_real_one(fitted) -> None:
    fit, _ = fitted
    simulated = simulate_studies(fit, fit.data, replicates=100, seed=0)
    assert simulated.values.shape == (100, 10, len(TIMES))
    observed = np.array([s.values for s in fit.data])
    low, high = np.quantile(simulated.values, [0.05, 0.95], axis=0)
    share = ((observed >= low) & (observed <= high)).mean()
    assert 0.75 <= share <= 1.0  # a 90 % prediction interval, give or take a small study
    again = simulate_studies(fit, fit.data, replicates=100, seed=0)
    np.testing.assert_array_equal(simulated.values, again.values)
    other, _ = simulated_study(4, seed=5)
    with pytest.raises(JumeauError, match="does not match the fit"):
        simulate_studies(fit, other)


def test_figures_are_png(fitted) -> None:
    fit, _ = fitted
    for figure in (
        plots.individual_fit(fit, fit.data, 1),
        plots.goodness_of_fit(fit, fit.data),
        plots.visual_predictive_check(fit, fit.data, replicates=50),
    ):
        assert figure[:8] == b"\x89PNG\r\n\x1a\n" and len(figure) > 5000


# ------------------------------------------------------------------ virtual populations
def test_virtual_patients_follow_the_fitted_population(fitted) -> None:
    fit, _ = fitted
    population = virtual_population(fit, 2000, seed=0)
    assert len(population) == 2000 and set(population.params) == {"ka", "CL", "V"}
    typical_cl = float(np.median(fit.typical["CL"]))
    assert np.median(population.params["CL"]) == pytest.approx(typical_cl, rel=0.15)
    omega_cl = float(np.median(fit.draws["omega"][..., 1]))
    assert np.std(np.log(population.params["CL"])) == pytest.approx(omega_cl, abs=0.12)
    curves = population.simulate("320 mg q12h x2", np.array([1.0, 12.0, 13.0]))
    assert curves.shape == (2000, 3) and (curves > 0).all()
    assert (
        virtual_population(fit, 50, seed=3).params["CL"].tolist()
        == virtual_population(fit, 50, seed=3).params["CL"].tolist()
    )


def test_covariates_come_from_a_generator_or_a_valid_table(fitted) -> None:
    fit, _ = fitted
    weighted = dataclasses.replace(
        fit, weight="WT", reference_weight=70.0, weight_ratio=np.ones(len(fit.subject_ids))
    )
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"WT": rng.uniform(45, 110, 300), "AGE": rng.uniform(20, 80, 300)})
    schema = Schema.infer(table)
    columns = dict(schema.columns)
    columns["WT"] = columns["WT"].model_copy(update={"min": 50.0})
    schema = schema.model_copy(update={"columns": columns})
    cohort = Cohort(table.assign(WT=np.where(table["WT"] < 50, 50.0, table["WT"])), schema)
    generator = GaussianCopula().fit(cohort, seed=0, progress=False)
    from_generator = virtual_population(weighted, 400, covariates=generator, seed=1)
    assert (from_generator.covariates["WT"] >= 50.0).all()
    heavy = from_generator.covariates["WT"].to_numpy() > 90
    light = from_generator.covariates["WT"].to_numpy() < 60
    assert np.median(from_generator.params["V"][heavy]) > np.median(
        from_generator.params["V"][light]
    )
    unchecked = Cohort(table, Schema.infer(table))  # some rows below 50 kg
    strict = Cohort.from_typed(unchecked.data, schema, source="table")
    from_table = virtual_population(weighted, 300, covariates=strict, seed=2)
    assert (from_table.covariates["WT"] >= 50.0).all()  # rows breaking the bound never drawn
    assert list(from_table.frame().columns) == ["WT", "AGE", "ka", "CL", "V"]
    with pytest.raises(JumeauError, match="give covariates with that column"):
        virtual_population(weighted, 10)
    with pytest.raises(JumeauError, match="n must be"):
        virtual_population(fit, 0)


# ------------------------------------------------------------------ forecasting a new patient
def test_a_new_patients_twin_learns_from_their_first_measurements(fitted) -> None:
    fit, _ = fitted
    newcomers, truth = simulated_study(20, seed=11)
    far = int(np.argmax(np.abs(np.log(truth["CL"] / TRUTH["CL"]))))  # the most atypical one
    patient = newcomers.subjects[far]
    prior = forecast_twin(
        fit, dataclasses.replace(patient, times=patient.times[:0], values=patient.values[:0])
    )
    informed = forecast_twin(fit, patient, seed=1)
    prior_error = abs(np.log(np.median(prior.params["CL"]) / truth["CL"][far]))
    informed_error = abs(np.log(np.median(informed.params["CL"]) / truth["CL"][far]))
    assert informed_error < prior_error
    assert np.std(np.log(informed.params["CL"])) < np.std(np.log(prior.params["CL"]))
    assert informed.effective_draws is not None and 50 <= informed.effective_draws <= 20_000
    assert prior.effective_draws == pytest.approx(20_000)
    assert informed.simulate("320 mg q12h x4").draws.shape[0] == 1000
    absurd = dataclasses.replace(patient, values=patient.values * 1000)
    with pytest.warns(JumeauWarning, match="effective draws"):
        forecast_twin(fit, absurd)
    weighted = dataclasses.replace(fit, weight="WT", reference_weight=70.0)
    with pytest.raises(JumeauError, match="give the patient's weight"):
        forecast_twin(weighted, patient)
