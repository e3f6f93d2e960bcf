"""The closed-form PK models against numerical integration of their differential equations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from jumeau.errors import JumeauError
from jumeau.twins import DoseEvents, Regimen, make_model
from jumeau.twins.models import MODELS, PaddedDoses

TIMES = np.array([0.0, 0.1, 0.5, 1.0, 1.9, 2.0, 2.5, 6.0, 12.0, 12.01, 13.0, 24.0, 30.0, 47.9])


def _ode(params: dict[str, float], events: DoseEvents, times: np.ndarray, two: bool) -> np.ndarray:
    """Concentrations by integrating the compartments (gut, central, peripheral) between events."""
    ka = params.get("ka", 1.0)
    cl = params["CL"]
    v1 = params["V1"] if two else params["V"]
    q, v2 = (params["Q"], params["V2"]) if two else (0.0, 1.0)
    infusions = [
        (t, t + d, a / d)
        for t, a, d in zip(events.times, events.amounts, events.durations, strict=True)
        if d > 0
    ]

    def rhs(t: float, y: np.ndarray) -> list[float]:
        gut, central, peripheral = y
        rate_in = sum(r for start, stop, r in infusions if start <= t < stop)
        return [
            -ka * gut,
            ka * gut - cl / v1 * central - q / v1 * central + q / v2 * peripheral + rate_in,
            q / v1 * central - q / v2 * peripheral,
        ]

    breaks = sorted(
        {0.0, float(times.max()) + 1e-9}
        | {float(t) for t in events.times}
        | {float(t + d) for t, d in zip(events.times, events.durations, strict=True) if d > 0}
    )
    state = np.zeros(3)
    result = np.zeros(len(times))
    for start, stop in itertools.pairwise(breaks):
        for t, a, d, oral in zip(
            events.times, events.amounts, events.durations, events.oral, strict=True
        ):
            if t == start and d == 0:
                state[0 if oral else 1] += a
        inside = (times >= start) & (times < stop)
        if inside.any():
            solution = solve_ivp(
                rhs,
                (start, stop),
                state,
                t_eval=times[inside],
                rtol=1e-10,
                atol=1e-12,
                method="LSODA",
            )
            result[inside] = solution.y[1] / v1
        state = solve_ivp(rhs, (start, stop), state, rtol=1e-10, atol=1e-12, method="LSODA").y[
            :, -1
        ]
    return result


CASES = {
    "pk1_iv": ({"CL": 3.0, "V": 30.0}, False),
    "pk1_oral": ({"ka": 1.5, "CL": 2.7, "V": 31.5}, False),
    "pk2_iv": ({"CL": 4.0, "V1": 20.0, "Q": 6.0, "V2": 60.0}, True),
    "pk2_oral": ({"ka": 0.8, "CL": 4.0, "V1": 20.0, "Q": 6.0, "V2": 60.0}, True),
}
REGIMENS = {
    "bolus": Regimen(100.0, interval=12.0, doses=3, route="bolus"),
    "infusion": Regimen(100.0, interval=12.0, doses=3, route="infusion", duration=2.0),
    "oral": Regimen(100.0, interval=12.0, doses=3, route="oral"),
}


def _predict(
    name: str, params: dict[str, float], events: DoseEvents, times: np.ndarray
) -> np.ndarray:
    model = make_model(name)
    tensors = {k: torch.tensor([v], dtype=torch.float64) for k, v in params.items()}
    doses = PaddedDoses.stack([events])
    return model.predict(tensors, doses, torch.as_tensor(times[None])).numpy()[0]


PAIRS = [
    (name, route)
    for name in sorted(CASES)
    for route in sorted(REGIMENS)
    if route != "oral" or MODELS[name].absorption  # IV models have no gut compartment
]


@pytest.mark.parametrize(("name", "route"), PAIRS)
def test_closed_form_matches_the_differential_equations(name: str, route: str) -> None:
    params, two = CASES[name]
    events = REGIMENS[route].events()
    expected = _ode(params, events, TIMES, two)
    got = _predict(name, params, events, TIMES)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
    assert got[0] == pytest.approx(
        100.0 / (params.get("V", params.get("V1"))) if route == "bolus" else 0.0
    )


def test_mixed_routes_and_irregular_doses_superpose() -> None:
    """An oral model given an IV loading infusion then oral doses at irregular times."""
    params, _ = CASES["pk1_oral"]
    events = DoseEvents(
        times=np.array([0.0, 3.0, 10.5, 20.0]),
        amounts=np.array([200.0, 50.0, 80.0, 80.0]),
        durations=np.array([1.0, 0.0, 0.0, 0.0]),
        oral=np.array([False, True, True, True]),
    )
    np.testing.assert_allclose(
        _predict("pk1_oral", params, events, TIMES),
        _ode(params, events, TIMES, False),
        rtol=1e-6,
        atol=1e-8,
    )


def test_absorption_equal_to_elimination_uses_the_limit() -> None:
    """ka = CL/V makes the usual formula 0/0; the limit ka·t·e^(−kt)·A/V must be used."""
    params = {"ka": 0.1, "CL": 3.0, "V": 30.0}
    events = Regimen(100.0, route="oral").events()
    got = _predict("pk1_oral", params, events, TIMES)
    expected = 100.0 / 30.0 * 0.1 * TIMES * np.exp(-0.1 * TIMES)
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    nearby = _predict("pk1_oral", {**params, "ka": 0.1 * (1 + 1e-4)}, events, TIMES)
    np.testing.assert_allclose(nearby, expected, rtol=1e-3)


def test_predictions_vectorise_over_draws_and_patients_with_different_doses() -> None:
    model = make_model("pk1_oral")
    events = [Regimen(320.0).events(), Regimen(100.0, interval=8.0, doses=4).events()]
    doses = PaddedDoses.stack(events)
    times = torch.tensor([[0.5, 1.0, 24.0], [1.0, 9.0, 30.0]], dtype=torch.float64)
    draws = {
        "ka": torch.tensor([[1.5, 1.0], [2.0, 0.7]], dtype=torch.float64),
        "CL": torch.tensor([[2.7, 3.0], [2.5, 2.0]], dtype=torch.float64),
        "V": torch.tensor([[31.0, 40.0], [28.0, 35.0]], dtype=torch.float64),
    }
    batch = model.predict(draws, doses, times)
    assert batch.shape == (2, 2, 3)
    for s in range(2):
        for p in range(2):
            one = {k: float(v[s, p]) for k, v in draws.items()}
            alone = _predict("pk1_oral", one, events[p], times[p].numpy())
            np.testing.assert_allclose(batch[s, p].numpy(), alone, rtol=1e-12)


def test_gradients_flow_to_the_parameters() -> None:
    model = make_model("pk2_oral")
    params = {
        k: torch.tensor([v], dtype=torch.float64, requires_grad=True)
        for k, v in CASES["pk2_oral"][0].items()
    }
    doses = PaddedDoses.stack([Regimen(100.0, interval=12.0, doses=2).events()])
    model.predict(
        params, doses, torch.tensor([[1.0, 5.0, 14.0]], dtype=torch.float64)
    ).sum().backward()
    for name, value in params.items():
        assert (
            value.grad is not None
            and torch.isfinite(value.grad).all()
            and value.grad.abs().item() > 0
        ), name


def test_unknown_model_and_missing_parameter_are_clear_errors() -> None:
    with pytest.raises(JumeauError, match=r"unknown mechanistic model 'pk3'.*pk1_iv"):
        make_model("pk3")
    doses = PaddedDoses.stack([Regimen(100.0).events()])
    with pytest.raises(JumeauError, match=r"missing parameter.*ka"):
        make_model("pk1_oral").predict(
            {"CL": torch.ones(1), "V": torch.ones(1)}, doses, torch.ones(1, 2)
        )
