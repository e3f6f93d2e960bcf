"""Digital twins: mechanistic models (pharmacokinetics first) calibrated on patients' data.

This increment holds the event data layer (`events`: the NONMEM-style long format), dosing
regimens (`regimen`) and the closed-form PK models (`models`). Bayesian calibration comes next.
"""

from __future__ import annotations

from jumeau.twins.events import PKData, Subject
from jumeau.twins.models import MODELS, make_model
from jumeau.twins.regimen import DoseEvents, Regimen, Route

__all__ = ["MODELS", "DoseEvents", "PKData", "Regimen", "Route", "Subject", "make_model"]
