"""Cohort.validate lists every violation (rule, row count, example rows) — never values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jumeau import Cohort, DataError, Schema, SchemaError
from jumeau.datasets import load

SCHEMA = Schema.from_yaml_text(
    """
columns:
  sbp: {kind: continuous, unit: mmHg, min: 50, max: 250}
  dbp: {kind: continuous, unit: mmHg, min: 30, max: 150}
  sex: {kind: binary, categories: [F, M]}
  pregnancies: {kind: integer, min: 0, missing_allowed: false}
rules:
  - dbp < sbp
  - sex == "M" -> pregnancies == 0
"""
)


def _cohort() -> Cohort:
    frame = pd.DataFrame(
        {
            "sbp": [120, 110, 260, 130, np.nan, 140],
            "dbp": [80, 115, 90, np.nan, 70, 85],
            "sex": ["F", "M", "M", "F", "M", None],
            "pregnancies": [2, 1, 0, None, 0, 0],
        }
    )
    return Cohort(frame, SCHEMA)


def test_violations_name_rule_count_and_rows():
    report = _cohort().validate()
    found = {(v.check, v.detail): (v.n_rows, v.example_rows) for v in report.violations}
    assert found[("bound", "'sbp' > 250.0 (max)")] == (1, (2,))
    assert found[("missing", "'pregnancies' is required")] == (1, (3,))
    assert found[("rule", "`dbp < sbp`")] == (1, (1,))
    assert found[("rule", '`sex == "M" -> pregnancies == 0`')] == (1, (1,))
    assert not report.ok
    assert report.valid_rows.tolist() == [True, False, False, False, True, True]
    assert report.share_valid == pytest.approx(0.5)


def test_missing_values_do_not_break_rules():
    """Row 4 has no sbp: `dbp < sbp` is unknown there, not violated."""
    report = _cohort().validate()
    rule = next(v for v in report.violations if v.subject == "dbp < sbp")
    assert 4 not in rule.example_rows


def test_report_never_holds_values():
    text = str(_cohort().validate()) + _cohort().validate().to_frame().to_string()
    assert "260" not in text and "115" not in text


def test_clean_cohort_is_ok(gbsg2):
    report = gbsg2.validate()
    assert report.ok and report.share_valid == 1.0
    assert "all 686 rows" in str(report)


def test_edited_rule_finds_planted_violations(gbsg2):
    stricter = gbsg2.schema.with_rules("age >= 40")
    report = Cohort(gbsg2.data, stricter).validate()
    (violation,) = report.violations
    assert violation.n_rows == int((gbsg2.data["age"] < 40).sum()) > 0


def test_types_follow_the_schema(lung):
    data = lung.data
    assert str(data["age"].dtype) == "Int64"
    assert data["ph_ecog"].cat.ordered and list(data["ph_ecog"].cat.categories) == [0, 1, 2, 3]
    assert data["meal_cal"].dtype == np.float64
    assert "inst" not in lung.modelled.columns


def test_select_with_a_condition(gbsg2):
    rows = gbsg2.select('age > 70 and menostat == "Post"')
    expected = ((gbsg2.data["age"] > 70) & (gbsg2.data["menostat"] == "Post")).sum()
    assert len(rows) == expected > 0


def test_subset_keeps_schema(gbsg2):
    part = gbsg2.subset([0, 5, 9])
    assert len(part) == 3 and part.schema is gbsg2.schema


def test_to_csv_round_trip(tmp_path, lung):
    path = lung.to_csv(tmp_path / "lung.csv")
    again = Cohort(pd.read_csv(path), lung.schema)
    pd.testing.assert_frame_equal(again.data, lung.data)
    assert not list(tmp_path.glob(".*partial"))


def test_not_a_dataframe():
    with pytest.raises(DataError, match="expected a pandas DataFrame, got list"):
        Cohort([[1, 2]], SCHEMA)  # type: ignore[arg-type]


def test_not_a_schema():
    with pytest.raises(SchemaError, match="expected a jumeau Schema"):
        Cohort(pd.DataFrame({"a": [1]}), {"a": "continuous"})  # type: ignore[arg-type]


def test_empty_dataframe():
    with pytest.raises(DataError, match="has columns but no rows"):
        Cohort.from_frame(pd.DataFrame({"a": []}))


def test_repr_and_provenance(gbsg2):
    assert repr(gbsg2) == "<Cohort 'gbsg2': 686 rows, 10 modelled of 10 columns>"
    assert gbsg2.provenance["source"] == "jumeau:gbsg2" and len(gbsg2.sha256) == 64


def test_identifier_is_kept_in_the_real_cohort_but_not_modelled():
    frame = pd.DataFrame({"patient_id": [f"X{i}" for i in range(30)], "age": range(30, 60)})
    cohort = Cohort.from_frame(frame)
    assert "patient_id" in cohort.data and "patient_id" not in cohort.modelled


def test_datetime_bounds():
    schema = Schema.from_yaml_text(
        "columns:\n  visit: {kind: datetime, min: '2010-01-01', max: '2020-12-31'}\n"
    )
    cohort = Cohort(pd.DataFrame({"visit": ["2009-05-01", "2015-01-01", "2021-01-01"]}), schema)
    details = {v.detail: v.example_rows for v in cohort.validate().violations}
    assert details == {"'visit' < 2010-01-01 (min)": (0,), "'visit' > 2020-12-31 (max)": (2,)}


def test_bundled_datasets_load_offline():
    for name in ("breast_cancer", "gbsg2", "lung", "diabetes"):
        assert load(name).validate().ok


def test_rows_of_a_checked_cohort_may_leave_a_sparse_column_empty():
    """lung's meal_cal is missing for a fifth of the patients: the rows where it is missing are
    still a cohort (a split or subsample can fall so), while a file with that column empty is
    refused."""
    lung = load("lung")
    holes = np.flatnonzero(lung.data["meal_cal"].isna().to_numpy())
    part = lung.subset(holes)
    assert len(part) == len(holes) > 20 and part.data["meal_cal"].isna().all()
    with pytest.raises(DataError, match="'meal_cal' has no values"):
        Cohort(lung.data.iloc[holes], lung.schema)
