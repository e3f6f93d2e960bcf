"""Generators by name, so that the CLI and benchmarks say `copula`, `vae`, `rhvae`.

Model modules are imported on demand: asking for the copula never imports torch.
"""

from __future__ import annotations

import difflib
from importlib import import_module
from typing import TYPE_CHECKING, Any

from jumeau.errors import JumeauError

if TYPE_CHECKING:
    from jumeau.generators.base import Generator

_REGISTRY: dict[str, tuple[str, str]] = {
    "copula": ("jumeau.generators.copula.model", "GaussianCopula"),
    "vae": ("jumeau.generators.vae.model", "VAE"),
    "rhvae": ("jumeau.generators.rhvae.model", "RHVAE"),
}

# the generators with a differentially private fit (`epsilon=`); the RHVAE's geometry sampler
# keeps patients' latent codes, which a DP release would have to replace
PRIVATE_FITS = ("copula", "vae")


def available_generators() -> list[str]:
    return list(_REGISTRY)


def generator_class(name: str) -> type[Generator]:
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise JumeauError(f"unknown model '{name}'; available: {', '.join(_REGISTRY)}{hint}")
    module, attribute = _REGISTRY[name]
    cls: type[Generator] = getattr(import_module(module), attribute)
    return cls


def make_generator(name: str, **params: Any) -> Generator:
    """A generator by registry name, with hyper-parameters."""
    cls = generator_class(name)
    private = {"epsilon", "delta"} & {k for k, v in params.items() if v is not None}
    if private and name not in PRIVATE_FITS:
        raise JumeauError(
            f"the {name} generator has no differentially private fit yet; use "
            f"{' or '.join(PRIVATE_FITS)} (--model) with "
            f"{' and '.join(sorted('--' + p for p in private))}"
        )
    return cls(**params)
