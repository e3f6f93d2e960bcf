"""Schema.infer guesses every column and says why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jumeau import Cohort, ColumnKind, DataError, JumeauWarning, Role, Schema
from jumeau.datasets import load


def _frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "patient_id": [f"P{i:04d}" for i in range(n)],
            "record_id": np.arange(n) + 1000,
            "age": rng.integers(20, 90, n),
            "weight": rng.normal(70, 12, n).round(1),
            "sex": rng.choice(["F", "M"], n),
            "diabetic": rng.integers(0, 2, n),
            "stage": rng.choice(["I", "II", "III", "IV"], n),
            "ecog": rng.integers(0, 4, n),
            "blood_group": rng.choice(["A", "B", "AB", "O"], n),
            "visit": pd.date_range("2020-01-01", periods=n, freq="7D").strftime("%d/%m/%Y"),
            "note": [f"patient reports mild pain in the left knee, day {i}" for i in range(n)],
            "futime": rng.integers(10, 2000, n),
            "death": rng.integers(0, 2, n),
        }
    )


@pytest.fixture(scope="module")
def inferred() -> Schema:
    return Schema.infer(_frame().astype(str))  # as read from a CSV: every cell text


@pytest.mark.parametrize(
    ("column", "kind", "role"),
    [
        ("patient_id", ColumnKind.IDENTIFIER, Role.IDENTIFIER),
        ("record_id", ColumnKind.IDENTIFIER, Role.IDENTIFIER),
        ("age", ColumnKind.INTEGER, Role.FEATURE),
        ("weight", ColumnKind.CONTINUOUS, Role.FEATURE),
        ("sex", ColumnKind.BINARY, Role.FEATURE),
        ("diabetic", ColumnKind.BINARY, Role.FEATURE),
        ("stage", ColumnKind.ORDINAL, Role.FEATURE),
        ("ecog", ColumnKind.ORDINAL, Role.FEATURE),
        ("blood_group", ColumnKind.CATEGORICAL, Role.FEATURE),
        ("visit", ColumnKind.DATETIME, Role.FEATURE),
        ("note", ColumnKind.TEXT, Role.EXCLUDED),
        ("futime", ColumnKind.INTEGER, Role.TIME),
        ("death", ColumnKind.BINARY, Role.EVENT),
    ],
)
def test_kinds_and_roles(inferred, column, kind, role):
    assert inferred[column].kind is kind
    assert inferred[column].role is role
    assert inferred[column].why


def test_identifiers_and_text_are_not_modelled(inferred):
    assert not {"patient_id", "record_id", "note"} & set(inferred.modelled_columns)


def test_ordinal_levels_follow_clinical_order(inferred):
    assert inferred["stage"].categories == ["I", "II", "III", "IV"]
    assert inferred["ecog"].categories == [0, 1, 2, 3]


def test_day_first_dates_are_recognised(inferred):
    assert inferred["visit"].format == "%d/%m/%Y"


def test_non_negative_numbers_get_a_zero_lower_bound(inferred):
    assert inferred["age"].min == 0
    assert "no value is negative" in (inferred["age"].why or "")


def test_many_distinct_texts_are_free_text():
    frame = pd.DataFrame({"drug": [f"drug-{i % 60}" for i in range(120)], "x": range(120)})
    assert Schema.infer(frame)["drug"].kind is ColumnKind.TEXT


def test_missing_values_allowed_only_where_seen():
    frame = pd.DataFrame({"a": [1.5, None, 2.5] * 10, "b": [1.5, 2.0, 2.5] * 10})
    schema = Schema.infer(frame)
    assert schema["a"].missing_allowed and not schema["b"].missing_allowed


def test_all_missing_columns_are_excluded_and_listed_together():
    """An empty column carries no information, like a constant one: excluded, with one warning
    naming every such column (hospital exports often have a few)."""
    frame = pd.DataFrame({"a": [None] * 30, "b": range(30), "c": [""] * 30})
    with pytest.warns(JumeauWarning, match="columns 'a', 'c' have no values"):
        schema = Schema.infer(frame)
    assert schema["a"].role == schema["c"].role == Role.EXCLUDED
    assert schema["b"].role != Role.EXCLUDED
    assert Cohort(frame, schema).modelled.columns.tolist() == ["b"]


def test_a_table_of_empty_columns_is_refused():
    with pytest.raises(DataError, match="every column is empty"):
        Schema.infer(pd.DataFrame({"a": [None] * 30, "c": [""] * 30}))


def test_typed_frame_and_text_frame_agree_on_a_real_dataset():
    cohort = load("gbsg2")
    from_types = Schema.infer(cohort.data)
    from_text = Schema.infer(cohort.data.astype(str))
    assert {n: c.kind for n, c in from_types.columns.items()} == {
        n: c.kind for n, c in from_text.columns.items()
    }
    assert from_text["time"].role is Role.TIME and from_text["cens"].role is Role.EVENT


def test_booleans_are_binary():
    schema = Schema.infer(pd.DataFrame({"flag": [True, False] * 15}))
    assert schema["flag"].kind is ColumnKind.BINARY


def test_a_column_with_a_handful_of_values_is_excluded_with_its_kind():
    """3 values in 40 rows (a third attempt few patients needed): no distribution to learn, and a
    70/30 split could leave the training patients none. Excluded, kind still inferred; a column
    with 10 values is modelled."""
    sparse = [15.5, 19.0, 30.5] + [None] * 37
    enough = [float(v) for v in range(10)] + [None] * 30
    frame = pd.DataFrame({"third": sparse, "second": enough, "age": range(40)})
    with pytest.warns(JumeauWarning, match="'third' has only 3 value"):
        schema = Schema.infer(frame)
    assert schema["third"].role == Role.EXCLUDED and schema["third"].kind == ColumnKind.CONTINUOUS
    assert "too few to model" in (schema["third"].why or "")
    assert schema["second"].role != Role.EXCLUDED
    assert set(Cohort(frame, schema).modelled.columns) == {"second", "age"}


def test_a_small_table_is_not_sparse_for_being_small():
    """Six patients' covariates (a PK study): six values each, every one observed — kept."""
    weights = [61.0, 72.5, 80.1, 55.3, 90.2, 68.0]
    frame = pd.DataFrame({"WT": weights, "AGE": [30, 41, 52, 63, 44, 38]})
    schema = Schema.infer(frame)
    assert schema["WT"].role != Role.EXCLUDED and schema["AGE"].role != Role.EXCLUDED
