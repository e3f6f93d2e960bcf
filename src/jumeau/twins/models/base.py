"""What every mechanistic model declares: its parameters (names, units, priors) and a vectorised
prediction, so that calibration, twins and virtual populations treat all models alike.

Predictions are torch functions of the parameters so that Pyro can differentiate through them;
parameters arrive with any leading batch shape (posterior draws, chains) and one value per patient
last: shape (..., patients); the prediction has shape (..., patients, times).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from jumeau.errors import JumeauError
from jumeau.twins.regimen import DoseEvents

TRANSFORMS = ("log", "logit", "identity")


@dataclass(frozen=True)
class Parameter:
    """A model parameter and its weakly informative prior.

    Between-patient variability is normal on the `transform`ed scale: log (positive quantities —
    clearances, rates, sizes: log-normal variability), logit (fractions in (0, 1): a maximal
    inhibition, a disease-modifying fraction) or identity (signed quantities: a slope, a change
    from baseline). The population's typical value has a normal prior on that scale centred on
    the transformed `typical`, with sd `spread`; ω (the between-patient sd) a half-normal prior of
    scale `variability`. `relative=True` states `typical` (and, on the identity scale, `spread`
    and `variability`) in units of the study's median observation, for quantities on the scale
    of the data (a baseline tumour size, a score), so that one default serves cm³ and mm³ alike.
    """

    name: str
    unit: str
    typical: float
    description: str
    spread: float = 2.0
    transform: str = "log"
    variability: float = 1.0
    relative: bool = False

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise JumeauError(
                f"parameter {self.name}: unknown transform {self.transform!r}; "
                f"choose from {', '.join(TRANSFORMS)}"
            )
        if not (np.isfinite(self.typical) and self.spread > 0 and self.variability > 0):
            raise JumeauError(
                f"parameter {self.name}: the typical value must be finite and spread and "
                "variability positive"
            )
        if self.transform == "log" and not self.typical > 0:
            raise JumeauError(f"parameter {self.name}: a log parameter needs a positive typical")
        if self.transform == "logit" and not 0 < self.typical < 1:
            raise JumeauError(f"parameter {self.name}: a logit parameter's typical is in (0, 1)")

    def prior(self, data_scale: float) -> tuple[float, float, float]:
        """Prior location and sd of the typical value, and the scale of ω, on the transformed
        scale, for a study whose median observation is `data_scale`."""
        typical = self.unconstrain(self.typical * data_scale if self.relative else self.typical)
        if self.transform != "identity":
            return typical, self.spread, self.variability
        factor = data_scale if self.relative else 1.0
        return typical, self.spread * factor, self.variability * factor

    def unconstrain(self, value: float) -> float:
        """From the parameter's own scale to the transformed one."""
        if self.transform == "log":
            return math.log(value)
        if self.transform == "logit":
            return math.log(value / (1 - value))
        return float(value)

    def constrain(self, value: Tensor) -> Tensor:
        """From the transformed (unconstrained) scale to the parameter's own."""
        if self.transform == "log":
            return torch.exp(value)
        if self.transform == "logit":
            return torch.sigmoid(value)
        return value


@dataclass(frozen=True)
class PaddedDoses:
    """Every patient's doses in (patients, doses) tensors; `valid` marks real (not padding)."""

    times: Tensor
    amounts: Tensor
    durations: Tensor
    oral: Tensor
    valid: Tensor

    @classmethod
    def stack(cls, events: list[DoseEvents], dtype: torch.dtype = torch.float64) -> PaddedDoses:
        if not events:
            raise JumeauError("no patients to dose")
        width = max(1, max(len(e) for e in events))

        def padded(get: str, fill: float) -> np.ndarray:
            out = np.full((len(events), width), fill, dtype=np.float64)
            for i, e in enumerate(events):
                out[i, : len(e)] = getattr(e, get)
            return out

        valid = np.zeros((len(events), width), dtype=bool)
        for i, e in enumerate(events):
            valid[i, : len(e)] = True
        return cls(
            times=torch.as_tensor(padded("times", 0.0), dtype=dtype),
            amounts=torch.as_tensor(padded("amounts", 0.0), dtype=dtype),
            durations=torch.as_tensor(padded("durations", 0.0), dtype=dtype),
            oral=torch.as_tensor(padded("oral", 0.0) > 0),
            valid=torch.as_tensor(valid),
        )


class MechanisticModel(ABC):
    """A model of one observed quantity (a concentration, a tumour size) over time."""

    name: ClassVar[str]
    description: ClassVar[str]
    parameters: ClassVar[tuple[Parameter, ...]]
    absorption: ClassVar[bool] = False  # doses into a gut compartment are absorbed first-order
    needs_dose: ClassVar[bool] = True  # False: observations may come before (or without) doses
    accepts_oral: ClassVar[bool] = True  # False: IV-only PK models, which have no gut
    observed: ClassVar[str] = "concentration"

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @abstractmethod
    def predict(self, params: dict[str, Tensor], doses: PaddedDoses, times: Tensor) -> Tensor:
        """The observed quantity at `times` (patients, times) for each patient's doses."""

    def check_params(self, params: dict[str, Tensor]) -> None:
        absent = [n for n in self.parameter_names if n not in params]
        if absent:
            raise JumeauError(f"{self.name}: missing parameter(s) {', '.join(absent)}")
