"""Prognostic scores built on (artificial) patients and validated on real ones (issue 12).

task → design → models/trees → selection → score → persistence; validation, explain and card
measure a fitted score on real patients. See docs/prognostic.md.
"""

from jumeau.prognostic.card import ScoreCard, build_card
from jumeau.prognostic.persistence import load_score, save_score
from jumeau.prognostic.score import PrognosticScore
from jumeau.prognostic.validation import Validation, validate

__all__ = [
    "PrognosticScore",
    "ScoreCard",
    "Validation",
    "build_card",
    "load_score",
    "save_score",
    "validate",
]
