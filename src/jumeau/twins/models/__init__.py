"""Mechanistic models by name (the CLI and calibration say `pk1_oral`, `pk2_iv`...)."""

from __future__ import annotations

from jumeau.errors import JumeauError
from jumeau.twins.models.base import MechanisticModel, PaddedDoses, Parameter
from jumeau.twins.models.pk import (
    OneCompartmentIV,
    OneCompartmentOral,
    TwoCompartmentIV,
    TwoCompartmentOral,
)

MODELS: dict[str, type[MechanisticModel]] = {
    model.name: model
    for model in (OneCompartmentIV, OneCompartmentOral, TwoCompartmentIV, TwoCompartmentOral)
}


def make_model(name: str) -> MechanisticModel:
    """A model by registry name; a one-line error listing the names otherwise."""
    try:
        return MODELS[name]()
    except (KeyError, TypeError):
        raise JumeauError(
            f"unknown mechanistic model {name!r}; choose from {', '.join(sorted(MODELS))}"
        ) from None


__all__ = ["MODELS", "MechanisticModel", "PaddedDoses", "Parameter", "make_model"]
