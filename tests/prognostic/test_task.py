"""What a score predicts: outcome inference, horizons, IPCW labels."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.prognostic.task import (
    PrognosticTask,
    censoring_survival,
    outcome,
    prognostic_task,
    survival_outcome,
)


def test_survival_task_is_inferred_from_the_schema_roles(gbsg2: Cohort) -> None:
    task = prognostic_task(gbsg2.schema, gbsg2.data)
    assert (task.kind, task.outcome, task.time) == ("survival", "cens", "time")
    assert "time" not in task.candidates and "cens" not in task.candidates
    assert set(task.candidates) == {
        "horTh",
        "age",
        "menostat",
        "tsize",
        "tgrade",
        "pnodes",
        "progrec",
        "estrec",
    }
    events = gbsg2.data["time"][gbsg2.data["cens"].astype(str) == "1"].astype(float)
    assert task.horizon == pytest.approx(float(np.median(events)))


def test_binary_task_names_its_positive_level(linear_cohort: Cohort) -> None:
    task = prognostic_task(linear_cohort.schema, linear_cohort.data, target="outcome")
    assert (task.kind, task.positive) == ("binary", "yes")
    assert task.describe() == "outcome = yes"
    assert task.describe(linear_cohort.schema) == "outcome: yes"


def test_survival_task_reads_in_words(gbsg2: Cohort) -> None:
    task = prognostic_task(gbsg2.schema, gbsg2.data, horizon=1825)
    assert task.describe(gbsg2.schema) == "Recurrence or death observed within 1825 days"
    assert PrognosticTask.from_dict(task.to_dict()) == task


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "nowhere"}, "not a modelled column"),
        ({"target": "group"}, "must be a binary category"),
        ({"target": "x1"}, "must be a binary category"),
        ({"target": "outcome", "time": "group"}, "must be a number"),
    ],
)
def test_bad_outcomes_are_refused_clearly(
    linear_cohort: Cohort, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(JumeauError, match=message):
        prognostic_task(linear_cohort.schema, linear_cohort.data, **kwargs)


def test_a_schema_without_outcome_asks_for_one(linear_cohort: Cohort) -> None:
    with pytest.raises(JumeauError, match="give --target"):
        prognostic_task(linear_cohort.schema, linear_cohort.data)


def test_non_positive_horizon_is_refused(gbsg2: Cohort) -> None:
    with pytest.raises(JumeauError, match="positive time"):
        prognostic_task(gbsg2.schema, gbsg2.data, horizon=0)


def test_ipcw_labels_reproduce_the_kaplan_meier_risk(gbsg2: Cohort) -> None:
    """Σ w·1[event by τ] / Σ w over known patients estimates P(T ≤ τ), as Kaplan–Meier does."""
    task = prognostic_task(gbsg2.schema, gbsg2.data)
    labels = outcome(task, gbsg2.data, gbsg2.schema)
    assert labels.time is not None and labels.event is not None
    km = KaplanMeierFitter().fit(labels.time, labels.event)
    expected = 1 - float(km.survival_function_at_times(task.horizon).iloc[0])
    weighted = np.sum(labels.weight * labels.label) / np.sum(labels.weight)
    assert weighted == pytest.approx(expected, abs=0.01)
    naive = labels.label[labels.known].mean()  # dropping the censored without weights
    assert abs(naive - expected) > abs(weighted - expected)


def test_survival_labels_by_hand() -> None:
    times = np.array([1.0, 2.0, 3.0, 5.0, 6.0])
    events = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    labels = survival_outcome(times, events, horizon=4.0)
    np.testing.assert_array_equal(labels.label, [1, 0, 1, 0, 0])
    np.testing.assert_array_equal(labels.known, [True, False, True, True, True])
    # censoring KM: drops to 3/4 at t = 2 (one of four at risk), to 3/8 at t = 5
    assert labels.weight[0] == pytest.approx(1.0)  # Ĝ(1⁻) = 1
    assert labels.weight[2] == pytest.approx(4 / 3)  # Ĝ(3⁻) = 3/4
    assert labels.weight[3] == pytest.approx(4 / 3)  # Ĝ(τ = 4) = 3/4
    censoring = censoring_survival(times, events)
    assert censoring(np.array([2.0]), before=True)[0] == pytest.approx(1.0)
    assert censoring(np.array([2.0]))[0] == pytest.approx(0.75)


def test_patients_censored_exactly_at_the_horizon_count_as_event_free() -> None:
    """Follow-up capped at one year (time = min(T, 365)): the survivors are censored at τ."""
    rng = np.random.default_rng(0)
    true_times = rng.exponential(800, 2000)
    times = np.minimum(true_times, 365.0)
    events = (true_times <= 365).astype(float)
    labels = survival_outcome(times, events, horizon=365.0)
    assert labels.known.all()
    weighted = np.sum(labels.weight * labels.label) / np.sum(labels.weight)
    assert weighted == pytest.approx(1 - np.exp(-365 / 800), abs=0.03)
