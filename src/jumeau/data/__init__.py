"""Cohort data layer: schemas, loading, validation and clinical rules."""

from jumeau.data.cohort import Cohort, ValidationReport, Violation, load_cohort
from jumeau.data.rules import Expression, parse_rule
from jumeau.data.schema import Column, ColumnKind, Role, Rule, Schema

__all__ = [
    "Cohort",
    "Column",
    "ColumnKind",
    "Expression",
    "Role",
    "Rule",
    "Schema",
    "ValidationReport",
    "Violation",
    "load_cohort",
    "parse_rule",
]
