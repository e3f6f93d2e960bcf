"""Drawing a study: shares, strata, orders, formats, tokens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.review.store import Assignment, Record, Reviewer, StudyStore
from jumeau.review.study import _display, create_study, recording_step


def test_a_study_has_the_asked_records_and_real_share(
    real: Cohort, artificial: Cohort, study_path: Path
) -> None:
    made = create_study(
        real, artificial, study_path, reviewers=["a", "b", "c"], records=40, real_share=0.25, seed=3
    )
    assert made.records == 40 and set(made.reviewer_tokens) == {"a", "b", "c"}
    store = StudyStore(study_path)
    with store.session() as session:
        records = list(session.scalars(select(Record)))
        assert sum(r.truth == "real" for r in records) == 10
        assert all(len(r.id) == 16 for r in records)
        orders = {}
        for reviewer in session.scalars(select(Reviewer)):
            rows = session.scalars(
                select(Assignment)
                .where(Assignment.reviewer_id == reviewer.id)
                .order_by(Assignment.position)
            )
            orders[reviewer.name] = [a.record_id for a in rows]
    for order in orders.values():
        assert sorted(order) == sorted(r.id for r in records)  # everyone sees every record
    assert orders["a"] != orders["b"] != orders["c"]  # each in their own order


def test_the_draw_is_stratified_on_the_outcome(
    real: Cohort, artificial: Cohort, study_path: Path
) -> None:
    create_study(real, artificial, study_path, reviewers=["a"], records=100, seed=0)
    with StudyStore(study_path).session() as session:
        records = list(session.scalars(select(Record)))
    expected = (real.data["cens"].astype(str) == "1").mean()  # the real share, for both sources
    for source in ("real", "artificial"):
        shown = [r.payload["cens"] for r in records if r.truth == source]
        assert set(shown) <= {"yes", "no (censored)"}  # coded categories shown in words
        assert np.mean([v == "yes" for v in shown]) == pytest.approx(expected, abs=0.011)


def test_values_are_written_alike_whatever_their_source(
    real: Cohort, artificial: Cohort, study_path: Path
) -> None:
    """gbsg2's numbers are integers: an artificial record must not show 61.73."""
    create_study(real, artificial, study_path, reviewers=["a"], records=60, seed=1)
    with StudyStore(study_path).session() as session:
        records = list(session.scalars(select(Record)))
    for column in ("age", "tsize", "pnodes", "progrec", "estrec", "time"):
        for record in records:
            value = record.payload[column]
            assert value is None or value.lstrip("-").isdigit(), (column, value, record.truth)


def test_recording_steps_follow_the_real_data() -> None:
    import pandas as pd

    assert recording_step(pd.Series([70.5, 71.0, 68.5, 80.0])) == 0.5  # weights by halves
    assert recording_step(pd.Series([120, 135, 140, 95])) == 5.0  # blood pressure by 5
    assert recording_step(pd.Series([12.0, 13.0, 17.0])) == 1.0
    assert recording_step(pd.Series([1.25, 2.75, 3.5])) == 0.25
    assert recording_step(pd.Series([0.123456, 0.654321])) == 0.001


@pytest.mark.parametrize(
    ("value", "step", "shown"),
    [
        (71.26, 0.5, "71.5"),
        (-0.04, 0.1, "0.0"),
        (-0.3, 1.0, "0"),
        (137.0, 5.0, "135"),
        (1.3, 0.25, "1.25"),
        (2.0, 0.001, "2.000"),
    ],
)
def test_values_are_snapped_to_the_step_without_negative_zero(
    value: float, step: float, shown: str
) -> None:
    from jumeau.data.schema import Column, Schema

    schema = Schema(name="t", columns={"x": Column(kind="continuous")})
    assert _display(schema, "x", value, step) == shown


def test_tokens_are_stored_hashed(real: Cohort, artificial: Cohort, study_path: Path) -> None:
    made = create_study(real, artificial, study_path, reviewers=["a"], records=10)
    for path in study_path.parent.glob(study_path.name + "*"):  # the file and its journal
        assert path.stat().st_mode & 0o077 == 0, path  # owner only: real records inside
    content = study_path.read_bytes()
    for token in [*made.reviewer_tokens.values(), made.admin_token]:
        assert token.encode() not in content
    assert made.links("http://h:1/")["a"] == f"http://h:1/login/{made.reviewer_tokens['a']}"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reviewers": []}, "reviewer names"),
        ({"reviewers": ["a", "a"]}, "each different"),
        ({"reviewers": ["a"], "real_share": 1.0}, "between 0 and 1"),
        ({"reviewers": ["a"], "records": 1}, "between 2 and"),
        ({"reviewers": ["a"], "records": 1000}, "cohort has"),
    ],
)
def test_bad_studies_are_refused(
    real: Cohort, artificial: Cohort, study_path: Path, kwargs: dict, message: str
) -> None:
    with pytest.raises(JumeauError, match=message):
        create_study(real, artificial, study_path, **kwargs)


def test_a_database_holds_one_study(real: Cohort, artificial: Cohort, study_path: Path) -> None:
    create_study(real, artificial, study_path, reviewers=["a"], records=10)
    with pytest.raises(JumeauError, match="already holds a study"):
        create_study(real, artificial, study_path, reviewers=["b"], records=10)


def test_orders_cannot_be_recomputed_from_the_seed(
    real: Cohort, artificial: Cohort, tmp_path: Path
) -> None:
    """The seed fixes which records are drawn, not where they are shown: a guessed seed must not
    let anyone recompute which position is real."""
    sequences, drawn = [], []
    for name in ("one.db", "two.db"):
        create_study(real, artificial, tmp_path / name, reviewers=["a"], records=40, seed=0)
        with StudyStore(tmp_path / name).session() as session:
            truth = {r.id: r for r in session.scalars(select(Record))}
            order = session.scalars(select(Assignment).order_by(Assignment.position))
            sequences.append([truth[a.record_id].truth for a in order])
            drawn.append(sorted(str(sorted(r.payload.items())) for r in truth.values()))
    assert drawn[0] == drawn[1]  # the same records ...
    assert sequences[0] != sequences[1]  # ... in orders no seed gives away
