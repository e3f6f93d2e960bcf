"""The data dictionary: YAML a clinician edits by hand, with errors that point at the line."""

from __future__ import annotations

import pytest

from jumeau import Column, ColumnKind, Role, Schema, SchemaError
from jumeau.datasets import list_datasets, schema

GOOD = """\
name: demo
columns:
  age:
    kind: integer
    unit: years
    min: 18
    max: 110
  sex:
    kind: binary
    categories: [F, M]
  smoker:
    kind: binary
    categories: [no, yes]
rules:
  - age >= 18
  - name: men have no pregnancies
    expr: sex == "M" -> age > 0
"""


def _error(text: str) -> str:
    with pytest.raises(SchemaError) as caught:
        Schema.from_yaml_text(text, origin="edited.yaml")
    return str(caught.value)


def test_reads_a_hand_written_schema():
    loaded = Schema.from_yaml_text(GOOD)
    assert loaded["age"].unit == "years" and loaded["age"].min == 18
    assert [r.expr for r in loaded.rules] == ["age >= 18", 'sex == "M" -> age > 0']
    assert loaded.rules[1].title == "men have no pregnancies"


def test_yes_no_categories_stay_text():
    """YAML 1.1 would read `no`/`yes` as booleans; a clinical dictionary must not."""
    assert Schema.from_yaml_text(GOOD)["smoker"].categories == ["no", "yes"]


def test_round_trip_through_yaml(tmp_path):
    original = Schema.from_yaml_text(GOOD)
    path = tmp_path / "s.yaml"
    original.to_yaml(path)
    assert Schema.from_yaml(path).model_dump() == original.model_dump()
    assert "'no'" in path.read_text()  # quoted for YAML 1.1 readers too


@pytest.mark.parametrize("info", list_datasets(), ids=lambda i: i.name)
def test_bundled_schemas_round_trip(info):
    bundled = schema(info.name)
    assert Schema.from_yaml_text(bundled.to_yaml()).model_dump() == bundled.model_dump()


def test_unknown_kind_names_line_column_and_choices():
    message = _error(GOOD.replace("kind: integer", "kind: integr"))
    assert message.startswith("edited.yaml line 4 (column 'age', field 'kind')")
    assert "'continuous'" in message


def test_min_greater_than_max():
    message = _error(GOOD.replace("max: 110", "max: 10"))
    assert "line 3 (column 'age')" in message and "min (18.0) is greater than max (10.0)" in message


def test_unknown_field_lists_allowed_fields():
    message = _error(GOOD.replace("unit: years", "units: years"))
    assert "line 5 (column 'age', field 'units')" in message
    assert "allowed fields are kind, role, label, unit" in message


def test_binary_with_three_categories():
    message = _error(GOOD.replace("categories: [F, M]", "categories: [F, M, X]"))
    assert "column 'sex'" in message and "exactly 2 categories" in message


def test_categories_listed_twice():
    message = _error(GOOD.replace("categories: [F, M]", "categories: [M, M]"))
    assert "categories are listed twice: M" in message


def test_categories_on_a_continuous_column():
    message = _error(GOOD.replace("    unit: years\n", "    categories: [1, 2]\n"))
    assert "column 'age'" in message and "takes no `categories`" in message


def test_rule_with_unknown_column_suggests_the_right_one():
    message = _error(GOOD.replace("- age >= 18", "- agee >= 18"))
    assert "rule 1 `agee >= 18`: unknown column 'agee'; did you mean 'age'?" in message


def test_rule_with_syntax_error():
    message = _error(GOOD.replace("- age >= 18", "- age >= "))
    assert "rule 1 `age >=`" in message


def test_rule_with_unknown_category_literal():
    message = _error(GOOD.replace('sex == "M"', 'sex == "H"'))
    assert "'H' is not a category of 'sex' (F, M)" in message


def test_not_yaml_at_all():
    message = _error("columns: [unclosed\n  - x: {")
    assert message.startswith("edited.yaml line") and "not valid YAML" in message


def test_not_a_schema():
    assert "no `columns:` mapping" in _error("- just\n- a list\n")


def test_missing_schema_file(tmp_path):
    with pytest.raises(SchemaError, match=r"nope\.yaml: schema file not found"):
        Schema.from_yaml(tmp_path / "nope.yaml")


def test_newer_format_version_is_refused():
    assert "upgrade jumeau" in _error("format_version: 99\n" + GOOD)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "identifier", "role": "feature"}, "identifier column must have role"),
        ({"kind": "text"}, "free-text columns cannot be modelled"),
        ({"kind": "continuous", "role": "event"}, "event indicator must be a binary"),
        ({"kind": "binary", "categories": [0, 1], "role": "time"}, "time-to-event column must be"),
        ({"kind": "categorical"}, "needs a `categories` list"),
        ({"kind": "binary", "categories": ["a", "b"], "min": 0}, "takes no min/max"),
        ({"kind": "datetime", "min": "yesterday"}, "must be a date"),
        ({"kind": "integer", "format": "%Y"}, "only datetime columns take a `format`"),
    ],
)
def test_inconsistent_columns(fields, message):
    with pytest.raises(ValueError, match=message):
        Column(**fields)


def test_only_one_time_column():
    columns = {
        "t1": Column(kind=ColumnKind.INTEGER, role=Role.TIME),
        "t2": Column(kind=ColumnKind.INTEGER, role=Role.TIME),
    }
    with pytest.raises(ValueError, match="only one column can have role time: t1, t2"):
        Schema(columns=columns)


def test_identifiers_and_excluded_are_never_modelled():
    loaded = Schema(
        columns={
            "pid": Column(kind=ColumnKind.IDENTIFIER, role=Role.IDENTIFIER),
            "note": Column(kind=ColumnKind.TEXT, role=Role.EXCLUDED),
            "site": Column(kind=ColumnKind.INTEGER, role=Role.EXCLUDED),
            "age": Column(kind=ColumnKind.INTEGER),
        }
    )
    assert loaded.modelled_columns == ["age"]


def test_with_rules_checks_the_new_rule():
    loaded = Schema.from_yaml_text(GOOD)
    assert loaded.with_rules("age <= 100").rules[-1].expr == "age <= 100"
    with pytest.raises(SchemaError, match="unknown column 'weight'"):
        loaded.with_rules("weight > 0")


def test_unknown_column_lookup_suggests():
    with pytest.raises(SchemaError, match="did you mean 'age'"):
        Schema.from_yaml_text(GOOD)["ag"]


def test_category_labels_give_words_and_survive_yaml(tmp_path):
    column = Column(kind="ordinal", categories=[0, 1, 2], category_labels={0: "none", 2: "severe"})
    assert column.category_word(0) == "none"
    assert column.category_word("2") == "severe"  # a value read from a CSV as text
    assert column.category_word(1) == "1"  # no label: the value itself
    schema = Schema(name="t", columns={"grade": column})
    path = tmp_path / "s.yaml"
    schema.to_yaml(path)
    assert Schema.from_yaml(path).columns["grade"].category_word(2.0) == "severe"


def test_category_labels_must_name_categories():
    with pytest.raises(ValueError, match="not categories: 3"):
        Column(kind="binary", categories=[0, 1], category_labels={3: "x"})
    with pytest.raises(ValueError, match="not categories"):
        Column(kind="integer", category_labels={1: "x"})
