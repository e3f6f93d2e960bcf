"""Tumour growth inhibition (TGI): tumour size over time under treatment.

- `tgi_claret` (Claret et al., J Clin Oncol 2009): exponential growth KL, drug-driven kill KD
  proportional to the exposure, and resistance that fades the kill as exp(−λ·t) from the start
  of treatment: dy/dt = KL·y − KD·E(t)·exp(−λ(t − t_on))·y.
- `tgi_gompertz`: the same kill and resistance on Gompertz growth, which slows as the tumour
  nears its carrying capacity Ymax: dy/dt = β·y·ln(Ymax/y) − KD·E(t)·exp(−λ(t − t_on))·y —
  for xenografts and late-stage tumours whose growth saturates.
- `tgi_stein` (Stein et al., Clin Cancer Res 2011): the bi-exponential y0·(e^(−d·t) + e^(g·t) − 1)
  — regression d of the sensitive part, regrowth g of the resistant part; t from the start of
  the study (treatment start), doses not used.

The exposure E(t) is a kinetic-pharmacodynamic link: each dose enters a virtual compartment that
empties with a fixed half-life (`exposure_half_life`, 24 h: tumour sizes change over days and
weeks, so the shape of exposure within a day is not identifiable from them), normalised so that
a dose's exposure integrates to its amount; KD is then the log-kill per unit of dose. Both ODEs
are linear in log y, so their solutions are closed forms — sums over doses of exponentials —
exact and vectorised like the PK models. t_on is each patient's first dose; an untreated
patient grows freely.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from jumeau.twins.models.base import MechanisticModel, PaddedDoses, Parameter

# growth and decay rates: a prior sd of 1 on the log still spans doubling times from under a
# day to months, without the absurd rates that would overflow over a few weeks of follow-up
_Y0 = Parameter("y0", "size", 1.0, "tumour size at time 0", relative=True)
_KL = Parameter("KL", "1/h", 0.005, "exponential growth rate", spread=1.0)
_KD = Parameter("KD", "1/dose", 0.1, "log-kill per unit of dose", spread=3.0)
_LAMBDA = Parameter("lambda", "1/h", 0.002, "rate at which resistance fades the kill", spread=1.0)
_BETA = Parameter("beta", "1/h", 0.005, "Gompertz growth rate", spread=1.0)
_YMAX = Parameter("Ymax", "size", 10.0, "carrying capacity", relative=True)
_D = Parameter("d", "1/h", 0.002, "regression rate of the sensitive cells", spread=1.0)
_G = Parameter("g", "1/h", 0.002, "growth rate of the resistant cells", spread=1.0)


def cumulative_kill(
    params: dict[str, Tensor], doses: PaddedDoses, times: Tensor, beta: Tensor, half_life: float
) -> Tensor:
    """∫₀ᵗ e^(−β(t−s)) E(s) e^(−λ(s−t_on)) ds (..., patients, times): the log-kill a tumour has
    accumulated, each dose's share discounted by growth saturation β (0 for exponential growth)
    and by resistance λ."""
    k = math.log(2) / half_life
    lam = params["lambda"][..., :, None, None]
    b = beta[..., :, None, None]
    valid = doses.valid
    start = torch.where(valid, doses.times, torch.full_like(doses.times, torch.inf)).amin(dim=-1)
    start = torch.where(torch.isfinite(start), start, torch.zeros_like(start))
    tau = times[..., :, :, None] - doses.times[..., :, None, :]  # (…, P, T, D)
    after = (tau >= 0) & valid[..., :, None, :]
    tau = tau.clamp(min=0.0)
    resistance = torch.exp(-lam * (doses.times - start[..., None])[..., :, None, :])
    r = k + lam - b
    close = r.abs() < 1e-9
    safe = torch.where(close, torch.ones_like(r), r)
    shape = torch.where(close, tau, (1 - torch.exp(-safe * tau)) / safe)
    per_dose = doses.amounts[..., :, None, :] * k * resistance * torch.exp(-b * tau) * shape
    return torch.where(after, per_dose, torch.zeros_like(per_dose)).sum(dim=-1)


class TumourModel(MechanisticModel):
    """Common ground of the TGI models: sizes observed, doses optional."""

    needs_dose: ClassVar[bool] = False
    observed: ClassVar[str] = "tumour size"
    exposure_half_life: ClassVar[float] = 24.0


class ClaretExponential(TumourModel):
    name: ClassVar[str] = "tgi_claret"
    description: ClassVar[str] = "exponential growth, drug kill with resistance (Claret 2009)"
    parameters: ClassVar[tuple[Parameter, ...]] = (_Y0, _KL, _KD, _LAMBDA)

    def predict(self, params: dict[str, Tensor], doses: PaddedDoses, times: Tensor) -> Tensor:
        self.check_params(params)
        kill = cumulative_kill(
            params, doses, times, torch.zeros_like(params["KL"]), self.exposure_half_life
        )
        growth = params["KL"][..., None] * times
        return params["y0"][..., None] * torch.exp(growth - params["KD"][..., None] * kill)


class ClaretGompertz(TumourModel):
    name: ClassVar[str] = "tgi_gompertz"
    description: ClassVar[str] = "Gompertz growth, drug kill with resistance (Claret-type)"
    parameters: ClassVar[tuple[Parameter, ...]] = (_Y0, _BETA, _YMAX, _KD, _LAMBDA)

    def predict(self, params: dict[str, Tensor], doses: PaddedDoses, times: Tensor) -> Tensor:
        self.check_params(params)
        beta = params["beta"]
        kill = cumulative_kill(params, doses, times, beta, self.exposure_half_life)
        log_max = torch.log(params["Ymax"])[..., None]
        free = log_max + (torch.log(params["y0"])[..., None] - log_max) * torch.exp(
            -beta[..., None] * times
        )
        return torch.exp(free - params["KD"][..., None] * kill)


class Stein(TumourModel):
    name: ClassVar[str] = "tgi_stein"
    description: ClassVar[str] = "bi-exponential regression and regrowth (Stein 2011)"
    parameters: ClassVar[tuple[Parameter, ...]] = (_Y0, _D, _G)

    def predict(self, params: dict[str, Tensor], doses: PaddedDoses, times: Tensor) -> Tensor:
        self.check_params(params)
        d, g = params["d"][..., None], params["g"][..., None]
        return params["y0"][..., None] * (torch.exp(-d * times) + torch.exp(g * times) - 1)
