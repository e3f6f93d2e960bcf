"""Mechanistic models by name (the CLI and calibration say `pk1_oral`, `tgi_claret`...), and
`declare_model` for users' own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jumeau.errors import JumeauError
from jumeau.twins.models.base import MechanisticModel, PaddedDoses, Parameter
from jumeau.twins.models.custom import build_model
from jumeau.twins.models.ode import OdeModel
from jumeau.twins.models.pk import (
    OneCompartmentIV,
    OneCompartmentOral,
    TwoCompartmentIV,
    TwoCompartmentOral,
)
from jumeau.twins.models.pkpd import INDIRECT_RESPONSES, DirectEmax
from jumeau.twins.models.progression import LinearProgression, LogisticProgression
from jumeau.twins.models.tumour import ClaretExponential, ClaretGompertz, Stein

BUILT_IN: tuple[type[MechanisticModel], ...] = (
    OneCompartmentIV,
    OneCompartmentOral,
    TwoCompartmentIV,
    TwoCompartmentOral,
    DirectEmax,
    *INDIRECT_RESPONSES,
    ClaretExponential,
    ClaretGompertz,
    Stein,
    LinearProgression,
    LogisticProgression,
)
MODELS: dict[str, type[MechanisticModel]] = {model.name: model for model in BUILT_IN}


def make_model(name: str) -> MechanisticModel:
    """A model by registry name; a one-line error listing the names otherwise."""
    try:
        return MODELS[name]()
    except (KeyError, TypeError):
        raise JumeauError(
            f"unknown mechanistic model {name!r}; choose from {', '.join(sorted(MODELS))} "
            "(a model declared with declare_model must be declared again in each session)"
        ) from None


def declare_model(
    name: str, parameters: Sequence[Parameter], *, replace: bool = False, **parts: Any
) -> MechanisticModel:
    """Declare and register a model of your own (see `jumeau.twins.models.custom` for the parts:
    `closed_form=` or `rhs=` with `initial=` and `states=`); returns an instance, usable in
    `fit_population` by object or by name. Re-declaring a name needs `replace=True`; built-in
    names cannot be replaced."""
    if name in MODELS and (not replace or MODELS[name] in BUILT_IN):
        raise JumeauError(
            f"a model named {name!r} exists already"
            + ("" if MODELS[name] in BUILT_IN else "; pass replace=True to redeclare it")
        )
    model = build_model(name, parameters, **parts)
    MODELS[name] = model
    return model()


__all__ = [
    "MODELS",
    "MechanisticModel",
    "OdeModel",
    "PaddedDoses",
    "Parameter",
    "declare_model",
    "make_model",
]
