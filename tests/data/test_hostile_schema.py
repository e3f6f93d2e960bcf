"""Hostile schema files and rules end in one clear line, quickly and in little memory: a YAML
"billion laughs", nesting 20,000 levels deep, a 20,000-term rule (issue 31, item 1)."""

from __future__ import annotations

import itertools
import time
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jumeau.cli import app
from jumeau.data.rules import MAX_RULE_DEPTH, parse_rule
from jumeau.data.schema import MAX_SCHEMA_DEPTH, Schema
from jumeau.errors import RuleSyntaxError, SchemaError


def _billion_laughs(where: str = "categories") -> str:
    """Nine levels of nine aliases each: 1 KB of text standing for 9⁹ (387 million) strings."""
    names = "abcdefghi"
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]" for p, n in itertools.pairwise(names)]
    column = f"    {where}: *i" if where == "categories" else ""
    rules = "rules: *i\n" if where == "rules" else ""
    return "\n".join(lines) + f"\ncolumns:\n  age:\n    kind: categorical\n{column}\n{rules}"


@pytest.mark.parametrize("where", ["categories", "rules"])
def test_a_yaml_bomb_is_refused_at_once_in_little_memory(where: str) -> None:
    text = _billion_laughs(where)
    assert len(text) < 1_500
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(SchemaError, match=r"bomb.yaml line \d+: not valid YAML \(an alias"):
            Schema.from_yaml_text(text, origin="bomb.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 100e6


def test_a_schema_nested_20000_levels_deep_is_refused_in_one_line() -> None:
    text = "columns:\n  x: " + "[" * 20_000 + "]" * 20_000 + "\n"
    with pytest.raises(SchemaError, match=f"nested more than {MAX_SCHEMA_DEPTH} levels deep"):
        Schema.from_yaml_text(text, origin="deep.yaml")


def test_a_20000_term_rule_and_a_deep_one_are_refused_in_one_line() -> None:
    with pytest.raises(RuleSyntaxError, match="characters long, more than 2,000"):
        parse_rule(" + ".join(["age"] * 20_000) + " > 0")
    deep = " + ".join(["age"] * (MAX_RULE_DEPTH + 20)) + " > 0"  # short, but deep
    assert len(deep) < 2_000
    with pytest.raises(RuleSyntaxError, match=f"nests more than {MAX_RULE_DEPTH} operations"):
        parse_rule(deep)
    assert parse_rule(" and ".join(["age > 1"] * 30)).columns == ("age",)  # long but sane


def test_the_cli_refuses_a_yaml_bomb_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_billion_laughs(), encoding="utf-8")
    result = CliRunner().invoke(app, ["schema", "check", str(path)])
    assert result.exit_code != 0
    assert "an alias (*name)" in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_validate_with_a_rule_comparing_text_to_a_number_ends_in_one_line(
    tmp_path: Path,
) -> None:
    """Issue 31 item 8: `sex > 5` compares text with a number; `validate` said so in a
    RuleSyntaxError traceback."""
    data = tmp_path / "patients.csv"
    data.write_text("age,sex\n50,M\n61,F\n", encoding="utf-8")
    schema = tmp_path / "schema.yaml"
    schema.write_text(
        "columns:\n  age:\n    kind: integer\n  sex:\n    kind: categorical\n"
        "    categories: [M, F]\nrules:\n  - sex > 5\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["validate", str(data), "--schema", str(schema)])
    assert result.exit_code == 2, result.output
    assert "sex > 5" in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, RuleSyntaxError)


# ---------------------------------------------------------------------- rules that cannot hold
def _lung_with_rules(*rules: str):
    from jumeau.data.cohort import Cohort
    from jumeau.datasets import load

    lung = load("lung")
    schema = Schema.model_validate(lung.schema.model_dump() | {"rules": list(rules)})
    return Cohort(lung.data, schema, source="lung.csv")


def test_a_rule_text_compared_with_a_number_is_refused_at_schema_check(tmp_path: Path) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text(
        "columns:\n  sex: {kind: binary, categories: [F, M]}\n  age: {kind: integer}\n"
        "rules:\n  - sex > 5\n  - age / 2 > 5\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["schema", "check", str(path)])
    assert result.exit_code == 2
    assert "`sex > 5`: compares text with a number" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("rules", "said"),
    [
        (("age > 200",), "holds for none of the 228 patients"),
        (("age > 50", "age < 40"), "no patient satisfies the 2 rules together"),
    ],
)
def test_rules_no_patient_satisfies_are_refused_before_the_fit(rules, said) -> None:
    from jumeau.errors import DataError
    from jumeau.generators.registry import make_generator

    cohort = _lung_with_rules(*rules)
    started = time.perf_counter()
    with pytest.raises(DataError, match=said):
        make_generator("vae", epochs=400).fit(cohort, progress=False)
    assert time.perf_counter() - started < 5  # refused before any training
