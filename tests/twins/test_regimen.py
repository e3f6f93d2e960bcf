"""Regimens from clinical shorthand, and their dose events."""

from __future__ import annotations

import numpy as np
import pytest

from jumeau.errors import JumeauError
from jumeau.twins import Regimen, Route


@pytest.mark.parametrize(
    ("text", "amount", "interval", "doses", "route", "duration"),
    [
        ("320 mg q12h x6", 320.0, 12.0, 6, Route.ORAL, 0.0),
        ("500 mg iv over 1h q8h x9", 500.0, 8.0, 9, Route.INFUSION, 1.0),
        ("500 mg over 30min q8h x3", 500.0, 8.0, 3, Route.INFUSION, 0.5),
        ("25 mg iv", 25.0, 24.0, 1, Route.BOLUS, 0.0),
        ("2.5 mg/kg po q1d x7", 2.5, 24.0, 7, Route.ORAL, 0.0),
        ("100 mg q1w × 4", 100.0, 168.0, 4, Route.ORAL, 0.0),
    ],
)
def test_shorthand_is_read(
    text: str, amount: float, interval: float, doses: int, route: Route, duration: float
) -> None:
    regimen = Regimen.parse(text)
    assert (regimen.amount, regimen.interval, regimen.doses) == (amount, interval, doses)
    assert regimen.route is route and regimen.duration == duration
    assert Regimen.parse(str(regimen)) == regimen  # it writes itself back the same way


def test_events_repeat_the_dose_at_the_interval() -> None:
    events = Regimen(320.0, interval=12.0, doses=3, start=2.0).events()
    np.testing.assert_allclose(events.times, [2.0, 14.0, 26.0])
    np.testing.assert_allclose(events.amounts, 320.0)
    assert events.oral.all() and (events.durations == 0).all()
    assert len(events.shifted(1.0)) == 3 and events.shifted(1.0).times[0] == 3.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("three pills", "cannot read the regimen"),
        ("320 mg q12h x0", "number of doses"),
        ("0 mg", "positive number"),
        ("100 mg infusion q8h", "how long the infusion lasts"),
        ("100 mg iv over 10h q8h x3", "overlaps the next one"),
    ],
)
def test_bad_regimens_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(JumeauError, match=message):
        Regimen.parse(text)


def test_constructor_checks_its_arguments() -> None:
    with pytest.raises(JumeauError, match="positive duration"):
        Regimen(100.0, route="infusion")
    with pytest.raises(JumeauError, match="has no duration"):
        Regimen(100.0, route="oral", duration=1.0)
    with pytest.raises(JumeauError, match="interval"):
        Regimen(100.0, interval=0.0, doses=2)
    with pytest.raises(JumeauError, match="unknown route 'intramuscular'"):
        Regimen(100.0, route="intramuscular")  # type: ignore[arg-type]
