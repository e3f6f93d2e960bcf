"""Linear pharmacokinetic models in closed form: one and two compartments, IV bolus, infusion and
first-order oral absorption, any dosing history.

Linear compartment models respond to a dose as a sum of exponentials (the disposition function:
coefficients c_i, rates λ_i); any dosing history is the superposition of its doses. Bolus, infusion
and oral inputs are the disposition function convolved with an impulse, a rectangle and
ka·exp(−ka·t) — all closed forms — so one routine serves every model and route, exact and
vectorised over patients, doses and posterior draws. (An ODE solver would add error and cost for
nothing here; non-linear models such as indirect responses will integrate numerically.)

Oral models estimate apparent parameters (CL/F, V/F), as is usual when no IV reference exists.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from jumeau.twins.models.base import MechanisticModel, PaddedDoses, Parameter

_CL = Parameter("CL", "L/h", 5.0, "clearance (apparent, CL/F, for oral models)")
_V = Parameter("V", "L", 50.0, "volume of distribution (apparent, V/F, for oral models)")
_KA = Parameter("ka", "1/h", 1.0, "first-order absorption rate constant")
_V1 = Parameter("V1", "L", 30.0, "central volume")
_Q = Parameter("Q", "L/h", 5.0, "inter-compartmental clearance")
_V2 = Parameter("V2", "L", 50.0, "peripheral volume")


def superpose(
    coefficients: Tensor,
    rates: Tensor,
    doses: PaddedDoses,
    times: Tensor,
    ka: Tensor | None = None,
) -> Tensor:
    """Concentrations (..., patients, times) from a disposition function c_i·exp(−λ_i·t) given as
    `coefficients` and `rates` of shape (..., patients, exponentials)."""
    tau = times[..., :, :, None] - doses.times[..., :, None, :]  # (…, P, T, D)
    after = (tau >= 0) & doses.valid[..., :, None, :]
    tau = tau.clamp(min=0.0)[..., None]  # (…, P, T, D, 1)
    c = coefficients[..., :, None, None, :]  # (…, P, 1, 1, E)
    lam = rates[..., :, None, None, :]
    duration = doses.durations[..., :, None, :, None]
    infused = duration > 0
    safe_duration = torch.where(infused, duration, torch.ones_like(duration))
    # bolus: c·e^(−λτ); infusion of the same amount over d hours: the rectangle convolution
    bolus = c * torch.exp(-lam * tau)
    inside = torch.minimum(tau, safe_duration)
    infusion = (
        c
        / (lam * safe_duration)
        * (1 - torch.exp(-lam * inside))
        * torch.exp(-lam * (tau - inside))
    )
    response = torch.where(infused, infusion, bolus)
    if ka is not None:
        k_a = ka[..., :, None, None, None]
        difference = k_a - lam
        close = difference.abs() < 1e-6 * lam
        safe_difference = torch.where(close, torch.ones_like(difference), difference)
        absorbed = c * k_a / safe_difference * (torch.exp(-lam * tau) - torch.exp(-k_a * tau))
        limit = c * k_a * tau * torch.exp(-lam * tau)  # ka → λ
        oral_response = torch.where(close, limit, absorbed)
        oral = doses.oral[..., :, None, :, None]
        response = torch.where(oral, oral_response, response)
    per_dose = response.sum(dim=-1) * doses.amounts[..., :, None, :]
    return torch.where(after, per_dose, torch.zeros_like(per_dose)).sum(dim=-1)


def one_compartment(cl: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    return (1.0 / v)[..., None], (cl / v)[..., None]


def two_compartment(cl: Tensor, v1: Tensor, q: Tensor, v2: Tensor) -> tuple[Tensor, Tensor]:
    """Macro-constants α > β of the two-compartment model and their coefficients."""
    k10, k12, k21 = cl / v1, q / v1, q / v2
    total = k10 + k12 + k21
    root = torch.sqrt((total**2 - 4 * k10 * k21).clamp(min=0.0))
    alpha, beta = (total + root) / 2, (total - root) / 2
    spread = (alpha - beta).clamp(min=1e-12)
    c_alpha = (alpha - k21) / (v1 * spread)
    c_beta = (k21 - beta) / (v1 * spread)
    return torch.stack([c_alpha, c_beta], dim=-1), torch.stack([alpha, beta], dim=-1)


class OneCompartmentIV(MechanisticModel):
    name: ClassVar[str] = "pk1_iv"
    description: ClassVar[str] = "one compartment, IV bolus or infusion"
    parameters: ClassVar[tuple[Parameter, ...]] = (_CL, _V)
    accepts_oral: ClassVar[bool] = False

    def predict(self, params: dict[str, Tensor], doses: PaddedDoses, times: Tensor) -> Tensor:
        self.check_params(params)
        c, rates = one_compartment(params["CL"], params["V"])
        return superpose(c, rates, doses, times)


class OneCompartmentOral(MechanisticModel):
    name: ClassVar[str] = "pk1_oral"
    description: ClassVar[str] = "one compartment, first-order oral absorption (IV doses allowed)"
    parameters: ClassVar[tuple[Parameter, ...]] = (_KA, _CL, _V)
    absorption: ClassVar[bool] = True

    def predict(self, params: dict[str, Tensor], doses: PaddedDoses, times: Tensor) -> Tensor:
        self.check_params(params)
        c, rates = one_compartment(params["CL"], params["V"])
        return superpose(c, rates, doses, times, ka=params["ka"])


class TwoCompartmentIV(MechanisticModel):
    name: ClassVar[str] = "pk2_iv"
    description: ClassVar[str] = "two compartments, IV bolus or infusion"
    parameters: ClassVar[tuple[Parameter, ...]] = (_CL, _V1, _Q, _V2)
    accepts_oral: ClassVar[bool] = False

    def predict(self, params: dict[str, Tensor], doses: PaddedDoses, times: Tensor) -> Tensor:
        self.check_params(params)
        c, rates = two_compartment(params["CL"], params["V1"], params["Q"], params["V2"])
        return superpose(c, rates, doses, times)


class TwoCompartmentOral(MechanisticModel):
    name: ClassVar[str] = "pk2_oral"
    description: ClassVar[str] = "two compartments, first-order oral absorption (IV doses allowed)"
    parameters: ClassVar[tuple[Parameter, ...]] = (_KA, _CL, _V1, _Q, _V2)
    absorption: ClassVar[bool] = True

    def predict(self, params: dict[str, Tensor], doses: PaddedDoses, times: Tensor) -> Tensor:
        self.check_params(params)
        c, rates = two_compartment(params["CL"], params["V1"], params["Q"], params["V2"])
        return superpose(c, rates, doses, times, ka=params["ka"])
