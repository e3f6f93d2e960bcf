"""Digital twins: mechanistic models (pharmacokinetics first) calibrated on patients' data.

`events` reads the NONMEM-style long format, `regimen` dosing shorthand, `models` the closed-form
PK models; `calibrate` fits a population (NUTS or SVI, Pyro — imported only when used), `twin`
simulates one patient under any regimen, `persistence` writes fit files.
"""

from __future__ import annotations

from jumeau.twins.events import PKData, Subject
from jumeau.twins.models import MODELS, make_model
from jumeau.twins.regimen import DoseEvents, Regimen, Route

__all__ = ["MODELS", "DoseEvents", "PKData", "Regimen", "Route", "Subject", "make_model"]
