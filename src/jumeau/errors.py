"""Errors and warnings that jumeau raises on purpose.

Every problem a user can fix (a wrong file, a bad column, a hand-edited data dictionary with a
mistake) becomes a :class:`JumeauError` whose message is one line naming the file or column and
what to do. The CLI prints that line and exits non-zero; it never shows a traceback for these.
"""

from __future__ import annotations


class JumeauError(Exception):
    """Base class for every error the user can act on."""


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
