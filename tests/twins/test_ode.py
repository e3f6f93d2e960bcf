"""The RK4 engine against closed forms and a reference solver."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from jumeau.errors import JumeauError
from jumeau.twins.models import PaddedDoses, Parameter, make_model
from jumeau.twins.models.custom import build_model
from jumeau.twins.regimen import Regimen

PK = [
    Parameter("ka", "1/h", 1.0, "absorption"),
    Parameter("CL", "L/h", 5.0, "clearance"),
    Parameter("V", "L", 50.0, "volume"),
]


def _gut_and_central(t: float, y: torch.Tensor, p: dict, drive: object) -> torch.Tensor:
    ka, k = p["ka"][..., None], (p["CL"] / p["V"])[..., None]
    return torch.cat([-ka * y[..., :1], ka * y[..., :1] - k * y[..., 1:]], dim=-1)


ODE_PK = build_model(
    "ode_pk1",
    PK,
    rhs=_gut_and_central,
    initial=lambda p: torch.zeros(*p["CL"].shape, 2, dtype=p["CL"].dtype),
    states=("gut", "central"),
    observe=lambda y, p: y[..., 1] / p["V"],
    dose_state=1,
    depot_state=0,
    absorption=True,
)()
PARAMS = {
    "ka": torch.tensor([1.3, 0.7], dtype=torch.float64),
    "CL": torch.tensor([2.7, 4.0], dtype=torch.float64),
    "V": torch.tensor([31.0, 20.0], dtype=torch.float64),
}


@pytest.mark.parametrize(
    "regimen", ["320 mg q12h x6", "100 mg iv q8h x3", "500 mg iv over 2h q12h x4"]
)
def test_rk4_matches_the_closed_form_for_every_route(regimen: str) -> None:
    events = Regimen.parse(regimen).events()
    doses = PaddedDoses.stack([events, events])
    times = torch.as_tensor(np.sort(np.random.default_rng(0).uniform(0, 80, (2, 25)), axis=1))
    numeric = ODE_PK.predict(PARAMS, doses, times)
    exact = make_model("pk1_oral").predict(PARAMS, doses, times)
    assert torch.allclose(numeric, exact, rtol=1e-3, atol=1e-6 * float(exact.max()))


def test_indirect_response_matches_a_reference_solver_across_dose_jumps() -> None:
    model = make_model("idr1_kpd")
    p = {
        name: torch.tensor([value], dtype=torch.float64)
        for name, value in {"R0": 100.0, "kout": 0.05, "Imax": 0.8, "IC50": 2.0, "KDE": 0.1}.items()
    }
    events = Regimen.parse("50 mg iv q24h x5").events()
    times = torch.linspace(0, 150, 16, dtype=torch.float64)[None]
    ours = model.predict(p, PaddedDoses.stack([events]), times)[0].numpy()

    def rhs(t: float, y: np.ndarray) -> list[float]:
        amount = sum(50 * np.exp(-0.1 * (t - s)) for s in events.times if t >= s)
        inhibition = 0.8 * 0.1 * amount / (2 + 0.1 * amount)
        return [0.05 * 100 * (1 - inhibition) - 0.05 * y[0]]

    reference = solve_ivp(
        rhs, (0, 150), [100.0], t_eval=times[0].numpy(), rtol=1e-10, atol=1e-10, max_step=0.5
    ).y[0]
    assert np.abs(ours - reference).max() < 1e-4
    assert ours.min() < 80  # the drug did inhibit production


def test_oral_doses_need_a_depot_state() -> None:
    no_depot = build_model(
        "iv_only",
        PK[1:],
        rhs=lambda t, y, p, d: -(p["CL"] / p["V"])[..., None] * y,
        initial=lambda p: torch.zeros(*p["CL"].shape, 1, dtype=p["CL"].dtype),
        states=("central",),
        dose_state=0,
    )()
    doses = PaddedDoses.stack([Regimen.parse("100 mg").events()])
    params = {k: v[:1] for k, v in PARAMS.items() if k != "ka"}
    with pytest.raises(JumeauError, match="no depot state"):
        no_depot.predict(params, doses, torch.tensor([[1.0]], dtype=torch.float64))


def test_draws_broadcast_over_patients() -> None:
    events = Regimen.parse("100 mg iv q12h x2").events()
    doses = PaddedDoses.stack([events])
    draws = {k: v[:1].expand(7, 1).clone() for k, v in PARAMS.items()}
    out = ODE_PK.predict(draws, doses, torch.tensor([[1.0, 5.0, 30.0]], dtype=torch.float64))
    assert out.shape == (7, 1, 3)
    assert torch.allclose(out, out[:1].expand_as(out))
