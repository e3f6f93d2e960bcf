"""The command line: one-line errors, exit codes, and an example in every --help."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from jumeau import Schema
from jumeau.cli import app

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args))


def test_version():
    result = _run("--version")
    assert result.exit_code == 0 and "jumeau 0.1.0" in result.output


def test_lists_bundled_datasets():
    result = _run("datasets")
    assert result.exit_code == 0
    for name in ("breast_cancer", "gbsg2", "lung", "diabetes"):
        assert name in result.output


@pytest.mark.parametrize(
    "verb",
    [
        ("datasets",),
        ("schema", "infer"),
        ("schema", "check"),
        ("validate",),
        ("fit",),
        ("sample",),
        ("demo",),
        ("run",),
        ("report",),
    ],
)
def test_help_shows_an_example(verb):
    result = _run(*verb, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output


def test_worked_example_infer_edit_validate(tmp_path):
    """The docs' worked example: export gbsg2, infer, add a rule, validate, read violations."""
    data, schema_path = tmp_path / "gbsg2.csv", tmp_path / "gbsg2.yaml"
    assert _run("datasets", "gbsg2", "-o", str(data)).exit_code == 0
    inferred = _run("schema", "infer", str(data), "-o", str(schema_path))
    assert inferred.exit_code == 0, inferred.output
    assert _run("validate", str(data), "--schema", str(schema_path)).exit_code == 0

    text = schema_path.read_text(encoding="utf-8")
    schema_path.write_text(text + "rules:\n  - age >= 40\n", encoding="utf-8")
    assert _run("schema", "check", str(schema_path)).exit_code == 0
    result = _run("validate", str(data), "--schema", str(schema_path))
    assert result.exit_code == 1
    assert "age >= 40" in result.output and "rows valid" in result.output


def test_export_writes_the_curated_schema(tmp_path):
    path = tmp_path / "lung.yaml"
    assert _run("datasets", "lung", "--schema-out", str(path)).exit_code == 0
    assert Schema.from_yaml(path)["ph_ecog"].kind.value == "ordinal"


def test_errors_are_one_line_and_exit_2(tmp_path):
    result = _run("validate", str(tmp_path / "missing.csv"))
    assert result.exit_code == 2
    assert "error:" in result.output and "missing.csv: file not found" in result.output
    assert "Traceback" not in result.output


def test_bad_schema_names_the_line(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("age\n" + "\n".join(str(40 + i) for i in range(25)), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns:\n  age:\n    kind: numbr\n", encoding="utf-8")
    result = _run("validate", str(data), "--schema", str(bad))
    assert result.exit_code == 2
    assert "bad.yaml line 3 (column 'age', field 'kind')" in result.output


def test_unknown_dataset_suggests():
    result = _run("datasets", "gbsg")
    assert result.exit_code == 2 and "did you mean 'gbsg2'" in result.output


def test_demo_writes_its_outputs(tmp_path):
    folder = tmp_path / "out"
    args = ["demo", "--output", str(folder), "--dataset", "lung", "--model", "copula", "-n", "300"]
    result = _run(*args)
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in folder.iterdir())
    assert written == [
        "artificial.csv",
        "artificial.csv.provenance.json",
        "lung.csv",
        "lung.schema.yaml",
        "model.jumeau",
        "privacy.html",
        "report.html",
        "report.json",
        "split.json",
    ]
    report = json.loads((folder / "report.json").read_text())
    assert set(report["fidelity"]) == {"artificial", "ceiling"}
    assert 0.0 <= report["privacy"]["dcr_share"] <= 1.0
    assert report["meta"]["seed"] == 0 and report["sizes"]["artificial"] == 300
    assert "report.html" in result.output
    provenance = json.loads((folder / "artificial.csv.provenance.json").read_text())
    assert provenance["fit_seed"] == 0 and len(provenance["training_data"]["sha256"]) == 64
    assert len(pd.read_csv(folder / "artificial.csv")) == 300


def test_fit_then_sample(tmp_path):
    data, model = tmp_path / "gbsg2.csv", tmp_path / "m.jumeau"
    assert _run("datasets", "gbsg2", "-o", str(data)).exit_code == 0
    fitted = _run("fit", str(data), "--model", "copula", "-o", str(model), "--quiet")
    assert fitted.exit_code == 0, fitted.output
    output = tmp_path / "art.csv"
    sampled = _run("sample", str(model), "-n", "50", "--where", "age > 60", "-o", str(output))
    assert sampled.exit_code == 0, sampled.output
    frame = pd.read_csv(output)
    assert len(frame) == 50 and (frame["age"] > 60).all()
    assert (tmp_path / "art.csv.provenance.json").exists()


def test_fit_refuses_a_headerless_csv_and_writes_nothing(tmp_path):
    """Without a header line the first patient's values would become the model's (and every
    artificial CSV's) column names: a real record in a shared file."""
    data, model = tmp_path / "gbsg2.csv", tmp_path / "m.jumeau"
    assert _run("datasets", "gbsg2", "-o", str(data)).exit_code == 0
    lines = data.read_text().splitlines()
    headerless = tmp_path / "no_header.csv"
    headerless.write_text("\n".join(lines[1:]) + "\n")
    result = _run("fit", str(headerless), "--model", "copula", "-o", str(model), "--quiet")
    assert result.exit_code == 2
    assert "no_header.csv: the first line looks like a patient's values" in result.output
    assert "Traceback" not in result.output and not model.exists()
    message = result.output.replace(str(headerless), "")
    first_patient = [v for v in lines[1].split(",") if len(v) > 2 and v[0].isdigit()]
    assert first_patient and not any(value in message for value in first_patient)


def test_fit_with_bad_parameter_and_unknown_model(tmp_path):
    data = tmp_path / "gbsg2.csv"
    _run("datasets", "gbsg2", "-o", str(data))
    bad = _run("fit", str(data), "--model", "vae", "-p", "lattent=3", "-o", str(tmp_path / "m"))
    assert bad.exit_code == 2 and "lattent" in bad.output
    unknown = _run("fit", str(data), "--model", "vea", "-o", str(tmp_path / "m"))
    assert unknown.exit_code == 2 and "did you mean 'vae'" in unknown.output


def test_sample_from_a_corrupted_model_file(tmp_path):
    bad = tmp_path / "bad.jumeau"
    bad.write_bytes(b"not a model at all")
    result = _run("sample", str(bad), "-n", "5", "-o", str(tmp_path / "x.csv"))
    assert result.exit_code == 2 and "bad.jumeau" in result.output
    assert not (tmp_path / "x.csv").exists()


def test_warnings_are_printed(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("age,site\n" + "".join(f"{40 + i},1\n" for i in range(25)), encoding="utf-8")
    result = _run("schema", "infer", str(data))
    assert result.exit_code == 0 and "warning:" in result.output and "'site'" in result.output


def test_schema_infer_proposes_order_rules_only_when_asked(tmp_path):
    data = tmp_path / "d.csv"
    rows = "".join(f"{i % 37 + 1},{i % 37 + 1 + i % 5}\n" for i in range(200))
    data.write_text("recurrence,death\n" + rows, encoding="utf-8")
    plain = _run("schema", "infer", str(data))
    assert plain.exit_code == 0 and "proposed rule" not in plain.output
    asked = _run("schema", "infer", str(data), "--propose-rules", "-o", str(tmp_path / "s.yaml"))
    assert asked.exit_code == 0 and "proposed rule: recurrence <= death" in asked.output
    assert [r.expr for r in Schema.from_yaml(tmp_path / "s.yaml").rules] == ["recurrence <= death"]
