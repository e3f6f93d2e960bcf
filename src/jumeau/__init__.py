"""jumeau — artificial patients and digital twins for clinical research."""

from jumeau.data import Cohort, Column, ColumnKind, Role, Rule, Schema, load_cohort
from jumeau.errors import DataError, JumeauError, JumeauWarning, SchemaError

__version__ = "0.1.0"


def load(path: str) -> "jumeau.generators.Generator":  # type: ignore[name-defined]  # noqa: F821
    """Load a fitted generator from a model file written by `generator.save(path)`."""
    from jumeau.generators.persistence import load_generator

    return load_generator(path)


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
    "load",
    "load_cohort",
]
