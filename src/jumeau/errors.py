"""Errors and warnings that jumeau raises on purpose.

Every problem a user can fix (a wrong file, a bad column, a hand-edited data dictionary with a
mistake) becomes a :class:`JumeauError` whose message is one line naming the file or column and
what to do. The CLI prints that line and exits non-zero; it never shows a traceback for these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class JumeauError(Exception):
    """Base class for every error the user can act on."""


def validation_problems(error: ValidationError) -> str:
    """A pydantic validation error as one line: `field: message; field: message`."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())


class DataError(JumeauError):
    """The data file or DataFrame cannot be used as it is."""


class SchemaError(JumeauError):
    """The schema (data dictionary) is invalid or contradicts the data."""


class RuleSyntaxError(SchemaError):
    """A clinical rule or `where=` condition cannot be parsed or refers to unknown columns."""


class TooFewRowsError(DataError):
    """The cohort is too small to fit a model on."""


class JumeauWarning(UserWarning):
    """Something the user should know about, but that does not stop the work."""
