"""Pharmacodynamic models: a direct Emax response and the four indirect-response models
(Dayneka, Garg & Jusko 1993), driven by the doses through a kinetic-pharmacodynamic (K-PD) link.

Why K-PD: the response is what clinics measure (a blood pressure, a coagulation time, a count);
drug concentrations often are not. The K-PD approach (Jacqmin et al., J Pharmacokinet
Pharmacodyn 2007) replaces the unobserved PK by a virtual compartment that receives the doses
and empties at rate KDE; its output rate IR = KDE · A(t) (a "dose rate equivalent", in dose
units per hour) drives the effect, and EDK50 is the IR giving half the maximal effect. With a
single first-order link the compartment is the disposition function of `pk.superpose` with one
exponential — bolus, infusion and oral doses (taken as entering the virtual compartment) alike.

- `emax_kpd`: E = E0 + Emax · IR / (EDK50 + IR) — closed form.
- `idr1_kpd` … `idr4_kpd`: dR/dt = kin·(1 − I) − kout·R (1, inhibited production),
  kin − kout·(1 − I)·R (2, inhibited loss), kin·(1 + S) − kout·R (3, stimulated production),
  kin − kout·(1 + S)·R (4, stimulated loss); I = Imax·IR/(IC50 + IR), S = Smax·IR/(SC50 + IR);
  R(0) = R0 = kin/kout. No closed form: integrated by `ode.integrate`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from jumeau.twins.models.base import MechanisticModel, PaddedDoses, Parameter
from jumeau.twins.models.ode import OdeModel
from jumeau.twins.models.pk import superpose

_KDE = Parameter("KDE", "1/h", 0.1, "elimination rate of the virtual (K-PD) compartment")
_EDK50 = Parameter(
    "EDK50", "dose/h", 1.0, "dose rate equivalent giving half the maximal effect", spread=3.0
)
_E0 = Parameter("E0", "response", 1.0, "baseline response", relative=True)
_EMAX = Parameter(
    "Emax",
    "response",
    0.0,
    "maximal change from baseline (signed)",
    spread=1.0,
    transform="identity",
    relative=True,
)
_R0 = Parameter("R0", "response", 1.0, "baseline response (kin/kout)", relative=True)
_KOUT = Parameter("kout", "1/h", 0.1, "first-order loss rate of the response")
_IMAX = Parameter("Imax", "fraction", 0.5, "maximal inhibition", transform="logit")
_SMAX = Parameter("Smax", "fraction", 1.0, "maximal stimulation")


def dose_rate_equivalent(params: dict[str, Tensor], doses: PaddedDoses, times: Tensor) -> Tensor:
    """IR = KDE · A(t): the virtual compartment's output (..., patients, times)."""
    kde = params["KDE"]
    return kde[..., None] * superpose(torch.ones_like(kde)[..., None], kde[..., None], doses, times)


def _dose_rate_by_recursion(kde: Tensor, doses: PaddedDoses, times: np.ndarray) -> Tensor:
    """IR at sorted `times` shared by all patients, without infusions: the virtual compartment
    decays exactly by e^(−KDE·Δt) from one time to the next and gains the doses in between.
    Why not `superpose`: the ODE engine asks for the input at ~1,000 stage times, and the
    (patients × times × doses) array superposition builds is gigabytes for 10,000 patients;
    this recursion is exact and needs one (patients,) vector per time."""
    dose_times = doses.times.numpy()
    valid = doses.valid.numpy()
    # dose d joins at the first time ≥ its own, decayed by the gap to that time
    slot = np.searchsorted(times, dose_times, side="left")
    inside = valid & (slot < len(times))
    gap = np.where(inside, times[np.minimum(slot, len(times) - 1)] - dose_times, 0.0)
    added = torch.zeros(*kde.shape, len(times), dtype=kde.dtype)
    amounts = doses.amounts * torch.as_tensor(inside)
    contributions = amounts * torch.exp(-kde[..., None] * torch.as_tensor(gap))  # (…, P, D)
    index = torch.as_tensor(np.where(inside, slot, 0)).expand_as(contributions)
    added = added.scatter_add(-1, index, contributions)
    steps = torch.as_tensor(np.diff(times, prepend=times[0]))
    decay = torch.exp(-kde[..., None] * steps)  # (…, P, T)
    amount = torch.zeros_like(kde)
    levels = []
    for m in range(len(times)):
        amount = amount * decay[..., m] + added[..., m]
        levels.append(amount)
    return kde[..., None] * torch.stack(levels, dim=-1)


class DirectEmax(MechanisticModel):
    name: ClassVar[str] = "emax_kpd"
    description: ClassVar[str] = "direct Emax response, K-PD link (no concentrations needed)"
    parameters: ClassVar[tuple[Parameter, ...]] = (_E0, _EMAX, _EDK50, _KDE)
    needs_dose: ClassVar[bool] = False
    observed: ClassVar[str] = "response"

    def predict(self, params: dict[str, Tensor], doses: PaddedDoses, times: Tensor) -> Tensor:
        self.check_params(params)
        rate = dose_rate_equivalent(params, doses, times)
        effect = params["Emax"][..., None] * rate / (params["EDK50"][..., None] + rate)
        return params["E0"][..., None] + effect


class IndirectResponse(OdeModel):
    """Base of the four indirect-response models; `kind` picks the mechanism."""

    kind: ClassVar[int]
    states: ClassVar[tuple[str, ...]] = ("response",)
    needs_dose: ClassVar[bool] = False
    observed: ClassVar[str] = "response"

    def initial(self, params: dict[str, Tensor]) -> Tensor:
        return params["R0"][..., None]

    def drive(self, params: dict[str, Tensor], doses: PaddedDoses, times: Tensor) -> Tensor:
        shared = bool((times == times[:1]).all()) and not bool((doses.durations > 0).any())
        rate = (
            _dose_rate_by_recursion(params["KDE"], doses, times[0].numpy())
            if shared
            else dose_rate_equivalent(params, doses, times)
        )
        if self.kind in (1, 2):
            return params["Imax"][..., None] * rate / (params["IC50"][..., None] + rate)
        return params["Smax"][..., None] * rate / (params["SC50"][..., None] + rate)

    def rhs(
        self, t: float, state: Tensor, params: dict[str, Tensor], drive: Tensor | None
    ) -> Tensor:
        assert drive is not None
        kout = params["kout"][..., None]
        kin = kout * params["R0"][..., None]
        effect = drive[..., None]
        if self.kind == 1:
            return kin * (1 - effect) - kout * state
        if self.kind == 2:
            return kin - kout * (1 - effect) * state
        if self.kind == 3:
            return kin * (1 + effect) - kout * state
        return kin - kout * (1 + effect) * state


def _indirect(kind: int, mechanism: str) -> type[IndirectResponse]:
    inhibits = kind in (1, 2)
    potency = Parameter(
        "IC50" if inhibits else "SC50",
        "dose/h",
        1.0,
        "dose rate equivalent giving half the maximal "
        + ("inhibition" if inhibits else "stimulation"),
        spread=3.0,
    )
    return type(
        f"IndirectResponse{kind}",
        (IndirectResponse,),
        {
            "name": f"idr{kind}_kpd",
            "description": f"indirect response, {mechanism}, K-PD link",
            "kind": kind,
            "parameters": (_R0, _KOUT, _IMAX if inhibits else _SMAX, potency, _KDE),
            "__module__": __name__,
        },
    )


# bound to module names so that pickle finds them (parallel chains send the model to workers)
IndirectResponse1 = _indirect(1, "inhibited production")
IndirectResponse2 = _indirect(2, "inhibited loss")
IndirectResponse3 = _indirect(3, "stimulated production")
IndirectResponse4 = _indirect(4, "stimulated loss")
INDIRECT_RESPONSES = (IndirectResponse1, IndirectResponse2, IndirectResponse3, IndirectResponse4)
