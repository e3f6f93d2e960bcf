"""The long-format data layer: layout in the schema, structural checks, bundled cohorts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jumeau.data.datasets.longitudinal import (
    list_longitudinal_datasets,
    load_longitudinal_dataset,
)
from jumeau.data.longitudinal import LongitudinalCohort, load_longitudinal
from jumeau.data.schema import Schema
from jumeau.errors import DataError, JumeauWarning, SchemaError


def visits_frame(n_patients: int = 30, seed: int = 0) -> pd.DataFrame:
    """Made-up visits: a random intercept and slope per patient, irregular times."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        level, slope = rng.normal(50, 8), rng.normal(-2, 1)
        sex = rng.choice(["F", "M"])
        times = np.cumsum(np.r_[0.0, rng.exponential(1.0, rng.integers(1, 6))])
        for t in times:
            rows.append(
                {"pid": f"p{p}", "t": t, "score": level + slope * t + rng.normal(0, 2),
                 "sex": sex, "end": times[-1] + 0.5, "died": int(p % 3 == 0)}
            )  # fmt: skip
    return pd.DataFrame(rows)


def cohort_of(frame: pd.DataFrame) -> LongitudinalCohort:
    return LongitudinalCohort.from_frame(frame, id="pid", time="t", followup="end", event="died")


def test_from_frame_marks_layout_and_detects_varying_columns() -> None:
    cohort = cohort_of(visits_frame())
    assert cohort.columns.varying == ("score",)
    assert cohort.columns.static == ("sex",)
    assert (cohort.columns.followup, cohort.columns.event) == ("end", "died")
    assert cohort.schema.visits is not None and cohort.schema.columns["score"].varies
    assert cohort.n_patients == 30 and len(cohort) == 30
    assert cohort.visit_counts.sum() == len(cohort.data)
    assert list(cohort.static_cohort().data.columns) == ["sex"]
    assert len(cohort.static_cohort().data) == 30


def test_schema_round_trip_keeps_visits_and_varies() -> None:
    schema = cohort_of(visits_frame()).schema
    again = Schema.from_yaml_text(schema.to_yaml())
    assert again.visits == schema.visits
    assert [n for n, c in again.columns.items() if c.varies] == ["score"]
    assert "varies: false" not in schema.to_yaml()


def test_unsorted_visits_are_sorted_with_a_warning() -> None:
    frame = visits_frame().sample(frac=1.0, random_state=1)
    with pytest.warns(JumeauWarning, match="not sorted"):
        cohort = cohort_of(frame)
    for _, visits in cohort.data.groupby("pid"):
        assert visits["t"].is_monotonic_increasing


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(t=f["t"] - 1.0), "before baseline"),
        (lambda f: pd.concat([f.iloc[:1], f]).reset_index(drop=True), "share a"),
        (lambda f: f.assign(sex=np.where(np.arange(len(f)) % 2, "F", "M")), "changes within"),
        (lambda f: f.assign(end=f["end"] - 100.0 * (f["pid"] == "p1")), "before the last visit"),
        (lambda f: f.assign(pid=f["pid"].where(np.arange(len(f)) != 3)), "is empty"),
    ],
)
def test_structural_problems_are_clear_errors(change, message) -> None:
    cohort = cohort_of(visits_frame())
    with pytest.raises(DataError, match=message):
        LongitudinalCohort(change(cohort.data.copy()), cohort.schema)


def test_schema_layout_problems_are_refused() -> None:
    schema = cohort_of(visits_frame()).schema
    document = schema.model_dump()
    document["visits"] = {"id": "pid", "time": "sex"}
    with pytest.raises(ValueError, match="continuous or integer"):
        Schema.model_validate(document)
    document["visits"] = {"id": "pid", "time": "nope"}
    with pytest.raises(ValueError, match="not a column"):
        Schema.model_validate(document)
    document["visits"] = None
    with pytest.raises(ValueError, match="needs a `visits:` section"):
        Schema.model_validate(document)


def test_a_cohort_without_a_measured_column_is_refused() -> None:
    frame = visits_frame().drop(columns="score")
    with pytest.raises(SchemaError, match="varies"):
        LongitudinalCohort.from_frame(frame, id="pid", time="t", followup="end", event="died")


def test_subset_keeps_every_visit_of_the_chosen_patients() -> None:
    cohort = cohort_of(visits_frame())
    part = cohort.subset_patients([0, 2, 4])
    assert part.n_patients == 3
    chosen = cohort.patients["pid"].to_numpy()[[0, 2, 4]]
    assert len(part.data) == int(cohort.data["pid"].isin(chosen).sum())


def test_load_from_a_file_needs_id_and_time(tmp_path) -> None:
    path = tmp_path / "visits.csv"
    visits_frame().to_csv(path, index=False)
    with pytest.raises(DataError, match="--id and --time"):
        load_longitudinal(path)
    cohort = load_longitudinal(path, id="pid", time="t", followup="end", event="died")
    assert cohort.n_patients == 30 and cohort.columns.varying == ("score",)


def test_stanford_is_bundled_in_long_format() -> None:
    cohort = load_longitudinal_dataset("stanford")
    assert cohort.n_patients == 103
    assert cohort.columns.varying == ("transplant",)
    assert {"stanford", "csl", "aids"} == {d.name for d in list_longitudinal_datasets()}
    ever = cohort.data["transplant"].astype(int).groupby(cohort.data["patient"]).max()
    assert ever.sum() == 69  # Crowley & Hu: 69 of 103 candidates received a heart


@pytest.mark.parametrize(("name", "patients", "visits"), [("csl", 446, 2481), ("aids", 467, 1405)])
def test_survset_cohorts(name: str, patients: int, visits: int) -> None:
    pytest.importorskip("SurvSet")
    cohort = load_longitudinal_dataset(name)
    assert (cohort.n_patients, len(cohort.data)) == (patients, visits)
    assert (cohort.data.groupby("patient")[cohort.columns.time].min() >= 0).all()


def test_unknown_dataset_suggests_a_name() -> None:
    with pytest.raises(DataError, match="did you mean 'csl'"):
        load_longitudinal_dataset("cls")
