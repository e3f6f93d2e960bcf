"""jumeau — artificial patients and digital twins for clinical research."""

from jumeau.data import Cohort, Column, ColumnKind, Role, Rule, Schema, load_cohort
from jumeau.errors import DataError, JumeauError, JumeauWarning, SchemaError

__version__ = "0.1.0"

__all__ = [
    "Cohort",
    "Column",
    "ColumnKind",
    "DataError",
    "JumeauError",
    "JumeauWarning",
    "Role",
    "Rule",
    "Schema",
    "SchemaError",
    "__version__",
    "load_cohort",
]
