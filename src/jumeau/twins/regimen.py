"""Dosing regimens: what a clinician writes ("320 mg q12h x6") as dose events a model can use.

A regimen is a repeated dose: an amount, an interval, a number of doses and a route (bolus into
the central compartment, an infusion of a given duration, or oral with first-order absorption).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

import numpy as np

from jumeau.errors import JumeauError

_TIME_UNITS = {"h": 1.0, "hr": 1.0, "min": 1 / 60, "d": 24.0, "day": 24.0, "w": 168.0}
_PATTERN = re.compile(
    r"^\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>[a-zA-Zµ/]+)?"
    r"(?:\s+(?P<route>iv|oral|po|bolus|infusion))?"
    r"(?:\s+over\s+(?P<duration>\d+(?:\.\d+)?)\s*(?P<duration_unit>h|hr|min))?"
    r"(?:\s+q(?P<interval>\d+(?:\.\d+)?)\s*(?P<interval_unit>h|hr|d|day|w))?"
    r"(?:\s+[x×]\s*(?P<doses>\d+))?\s*$",
    re.IGNORECASE,
)


class Route(str, Enum):
    """Where a dose goes: straight into the blood (bolus or infusion) or by mouth."""

    BOLUS = "bolus"
    INFUSION = "infusion"
    ORAL = "oral"


@dataclass(frozen=True)
class DoseEvents:
    """Doses as arrays (hours, amounts, infusion durations in hours: 0 for a bolus or oral)."""

    times: np.ndarray
    amounts: np.ndarray
    durations: np.ndarray
    oral: np.ndarray  # bool per dose: absorbed from the gut (first-order) rather than given IV

    def __post_init__(self) -> None:
        sizes = {len(self.times), len(self.amounts), len(self.durations), len(self.oral)}
        if len(sizes) != 1:
            raise JumeauError("dose events need as many times, amounts, durations and routes")

    def __len__(self) -> int:
        return len(self.times)

    def shifted(self, hours: float) -> DoseEvents:
        return DoseEvents(self.times + hours, self.amounts, self.durations, self.oral)


@dataclass(frozen=True)
class Regimen:
    """`doses` doses of `amount`, `interval` hours apart, starting at `start` (hours)."""

    amount: float
    interval: float = 24.0
    doses: int = 1
    route: Route = Route.ORAL
    duration: float = 0.0  # hours, infusions only
    start: float = 0.0
    unit: str = "mg"

    def __post_init__(self) -> None:
        if not np.isfinite(self.amount) or self.amount <= 0:
            raise JumeauError(f"a dose amount must be a positive number, not {self.amount}")
        if not isinstance(self.doses, int) or isinstance(self.doses, bool) or self.doses < 1:
            raise JumeauError(f"the number of doses must be a whole number ≥ 1, not {self.doses}")
        if self.doses > 1 and not (np.isfinite(self.interval) and self.interval > 0):
            raise JumeauError(f"the dosing interval must be positive hours, not {self.interval}")
        try:
            route = Route(self.route)
        except ValueError:
            choices = ", ".join(r.value for r in Route)
            raise JumeauError(f"unknown route {self.route!r}; choose from {choices}") from None
        object.__setattr__(self, "route", route)
        if route is Route.INFUSION and not self.duration > 0:
            raise JumeauError("an infusion needs a positive duration ('over 2h')")
        if route is not Route.INFUSION and self.duration:
            raise JumeauError(f"a {route.value} dose has no duration; use route 'infusion'")
        if self.doses > 1 and route is Route.INFUSION and self.duration > self.interval:
            raise JumeauError("an infusion longer than the dosing interval overlaps the next one")

    @classmethod
    def parse(cls, text: str) -> Regimen:
        """From clinical shorthand: "320 mg q12h x6", "500 mg iv over 1h q8h x9",
        "25 mg iv" (one bolus). Route defaults to oral, interval to 24 h, doses to 1."""
        match = _PATTERN.match(text) if isinstance(text, str) else None
        if match is None:
            raise JumeauError(
                f"cannot read the regimen {text!r}; write it as '<amount> <unit> [iv|oral] "
                "[over <hours>h] [q<interval>h] [x<doses>]', e.g. '320 mg q12h x6'"
            )
        parts = match.groupdict()
        duration = (
            float(parts["duration"]) * _TIME_UNITS[parts["duration_unit"].lower()]
            if (parts["duration"])
            else 0.0
        )
        named = (parts["route"] or "oral").lower()
        if duration:
            route = Route.INFUSION
        elif named in ("iv", "bolus"):
            route = Route.BOLUS
        elif named == "infusion":
            raise JumeauError(f"{text!r}: say how long the infusion lasts ('over 2h')")
        else:
            route = Route.ORAL
        interval = (
            float(parts["interval"]) * _TIME_UNITS[parts["interval_unit"].lower()]
            if parts["interval"]
            else 24.0
        )
        return cls(
            amount=float(parts["amount"]),
            interval=interval,
            doses=int(parts["doses"]) if parts["doses"] else 1,
            route=route,
            duration=duration,
            unit=parts["unit"] or "mg",
        )

    def events(self) -> DoseEvents:
        times = self.start + self.interval * np.arange(self.doses, dtype=np.float64)
        return DoseEvents(
            times=times,
            amounts=np.full(self.doses, float(self.amount)),
            durations=np.full(self.doses, float(self.duration)),
            oral=np.full(self.doses, self.route is Route.ORAL),
        )

    def __str__(self) -> str:
        route = {Route.BOLUS: " iv", Route.INFUSION: f" iv over {self.duration:g}h"}.get(
            self.route, ""
        )
        repeat = f" q{self.interval:g}h x{self.doses}" if self.doses > 1 else ""
        return f"{self.amount:g} {self.unit}{route}{repeat}"
