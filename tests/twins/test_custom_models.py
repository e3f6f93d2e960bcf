"""Declaring one's own model, parameter transforms, simulated studies, and fitting the new
model families (user models, tumour growth on the bundled xenograft study)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from jumeau.errors import JumeauError, JumeauWarning
from jumeau.twins import PKData
from jumeau.twins.calibrate import fit_population
from jumeau.twins.datasets import load_study
from jumeau.twins.models import MODELS, Parameter, declare_model, make_model
from jumeau.twins.persistence import load_fit
from jumeau.twins.regimen import Regimen
from jumeau.twins.simulate import simulate_study

SATURATING = [
    Parameter("top", "cm", 1.0, "plateau", relative=True),
    Parameter("rate", "1/h", 0.05, "rate of approach to the plateau", spread=1.0),
]


def _saturating(p: dict, doses: object, t: torch.Tensor) -> torch.Tensor:
    top, rate = p["top"][..., None], p["rate"][..., None]
    return top * (1 - torch.exp(-rate * t))


@pytest.fixture
def saturating_model():
    model = declare_model(
        "test_saturating", SATURATING, closed_form=_saturating, needs_dose=False, replace=True
    )
    yield model
    MODELS.pop("test_saturating", None)


def test_a_declared_model_is_registered_and_fitted_like_a_built_in_one(
    saturating_model, tmp_path
) -> None:
    truth = {"top": 4.0, "rate": 0.08}
    frame, individual = simulate_study(
        saturating_model,
        truth,
        {"top": 0.2, "rate": 0.2},
        subjects=20,
        times=np.linspace(2, 60, 8),
        sigma_prop=0.05,
        seed=3,
    )
    study = PKData.from_frame(frame, needs_dose=False)
    fit = fit_population(
        study,
        "test_saturating",
        method="svi",
        steps=1500,
        samples=200,
        seed=0,
        error="proportional",
        progress=False,
    )
    for name, value in truth.items():
        assert np.median(fit.typical[name]) == pytest.approx(value, rel=0.15), name
    estimated = np.median(fit.individual_all()["top"].reshape(-1, 20), axis=0)
    assert np.corrcoef(estimated, individual["top"])[0, 1] > 0.9
    path = fit.save(tmp_path / "saturating.jumeau")
    MODELS.pop("test_saturating")
    with pytest.raises(JumeauError, match="declared again"):
        load_fit(path)
    declare_model("test_saturating", SATURATING, closed_form=_saturating, needs_dose=False)
    assert load_fit(path).model.name == "test_saturating"


def test_declarations_are_checked(saturating_model) -> None:
    with pytest.raises(JumeauError, match="exists already"):
        declare_model("pk1_oral", SATURATING, closed_form=_saturating, replace=True)
    with pytest.raises(JumeauError, match="replace=True"):
        declare_model("test_saturating", SATURATING, closed_form=_saturating)
    with pytest.raises(JumeauError, match="identifier"):
        declare_model("my model", SATURATING, closed_form=_saturating)
    with pytest.raises(JumeauError, match="repeat"):
        declare_model("twice", [SATURATING[0], SATURATING[0]], closed_form=_saturating)
    with pytest.raises(JumeauError, match="either closed_form or rhs"):
        declare_model("neither", SATURATING)
    with pytest.raises(JumeauError, match="initial"):
        declare_model("no_start", SATURATING, rhs=lambda t, y, p, d: y)
    with pytest.raises(JumeauError, match="list of Parameter"):
        declare_model("loose", [("top", 1.0)], closed_form=_saturating)  # type: ignore[list-item]
    assert "twice" not in MODELS and "neither" not in MODELS


def test_a_closed_form_of_the_wrong_shape_is_named() -> None:
    bad = declare_model("test_flat", SATURATING, closed_form=lambda p, d, t: p["top"], replace=True)
    try:
        frame, _ = simulate_study(
            make_model("tgi_stein"),
            {"y0": 1.0, "d": 0.01, "g": 0.01},
            {},
            subjects=2,
            times=np.array([0.0, 1.0]),
        )
        study = PKData.from_frame(frame, needs_dose=False)
        with pytest.raises(JumeauError, match="returned shape"):
            fit_population(study, bad, method="svi", steps=1, samples=1, progress=False)
    finally:
        MODELS.pop("test_flat", None)


def test_parameter_transforms_and_priors() -> None:
    fraction = Parameter("Imax", "fraction", 0.8, "inhibition", transform="logit")
    assert float(fraction.constrain(torch.tensor(fraction.unconstrain(0.8)))) == pytest.approx(0.8)
    slope = Parameter(
        "slope", "score/h", 0.0, "drift", transform="identity", relative=True, spread=0.5
    )
    assert slope.prior(30.0) == (0.0, 15.0, 30.0)
    size = Parameter("y0", "cm3", 2.0, "size", relative=True)
    assert size.prior(0.5)[0] == pytest.approx(0.0)  # log(2 × 0.5)
    for bad in (
        dict(typical=0.0),
        dict(typical=1.5, transform="logit"),
        dict(typical=1.0, transform="probit"),
        dict(typical=1.0, spread=0.0),
    ):
        with pytest.raises(JumeauError):
            Parameter("x", "", description="", **bad)  # type: ignore[arg-type]


def test_simulated_studies_carry_their_doses_and_truth() -> None:
    model = make_model("pk1_iv")
    frame, truth = simulate_study(
        model,
        {"CL": 3.0, "V": 30.0},
        {"CL": 0.3},
        subjects=5,
        times=np.array([1.0, 4.0, 12.0]),
        regimens=Regimen.parse("100 mg iv over 1h q12h x2"),
        seed=1,
    )
    study = PKData.from_frame(frame)
    assert len(study) == 5 and study.n_observations == 15
    assert np.allclose(study.subjects[0].dose_durations, 1.0)
    assert np.allclose(truth["V"], 30.0) and truth["CL"].std() > 0
    with pytest.raises(JumeauError, match="typical value for each"):
        simulate_study(model, {"CL": 3.0}, {}, subjects=2, times=np.array([1.0]))
    with pytest.raises(JumeauError, match="one regimen per subject"):
        simulate_study(
            model, {"CL": 3.0, "V": 30.0}, {}, subjects=2, times=np.array([1.0]), regimens=[None]
        )


@pytest.fixture(scope="module")
def xenograft_fit():
    study = load_study("erlotinib")
    fit = fit_population(
        study,
        "tgi_claret",
        method="svi",
        steps=800,
        samples=200,
        seed=0,
        error="proportional",
        progress=False,
    )
    return study, fit


def test_tumour_growth_inhibition_fits_the_xenograft_study(xenograft_fit) -> None:
    study, fit = xenograft_fit
    assert len(study) == 30 and set(study.covariate_table()["GROUP"]) == {
        "control",
        "low",
        "medium",
        "high",
    }
    treated = [s for s in study if s.dose_times.size > 0]
    assert len(treated) == 22
    errors = []
    for subject in treated[:6]:
        bands = fit.twin(subject.id).simulate(subject.doses(absorption=False), subject.times)
        errors.append(np.median(np.abs(np.log(bands.median / subject.values))))
    assert np.median(errors) < 0.3  # each twin follows its own mouse's tumour


def test_twins_answer_tumour_shrinkage_questions(xenograft_fit) -> None:
    study, fit = xenograft_fit
    twin = fit.twin(next(s.id for s in study if s.dose_times.size > 0))
    week = 168.0
    answer = twin.compare(
        {"high": "2 mg q24h x84", "low": "0.2 mg q24h x84"},
        metric="change",
        below=-0.3,
        at=12 * week,
    )
    assert list(answer["regimen"]) == ["high", "low"]
    high, low = answer["probability"]
    assert 0 <= low <= high <= 1 and answer["median"].iloc[0] < answer["median"].iloc[1]
    with pytest.raises(JumeauError, match="`at`"):
        twin.compare({"a": "2 mg q24h x3"}, metric="peak", at=10.0)


def test_the_cli_fits_and_simulates_a_tumour_model(tmp_path) -> None:
    from typer.testing import CliRunner

    from jumeau.cli import app
    from jumeau.twins.datasets import erlotinib_frame

    data = tmp_path / "erlotinib.csv"
    erlotinib_frame().to_csv(data, index=False)
    runner = CliRunner()
    fitted = runner.invoke(
        app,
        [
            "twin",
            "fit",
            str(data),
            "--model",
            "tgi_stein",
            "--method",
            "svi",
            "--steps",
            "200",
            "--error",
            "proportional",
            "-q",
            "-o",
            str(tmp_path / "fit.jumeau"),
        ],
    )
    assert fitted.exit_code == 0, fitted.output
    assert "g (typical)" in fitted.output
    simulated = runner.invoke(
        app,
        [
            "twin",
            "simulate",
            str(tmp_path / "fit.jumeau"),
            "--patient",
            "40",
            "--regimen",
            "1 mg q24h x20",
            "--metric",
            "change",
            "--at",
            "480",
            "--below",
            "0",
        ],
    )
    assert simulated.exit_code == 0, simulated.output
    assert "probability" in simulated.output


def test_a_declared_model_runs_its_chains_in_one_process_with_a_warning(saturating_model) -> None:
    frame, _ = simulate_study(
        saturating_model, {"top": 2.0, "rate": 0.1}, {}, subjects=3, times=np.array([1.0, 5.0])
    )
    study = PKData.from_frame(frame, needs_dose=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", JumeauWarning)  # 5 draws also fail R-hat: not the point
        fit = fit_population(
            study, saturating_model, chains=2, warmup=5, samples=5, parallel=True, progress=False
        )
    assert any("one after the other" in str(w.message) for w in caught)
    assert fit.draws["z"].shape[:2] == (2, 5)
