"""A trial design: arms, allocation, size, inclusion criteria, endpoint, dropout and analyses.

It is data, not code: a team writes it once in YAML (``jumeau trial simulate design.yaml``) and
the same object drives simulation and analysis. Each arm carries what it does to the endpoint in
the terms of the population it is played on: a dosing regimen for a twin population (the
mechanistic model decides the outcome), or an effect model for an artificial or real cohort
(a shift of a continuous outcome, a risk difference for a binary one, a hazard ratio for a time to
event), so the same design can be stress-tested on both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from jumeau.data.rules import parse_rule
from jumeau.errors import JumeauError

EndpointKind = Literal["continuous", "responder", "time_to_event"]
AnalysisName = Literal["unadjusted", "ancova", "procova"]
ANALYSES: tuple[AnalysisName, ...] = ("unadjusted", "ancova", "procova")


class Endpoint(BaseModel):
    """What is measured on each patient and compared between arms.

    On a cohort population, ``outcome`` names the column holding the outcome without treatment
    (for a time to event, the time; ``event`` the indicator). ``baseline`` makes the endpoint a
    change from baseline. A responder is a patient whose value (or change) is on the ``direction``
    side of ``threshold``; without a threshold, ``outcome`` must already be 0/1. On a twin
    population, the outcome is the model's observed quantity ``at`` hours after randomisation;
    with ``run_in`` hours of observation before it (a run-in period), the score at its start is
    a second baseline column, ``<baseline>_run_in``, which tells the patient's own trend.
    """

    model_config = ConfigDict(extra="forbid")

    kind: EndpointKind = "continuous"
    outcome: str | None = None
    baseline: str | None = None
    event: str | None = None
    threshold: float | None = None
    direction: Literal["above", "below"] = "above"
    at: float | None = Field(default=None, gt=0)
    run_in: float | None = Field(default=None, gt=0)
    horizon: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> Endpoint:
        if self.kind == "time_to_event" and self.baseline is not None:
            raise ValueError("a time-to-event endpoint has no baseline value")
        if self.kind != "time_to_event" and self.event is not None:
            raise ValueError("'event' is for time-to-event endpoints only")
        if self.run_in is not None and self.baseline is None:
            raise ValueError("a run-in needs a baseline name for the measured baseline value")
        if self.kind != "responder" and self.threshold is not None:
            raise ValueError("'threshold' is for responder endpoints only")
        return self


class Arm(BaseModel):
    """One arm. On a cohort population its effect is ``shift`` (continuous and thresholded
    responder endpoints: added to the outcome), ``risk_difference`` (a 0/1 responder outcome)
    or ``hazard_ratio`` (time to event); on a twin population it is its ``regimen``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    ratio: float = Field(default=1.0, gt=0)
    control: bool = False
    regimen: str | None = None
    shift: float = 0.0
    risk_difference: float = Field(default=0.0, ge=-1, le=1)
    hazard_ratio: float = Field(default=1.0, gt=0)

    def has_effect(self) -> bool:
        return bool(self.shift or self.risk_difference or self.hazard_ratio != 1.0)


class TrialDesign(BaseModel):
    """A randomised trial, parallel arms, one primary endpoint."""

    model_config = ConfigDict(extra="forbid")

    name: str = "trial"
    arms: list[Arm] = Field(min_length=2)
    sample_size: int = Field(gt=0)
    endpoint: Endpoint = Field(default_factory=Endpoint)
    inclusion: list[str] = Field(default_factory=list)
    exclusion: list[str] = Field(default_factory=list)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    covariates: list[str] = Field(default_factory=list)
    prognostic_features: list[str] | None = None
    historical_size: int = Field(default=1000, ge=20)
    analyses: list[AnalysisName] = Field(default_factory=lambda: list(ANALYSES))
    alpha: float = Field(default=0.05, gt=0, lt=1)

    @model_validator(mode="after")
    def _consistent(self) -> TrialDesign:
        controls = [arm.name for arm in self.arms if arm.control]
        if len(controls) != 1:
            raise ValueError(f"exactly one arm must be the control (control: true); got {controls}")
        names = [arm.name for arm in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique; got {names}")
        if self.sample_size < 4 * len(self.arms):
            raise ValueError(f"a sample size of {self.sample_size} is too small for the arms")
        for text in self.inclusion:
            parse_rule(text, where="inclusion criterion")
        for text in self.exclusion:
            parse_rule(text, where="exclusion criterion")
        if "ancova" in self.analyses and not self.covariates and self.endpoint.baseline is None:
            raise ValueError("ANCOVA needs covariates (or an endpoint baseline) to adjust for")
        kind = self.endpoint.kind
        for arm in self.arms:
            if arm.control and arm.has_effect():
                raise ValueError(f"the control arm {arm.name!r} cannot carry an effect")
            if kind == "time_to_event" and (arm.shift or arm.risk_difference):
                raise ValueError(f"arm {arm.name!r}: a time-to-event effect is a hazard_ratio")
            if kind != "time_to_event" and arm.hazard_ratio != 1.0:
                raise ValueError(f"arm {arm.name!r}: a hazard_ratio needs a time-to-event endpoint")
            binary = kind == "responder" and self.endpoint.threshold is None
            if binary and arm.shift:
                raise ValueError(
                    f"arm {arm.name!r}: a 0/1 outcome moves by a risk_difference, not a shift"
                )
            if not binary and arm.risk_difference:
                raise ValueError(
                    f"arm {arm.name!r}: a risk_difference is for 0/1 responder outcomes"
                )
        return self

    def eligible(self, frame: pd.DataFrame) -> np.ndarray:
        """Patients who meet every inclusion criterion and no exclusion criterion (an unknown
        value — a missing covariate — neither includes nor excludes: the patient is left out
        only when a criterion is definitely met or definitely failed)."""
        keep = np.ones(len(frame), dtype=bool)
        for text in self.inclusion:
            keep &= parse_rule(text, where="inclusion criterion").selects(frame)
        for text in self.exclusion:
            keep &= ~parse_rule(text, where="exclusion criterion").selects(frame)
        return keep

    @property
    def control(self) -> Arm:
        return next(arm for arm in self.arms if arm.control)

    @property
    def treated(self) -> list[Arm]:
        return [arm for arm in self.arms if not arm.control]

    def arm_sizes(self, n: int | None = None) -> dict[str, int]:
        """Patients per arm for `n` randomised (largest-remainder rounding of the ratio)."""
        total = self.sample_size if n is None else n
        weights = [arm.ratio for arm in self.arms]
        exact = [total * w / sum(weights) for w in weights]
        sizes = [int(x) for x in exact]
        order = sorted(range(len(exact)), key=lambda i: exact[i] - sizes[i], reverse=True)
        for i in order[: total - sum(sizes)]:
            sizes[i] += 1
        return {arm.name: size for arm, size in zip(self.arms, sizes, strict=True)}

    def null(self) -> TrialDesign:
        """The same trial where no arm does anything: the scenario for the type-I error."""
        control = self.control
        arms = [
            arm.model_copy(
                update={
                    "shift": 0.0,
                    "risk_difference": 0.0,
                    "hazard_ratio": 1.0,
                    "regimen": control.regimen,
                }
            )
            for arm in self.arms
        ]
        return self.model_copy(update={"arms": arms})

    def with_effect(self, effect: float) -> TrialDesign:
        """Every treated arm given the same effect, in the endpoint's effect measure."""
        field = self.effect_measure()
        if field == "regimen":
            raise JumeauError("a twin design's effect is its regimen; sweep regimens instead")
        arms = [arm if arm.control else arm.model_copy(update={field: effect}) for arm in self.arms]
        return TrialDesign.model_validate(
            {**self.model_dump(), "arms": [a.model_dump() for a in arms]}
        )

    def effect_measure(self) -> str:
        """The arm field that carries the effect for this endpoint on a cohort population."""
        if any(arm.regimen for arm in self.arms):
            return "regimen"
        if self.endpoint.kind == "time_to_event":
            return "hazard_ratio"
        if self.endpoint.kind == "responder" and self.endpoint.threshold is None:
            return "risk_difference"
        return "shift"

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrialDesign:
        source = Path(path)
        try:
            raw = yaml.safe_load(source.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise JumeauError(f"no trial design at {source}") from None
        except yaml.YAMLError as exc:
            raise JumeauError(f"{source}: not valid YAML ({exc})") from None
        return cls.from_dict(raw, str(source))

    @classmethod
    def from_dict(cls, raw: object, source: str = "trial design") -> TrialDesign:
        if not isinstance(raw, dict):
            raise JumeauError(f"{source}: a trial design is a mapping (arms:, sample_size:, …)")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "design"
            raise JumeauError(f"{source}: {where}: {first['msg']}") from None
