"""Tumour growth, pharmacodynamic and disease-progression models: closed forms against their
differential equations, and the behaviour each mechanism promises."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from jumeau.twins.models import MODELS, PaddedDoses, make_model
from jumeau.twins.models.tumour import TumourModel
from jumeau.twins.regimen import DoseEvents, Regimen

DAILY = Regimen.parse("2 mg q24h x10").events().shifted(72.0)  # days 3–12
NONE = DoseEvents(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, bool))
TIMES = np.linspace(0, 720, 31)


def _params(**values: float) -> dict[str, torch.Tensor]:
    return {k: torch.tensor([v], dtype=torch.float64) for k, v in values.items()}


def _predict(name: str, params: dict, events: DoseEvents, times: np.ndarray = TIMES) -> np.ndarray:
    doses = PaddedDoses.stack([events])
    return make_model(name).predict(params, doses, torch.as_tensor(times)[None])[0].numpy()


def _exposure(t: float, events: DoseEvents, half_life: float) -> float:
    k = math.log(2) / half_life
    return sum(
        a * k * math.exp(-k * (t - s))
        for s, a in zip(events.times, events.amounts, strict=True)
        if t >= s
    )


@pytest.mark.parametrize("name", ["tgi_claret", "tgi_gompertz"])
def test_tumour_closed_forms_solve_their_equations(name: str) -> None:
    values = dict(y0=0.2, KL=0.006, beta=0.006, Ymax=3.0, KD=0.3, **{"lambda": 0.003})
    model = make_model(name)
    params = _params(**{p: values[p] for p in model.parameter_names})
    start, half_life = float(DAILY.times[0]), TumourModel.exposure_half_life

    def rhs(t: float, y: np.ndarray) -> list[float]:
        kill = 0.3 * _exposure(t, DAILY, half_life) * math.exp(-0.003 * (t - start))
        growth = 0.006 if name == "tgi_claret" else 0.006 * math.log(3.0 / math.exp(y[0]))
        return [growth - kill]  # in log size

    reference = solve_ivp(
        rhs, (0, 720), [math.log(0.2)], t_eval=TIMES, rtol=1e-10, atol=1e-12, max_step=1.0
    )
    ours = _predict(name, params, DAILY)
    np.testing.assert_allclose(ours, np.exp(reference.y[0]), rtol=1e-5)


def test_treatment_shrinks_a_tumour_and_resistance_lets_it_regrow() -> None:
    params = _params(y0=0.2, KL=0.006, KD=0.5, **{"lambda": 0.01})
    untreated = _predict("tgi_claret", params, NONE)
    treated = _predict("tgi_claret", params, DAILY)
    np.testing.assert_allclose(untreated, 0.2 * np.exp(0.006 * TIMES))
    assert (treated <= untreated + 1e-12).all() and treated[-1] < 0.5 * untreated[-1]
    bottom = int(np.argmin(treated))
    assert 0 < bottom < len(TIMES) - 1 and treated[-1] > treated[bottom]  # regrowth


def test_stein_is_regression_plus_regrowth() -> None:
    params = _params(y0=1.0, d=0.01, g=0.002)
    sizes = _predict("tgi_stein", params, NONE)
    np.testing.assert_allclose(sizes, np.exp(-0.01 * TIMES) + np.exp(0.002 * TIMES) - 1)
    assert sizes[5] < 1.0 < sizes[-1]


def test_direct_emax_rises_with_the_dose_rate_and_returns_to_baseline() -> None:
    params = _params(E0=80.0, Emax=-30.0, EDK50=0.5, KDE=0.2)
    events = Regimen.parse("10 mg iv").events()
    times = np.array([0.0, 0.5, 5.0, 100.0])
    effect = _predict("emax_kpd", params, events, times)
    rate = 0.2 * 10 * np.exp(-0.2 * times)
    np.testing.assert_allclose(effect[:3], 80 - 30 * rate[:3] / (0.5 + rate[:3]))
    assert abs(effect[-1] - 80.0) < 1e-3


@pytest.mark.parametrize(("kind", "direction"), [(1, -1), (2, 1), (3, 1), (4, -1)])
def test_indirect_responses_move_the_way_their_mechanism_says(kind: int, direction: int) -> None:
    model = make_model(f"idr{kind}_kpd")
    names = model.parameter_names
    values = {
        "R0": 50.0,
        "kout": 0.05,
        "Imax": 0.7,
        "Smax": 2.0,
        "IC50": 1.0,
        "SC50": 1.0,
        "KDE": 0.1,
    }
    params = _params(**{n: values[n] for n in names})
    times = np.linspace(0, 200, 21)
    baseline = _predict(model.name, params, NONE, times)
    treated = _predict(model.name, params, Regimen.parse("20 mg iv q24h x3").events(), times)
    np.testing.assert_allclose(baseline, 50.0, rtol=1e-9)  # steady state without drug
    peak_change = (treated - 50.0)[np.argmax(np.abs(treated - 50.0))]
    assert np.sign(peak_change) == direction and abs(peak_change) > 5


def test_progression_models_separate_symptomatic_from_disease_modifying_effects() -> None:
    times = np.linspace(0, 2 * 8766, 25)
    start = Regimen.parse("10 mg q24h x1").events().shifted(8766.0)  # treated from year 1
    base = dict(S0=20.0, alpha=4 / 8766, Esym=0.0, keq=0.01, theta_dm=1e-9)
    natural = _predict("dp_linear", _params(**base), NONE, times)
    np.testing.assert_allclose(natural, 20 + 4 * times / 8766)
    symptomatic = _predict("dp_linear", _params(**{**base, "Esym": -3.0}), start, times)
    modifying = _predict("dp_linear", _params(**{**base, "theta_dm": 0.5}), start, times)
    # symptomatic: a constant offset once set in — the slope is unchanged
    late = times > 1.5 * 8766
    assert np.allclose(symptomatic[late] - natural[late], -3.0, atol=1e-6)
    # disease-modifying: the gap widens with time (half the progression after year 1)
    gap = natural - modifying
    assert gap[times <= 8766].max() < 1e-9 and abs(gap[-1] - 2.0) < 1e-6


def test_logistic_progression_stays_within_its_bounds() -> None:
    times = np.linspace(0, 20 * 8766, 41)
    params = _params(Smax=30.0, p0=0.2, r=1 / 8766, Esym=0.0, keq=0.01, theta_dm=0.3)
    course = _predict("dp_logistic", params, NONE, times)
    assert course[0] == pytest.approx(6.0) and (np.diff(course) > 0).all() and course[-1] < 30


def test_every_built_in_model_predicts_finite_values_at_its_default_prior() -> None:
    events = Regimen.parse("100 mg q24h x3").events()
    for name, cls in MODELS.items():
        model = cls()
        params = _params(**{p.name: p.typical for p in model.parameters})
        if not model.absorption:
            events_here = Regimen.parse("100 mg iv q24h x3").events()
        else:
            events_here = events
        out = _predict(name, params, events_here, np.linspace(0, 96, 9))
        assert np.isfinite(out).all(), name


def test_the_recursive_k_pd_input_equals_the_superposition() -> None:
    from jumeau.twins.models.pkpd import _dose_rate_by_recursion, dose_rate_equivalent

    doses = PaddedDoses.stack(
        [
            Regimen.parse("5 mg iv q12h x4").events(),
            Regimen.parse("3 mg iv q7h x2").events().shifted(3.3),
        ]
    )
    kde = torch.tensor([0.2, 0.05], dtype=torch.float64)
    times = np.sort(np.r_[np.linspace(0, 60, 50), 12.0, 24.0, 3.3])
    recursive = _dose_rate_by_recursion(kde, doses, times)
    direct = dose_rate_equivalent({"KDE": kde}, doses, torch.as_tensor(np.tile(times, (2, 1))))
    assert torch.allclose(recursive, direct, rtol=1e-10, atol=1e-12)
