"""Longitudinal patients: artificial courses of visits, dropout and terminal events.

The data layer (`jumeau.data.longitudinal`) checks and holds long-format cohorts; this package
generates them (`LongitudinalVAE`, and the simple `VisitCopulaBaseline` it is measured against)
and evaluates them against real ones.
"""
