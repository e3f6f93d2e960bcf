"""jumeau — artificial patients and digital twins for clinical research.

The names below are imported when first used (PEP 562), not with the package: `import jumeau`
stays light, so that the command line's entry point (`jumeau.entry`) is in place before pandas,
torch and the rest load, and a Ctrl-C during those seconds ends in one line, not a traceback.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from jumeau.errors import DataError, JumeauError, JumeauWarning, SchemaError

if TYPE_CHECKING:
    from jumeau.data import Cohort, Column, ColumnKind, Role, Rule, Schema, load_cohort
    from jumeau.generators import Generator

__version__ = "0.1.0"

_LAZY = {name: "jumeau.data" for name in ("Cohort", "Column", "ColumnKind", "Role", "Rule")}
_LAZY |= {"Schema": "jumeau.data", "load_cohort": "jumeau.data"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'jumeau' has no attribute {name!r}")


def load(path: str) -> Generator:
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
