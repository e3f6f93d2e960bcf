"""Longitudinal patients: artificial courses of visits, dropout and terminal events.

The data layer (`jumeau.data.longitudinal`) checks and holds long-format cohorts; this package
generates them (`LongitudinalVAE`, and the simple `RandomWalkBaseline` it is measured against)
and evaluates them against real ones.
"""

from jumeau.data.longitudinal import LongitudinalCohort, load_longitudinal
from jumeau.longitudinal.persistence import load_longitudinal_model
from jumeau.longitudinal.vae.config import LongitudinalVAEConfig
from jumeau.longitudinal.vae.model import LongitudinalVAE

__all__ = [
    "LongitudinalCohort",
    "LongitudinalVAE",
    "LongitudinalVAEConfig",
    "load_longitudinal",
    "load_longitudinal_model",
]
