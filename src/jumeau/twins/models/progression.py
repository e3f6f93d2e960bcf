"""Disease progression: a clinical score (a cognitive scale, a lung function, a motor score) that
drifts over time, and the two ways a treatment can act on it (Holford & Peace; Chan & Holford,
Annu Rev Pharmacol Toxicol 2001):

- symptomatic: an offset Esym that sets in with rate keq once treatment starts — it helps while
  given but leaves the course of the disease unchanged;
- disease-modifying: the fraction θdm by which treatment slows the progression clock, so that the
  benefit grows with time.

`dp_linear`: S(t) = S0 + α·t_eff + Esym·(1 − e^(−keq·(t − t_on))), t_eff = t − θdm·(t − t_on)⁺.
`dp_logistic`: S(t) = Smax·σ(logit(p0) + r·t_eff) + the same symptomatic term — for bounded
scores that saturate. Treatment starts at each patient's first dose (t_on) and is taken to
continue; an untreated patient follows the natural course. Rates are per hour, as every time
in jumeau; signed quantities (α, r, Esym) have priors scaled to the study's median score.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from jumeau.twins.models.base import MechanisticModel, PaddedDoses, Parameter

HOURS_PER_YEAR = 8766.0

_S0 = Parameter(
    "S0",
    "score",
    1.0,
    "score at time 0",
    spread=1.0,
    transform="identity",
    relative=True,
    variability=0.5,
)
_ALPHA = Parameter(
    "alpha",
    "score/h",
    0.0,
    "natural progression rate",
    spread=1 / HOURS_PER_YEAR,
    transform="identity",
    relative=True,
    variability=1 / HOURS_PER_YEAR,
)
_ESYM = Parameter(
    "Esym",
    "score",
    0.0,
    "symptomatic offset under treatment (signed)",
    spread=0.5,
    transform="identity",
    relative=True,
    variability=0.5,
)
# visits months apart cannot date an onset of days or weeks, and a slow symptomatic onset
# mimics disease modification over a trial's span: the onset rate keeps a tight prior (half-life
# about 2 weeks, ×/÷ 1.6 at one sd) unless the user declares a looser one for early visits
_KEQ = Parameter(
    "keq", "1/h", math.log(2) / (14 * 24), "onset rate of the symptomatic effect", spread=0.5
)
_THETA = Parameter(
    "theta_dm",
    "fraction",
    0.2,
    "fraction by which treatment slows progression",
    transform="logit",
)
_SMAX = Parameter("Smax", "score", 2.0, "upper bound of the score", relative=True)
_P0 = Parameter("p0", "fraction", 0.5, "score at time 0 as a fraction of Smax", transform="logit")
_RATE = Parameter(
    "r",
    "1/h",
    0.0,
    "logistic progression rate (signed)",
    spread=2 / HOURS_PER_YEAR,
    transform="identity",
    variability=2 / HOURS_PER_YEAR,
)


def treatment_clock(doses: PaddedDoses, times: Tensor) -> Tensor:
    """(t − t_on)⁺ per patient and time (patients, times); 0 for untreated patients."""
    start = torch.where(doses.valid, doses.times, torch.full_like(doses.times, torch.inf))
    start = start.amin(dim=-1, keepdim=True)
    on = (times - start).clamp(min=0.0)
    return torch.where(torch.isfinite(on), on, torch.zeros_like(on))


def _symptomatic(params: dict[str, Tensor], on: Tensor) -> Tensor:
    return params["Esym"][..., None] * (1 - torch.exp(-params["keq"][..., None] * on))


def _effective_time(params: dict[str, Tensor], times: Tensor, on: Tensor) -> Tensor:
    return times - params["theta_dm"][..., None] * on


class LinearProgression(MechanisticModel):
    name: ClassVar[str] = "dp_linear"
    description: ClassVar[str] = "linear disease progression, symptomatic + disease-modifying"
    parameters: ClassVar[tuple[Parameter, ...]] = (_S0, _ALPHA, _ESYM, _KEQ, _THETA)
    needs_dose: ClassVar[bool] = False
    observed: ClassVar[str] = "score"

    def predict(self, params: dict[str, Tensor], doses: PaddedDoses, times: Tensor) -> Tensor:
        self.check_params(params)
        on = treatment_clock(doses, times)
        course = params["S0"][..., None] + params["alpha"][..., None] * _effective_time(
            params, times, on
        )
        return course + _symptomatic(params, on)


class LogisticProgression(MechanisticModel):
    name: ClassVar[str] = "dp_logistic"
    description: ClassVar[str] = "logistic disease progression, symptomatic + disease-modifying"
    parameters: ClassVar[tuple[Parameter, ...]] = (_SMAX, _P0, _RATE, _ESYM, _KEQ, _THETA)
    needs_dose: ClassVar[bool] = False
    observed: ClassVar[str] = "score"

    def predict(self, params: dict[str, Tensor], doses: PaddedDoses, times: Tensor) -> Tensor:
        self.check_params(params)
        on = treatment_clock(doses, times)
        p0 = params["p0"][..., None]
        logit = torch.log(p0) - torch.log1p(-p0)
        course = params["Smax"][..., None] * torch.sigmoid(
            logit + params["r"][..., None] * _effective_time(params, times, on)
        )
        return course + _symptomatic(params, on)
