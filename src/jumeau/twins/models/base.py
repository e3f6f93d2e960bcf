"""What every mechanistic model declares: its parameters (names, units, priors) and a vectorised
prediction, so that calibration, twins and virtual populations treat all models alike.

Predictions are torch functions of the parameters so that Pyro can differentiate through them;
parameters arrive with any leading batch shape (posterior draws, chains) and one value per patient
last: shape (..., patients); the prediction has shape (..., patients, times).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from jumeau.errors import JumeauError
from jumeau.twins.regimen import DoseEvents


@dataclass(frozen=True)
class Parameter:
    """A positive model parameter, modelled on the log scale (between-patient variability is
    log-normal). `typical` and `log_sd` set a weakly informative prior on the population's
    typical value: its median and the sd of its logarithm."""

    name: str
    unit: str
    typical: float
    description: str
    log_sd: float = 2.0

    def __post_init__(self) -> None:
        if not (self.typical > 0 and self.log_sd > 0):
            raise JumeauError(f"parameter {self.name}: typical value and log_sd must be positive")


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
