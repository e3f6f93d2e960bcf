"""The differential-privacy parameters a generator's config carries (one declaration, shared)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PrivacyParams(BaseModel):
    """ε and δ of a differentially private fit; None = an ordinary (non-private) fit."""

    epsilon: float | None = Field(
        default=None,
        gt=0.0,
        description="Fit under (ε, δ)-differential privacy: the whole pipeline (every column's "
        "summaries, the model's fit, everything in the model file) changes an attacker's odds "
        "that any one patient took part by at most a factor e^ε. None = no DP.",
    )
    delta: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="δ of the DP fit: the probability that the e^ε bound may fail. Default "
        "1/n² for n training patients.",
    )


def default_delta(patients: int) -> float:
    """1/n², the usual choice: well below 1/n, the chance of one patient's record leaking whole."""
    return 1.0 / max(patients, 2) ** 2
