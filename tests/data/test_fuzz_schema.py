"""Whatever schema file a user hands us — generated columns, kinds, bounds, categories and rules,
or YAML text mangled at random — the answer is a Schema or one clean JumeauError line, and a
schema that passes its check then types a table or refuses it cleanly (issue 31's fuzz suite)."""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jumeau import Cohort, JumeauError, Schema

KINDS = ["continuous", "integer", "binary", "categorical", "ordinal", "datetime", "identifier"]
NAMES = st.sampled_from(["age", "sex", "stage", "sbp", "visit", "id", "weight", "x y", "ÉCOG"])
BOUND = st.one_of(st.none(), st.integers(-5, 300), st.floats(-1e6, 1e6, allow_nan=False))
LEVELS_ONE = st.sampled_from(["F", "M", "I", "II", "III", "yes", "no"])
LEVELS = st.lists(st.one_of(st.sampled_from(["F", "M", "I", "II", "yes"]), st.integers(0, 4)),
                  min_size=0, max_size=4)  # fmt: skip
OPERATORS = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
LITERALS = st.one_of(st.integers(-10, 200).map(str), st.sampled_from(['"F"', '"II"', "true"]))

# a case must end fast whatever it holds (a bomb, a deep nesting): bounded in time
CASE_SECONDS = 5.0


@st.composite
def column(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly what a user would write, now and then what they should not (a binary column
    without levels, levels on a number, an unknown role): both kinds of answer are exercised."""
    kind = draw(st.sampled_from(KINDS))
    spec: dict[str, Any] = {"kind": kind}
    sloppy = draw(st.integers(0, 9)) == 0
    if kind in ("binary", "categorical", "ordinal") or sloppy:
        spec["categories"] = draw(
            LEVELS if sloppy else st.lists(LEVELS_ONE, min_size=2, max_size=4, unique=True)
        )
    if kind in ("continuous", "integer") or sloppy:
        for bound in ("min", "max"):
            value = draw(BOUND)
            if value is not None:
                spec[bound] = value
    if draw(st.booleans()):
        roles = ["feature", "target", "excluded"] + (["nonsense"] if sloppy else [])
        spec["role"] = draw(st.sampled_from(roles))
    return spec


@st.composite
def schema_dict(draw: st.DrawFn) -> dict[str, Any]:
    columns = draw(st.dictionaries(NAMES, column(), min_size=0, max_size=5))
    names = list(columns) or ["age"]
    rules = draw(
        st.lists(
            st.builds(
                lambda a, op, b, glue: f"{a} {op} {b}" if glue is None else f"{a} {op} {b} {glue}",
                st.sampled_from(names),
                OPERATORS,
                st.one_of(LITERALS, st.sampled_from(names)),
                st.sampled_from([None, "and", "or age > 1", "+ 1 > 2"]),
            ),
            max_size=3,
        )
    )
    return {"columns": columns, "rules": rules}


def _checked(text: str) -> Schema | None:
    """Schema.from_yaml_text's answer: a Schema, or None after a one-line JumeauError."""
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Schema.from_yaml_text(text, origin="fuzz.yaml")
    except JumeauError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip(), str(exc)
        return None
    finally:
        assert time.perf_counter() - started < CASE_SECONDS


def _table_for(schema: Schema, rows: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = {}
    for name, spec in schema.columns.items():
        if spec.categories:
            frame[name] = [str(spec.categories[i % len(spec.categories)]) for i in range(rows)]
        elif spec.kind.value == "datetime":
            frame[name] = ["2020-01-0" + str(1 + i % 9) for i in range(rows)]
        else:
            frame[name] = [str(v) for v in rng.integers(0, 100, rows)]
    return pd.DataFrame(frame)


@settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(schema_dict())
def test_generated_schemas_are_accepted_or_refused_in_one_line(spec: dict[str, Any]) -> None:
    schema = _checked(yaml.safe_dump(spec, allow_unicode=True))
    if schema is None or not schema.columns:
        return
    try:  # a schema that passed its check types a table or refuses it in one line
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cohort = Cohort(_table_for(schema), schema, source="fuzz.csv")
            cohort.validate()
    except JumeauError as exc:
        assert "\n" not in str(exc).strip(), str(exc)


@settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(schema_dict(), st.data())
def test_mangled_schema_text_never_crashes(spec: dict[str, Any], data: st.DataObject) -> None:
    text = yaml.safe_dump(spec, allow_unicode=True)
    position = data.draw(st.integers(0, max(len(text) - 1, 0)))
    insert = data.draw(
        st.sampled_from(["&a [x, x]", "*a", "!!python/object:os.system", "{", "]", ":", "- -", "\t",
                         "? ", "'", "%YAML 9.9\n", "<<: *a", "\x00"])
    )  # fmt: skip
    _checked(text[:position] + insert + text[position:])
