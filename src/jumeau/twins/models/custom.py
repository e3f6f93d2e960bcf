"""Users' own models in a few lines: parameters (with transforms and priors) and either a closed
form or a right-hand side, registered by name so that fits, twins, fit files and the CLI treat
them like the built-in ones.

    from jumeau.twins.models import Parameter, declare_model

    def sigmoid_growth(p, doses, t):  # p: name -> tensor (..., patients); t: (patients, times)
        top, rate, mid = (p[k][..., None] for k in ("top", "rate", "mid"))
        return top / (1 + torch.exp(-rate * (t - mid)))

    declare_model("sigmoid_growth", [Parameter("top", "cm", 1.0, "plateau", relative=True),
                                     Parameter("rate", "1/h", 0.01, "steepness"),
                                     Parameter("mid", "h", 100.0, "half-way time")],
                  closed_form=sigmoid_growth, needs_dose=False)

A model declared in one session must be declared again (same name and parameters) before a fit
file that uses it can be loaded: a fit file holds draws, never code.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from jumeau.errors import JumeauError
from jumeau.twins.models.base import MechanisticModel, PaddedDoses, Parameter
from jumeau.twins.models.ode import OdeModel

ClosedForm = Callable[[dict[str, Tensor], PaddedDoses, Tensor], Tensor]
RightHandSide = Callable[[float, Tensor, dict[str, Tensor], Tensor | None], Tensor]


def build_model(
    name: str,
    parameters: Sequence[Parameter],
    *,
    closed_form: ClosedForm | None = None,
    rhs: RightHandSide | None = None,
    initial: Callable[[dict[str, Tensor]], Tensor] | None = None,
    states: Sequence[str] = (),
    observe: Callable[[Tensor, dict[str, Tensor]], Tensor] | None = None,
    drive: ClosedForm | None = None,
    dose_state: int | None = None,
    depot_state: int | None = None,
    needs_dose: bool = True,
    absorption: bool = False,
    observed: str = "value",
    description: str = "a user-declared model",
) -> type[MechanisticModel]:
    """A model class from its parts (see the module docstring); `declare_model` also registers
    it. Closed form: `closed_form(params, doses, times) -> (..., patients, times)`. ODE:
    `rhs(t, state, params, drive) -> dstate/dt`, `initial(params) -> state at 0` (state shape
    (..., patients, len(states))), optional `observe(state, params)` (default: first state),
    `drive(params, doses, times)` (a closed-form input), `dose_state`/`depot_state` (which state
    IV and oral doses enter)."""
    _check_declaration(name, parameters, closed_form, rhs, initial, states)
    attributes: dict[str, Any] = {
        "name": name,
        "description": description,
        "parameters": tuple(parameters),
        "needs_dose": bool(needs_dose),
        "absorption": bool(absorption),
        "observed": observed,
        "__module__": __name__,
    }
    if closed_form is not None:

        def predict(
            self: MechanisticModel, params: dict[str, Tensor], doses: PaddedDoses, times: Tensor
        ) -> Tensor:
            self.check_params(params)
            return _checked(name, closed_form(params, doses, times), params, times)

        attributes["predict"] = predict
        return type(_class_name(name), (MechanisticModel,), attributes)
    assert rhs is not None and initial is not None
    for label, index in (("dose_state", dose_state), ("depot_state", depot_state)):
        if index is not None and not 0 <= index < len(states):
            raise JumeauError(f"model {name}: {label} {index} is not a state index")
    if absorption and depot_state is None:
        raise JumeauError(f"model {name}: an absorption model needs a depot_state")
    attributes.update(
        states=tuple(states),
        dose_state=dose_state,
        depot_state=depot_state,
        initial=lambda self, params: initial(params),
        rhs=lambda self, t, state, params, value: rhs(t, state, params, value),
    )
    if observe is not None:
        attributes["observe"] = lambda self, state, params: observe(state, params)
    if drive is not None:
        attributes["drive"] = lambda self, params, doses, times: drive(params, doses, times)
    return type(_class_name(name), (OdeModel,), attributes)


def _check_declaration(
    name: str,
    parameters: Sequence[Parameter],
    closed_form: object,
    rhs: object,
    initial: object,
    states: Sequence[str],
) -> None:
    if not (isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)):
        raise JumeauError(f"a model name is a short identifier such as 'my_pd', not {name!r}")
    if not parameters or not all(isinstance(p, Parameter) for p in parameters):
        raise JumeauError(f"model {name}: give its parameters as a list of Parameter(...)")
    names = [p.name for p in parameters]
    if len(set(names)) != len(names):
        raise JumeauError(f"model {name}: parameter names repeat ({', '.join(names)})")
    if (closed_form is None) == (rhs is None):
        raise JumeauError(f"model {name}: give either closed_form or rhs (with initial)")
    for label, function in (("closed_form", closed_form), ("rhs", rhs)):
        if function is not None and not callable(function):
            raise JumeauError(f"model {name}: {label} must be a function")
    if rhs is not None and (initial is None or not callable(initial) or not states):
        raise JumeauError(f"model {name}: an ODE model needs initial(params) and its state names")


def _checked(name: str, result: object, params: dict[str, Tensor], times: Tensor) -> Tensor:
    if not isinstance(result, Tensor):
        raise JumeauError(f"model {name}: the closed form must return a torch tensor")
    batch = next(iter(params.values())).shape
    expected = torch.broadcast_shapes((*batch, 1), times.shape)
    if result.shape != expected:
        raise JumeauError(
            f"model {name}: the closed form returned shape {tuple(result.shape)}, expected "
            f"{tuple(expected)} (parameters are (..., patients): use p[name][..., None] with t)"
        )
    return result


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) + "Model"
