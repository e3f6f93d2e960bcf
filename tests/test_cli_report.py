"""`jumeau run` and `jumeau report` from the command line: exit codes, files, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from jumeau.cli import app
from jumeau.datasets import load, schema

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """lung as CSV with its data dictionary, and a train / holdout split of it as CSVs."""
    folder = tmp_path_factory.mktemp("cli")
    cohort = load("lung")
    data = cohort.to_csv(folder / "lung.csv")
    schema_path = folder / "lung.yaml"
    schema_path.write_text(schema("lung").to_yaml(), encoding="utf-8")
    frame = pd.read_csv(data)
    holdout_rows = np.random.default_rng(0).permutation(len(frame))[:68]
    holdout = frame.iloc[np.sort(holdout_rows)]
    train = frame.drop(index=holdout.index)
    train.to_csv(folder / "train.csv", index=False)
    holdout.to_csv(folder / "holdout.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def ran(files):
    out = files / "out"
    result = _run(
        "run",
        files / "lung.csv",
        "--schema",
        files / "lung.yaml",
        "--model",
        "copula",
        "-n",
        "200",
        "--no-attacks",
        "--seed",
        "3",
        "--filter-percentile",
        "5",
        "--shared-profile-k",
        "4",
        "--privacy-splits",
        "2",
        "--quiet",
        "-o",
        out,
    )
    return result, out


def test_run_exits_0_and_writes_every_file(ran):
    result, out = ran
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "artificial.csv",
        "artificial.csv.provenance.json",
        "model.jumeau",
        "privacy.html",
        "report.html",
        "report.json",
        "split.json",
    ]
    assert len(pd.read_csv(out / "artificial.csv")) == 200
    assert "Validation summary" in result.output and "report.html" in result.output
    assert "Traceback" not in result.output


def test_run_passes_its_options_on(ran):
    _, out = ran
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["meta"]["seed"] == 3 and report["seed"] == 3
    assert report["privacy"]["similarity_filter"]["percentile"] == 5
    assert report["privacy"]["shared_profile_k"] == 4
    assert report["privacy"]["attacks"] is None  # --no-attacks
    assert json.loads((out / "split.json").read_text())["seed"] == 3
    assert report["sizes"]["artificial"] == 200
    assert report["privacy"]["splits"] == 2 and len(report["privacy"]["per_split"]) == 2


def test_report_on_any_artificial_file(ran, files):
    _, out = ran
    target = files / "report"
    result = _run(
        "report",
        "--real",
        files / "train.csv",
        "--holdout",
        files / "holdout.csv",
        "--artificial",
        out / "artificial.csv",
        "--schema",
        files / "lung.yaml",
        "--no-attacks",
        "-o",
        target,
    )
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in target.iterdir())
    assert written == ["privacy.html", "report.html", "report.json"]
    report = json.loads((target / "report.json").read_text(encoding="utf-8"))
    assert report["sizes"] == {"train": 160, "holdout": 68, "artificial": 200}
    assert any("No generator to refit" in note for note in report["notes"])
    assert report["privacy"]["shared_profile_k"] == 2  # the default


def test_report_runs_the_attacks_it_is_told_to(ran, files):
    _, out = ran
    target = files / "attacked"
    result = _run(
        "report",
        "--real",
        files / "train.csv",
        "--holdout",
        files / "holdout.csv",
        "--artificial",
        out / "artificial.csv",
        "--schema",
        files / "lung.yaml",
        "--quasi-identifiers",
        "age,sex",
        "--secrets",
        "ph_ecog",
        "-o",
        target,
    )
    assert result.exit_code == 0, result.output
    attacks = json.loads((target / "report.json").read_text())["privacy"]["attacks"]
    assert attacks["settings"]["quasi_identifiers"] == ["age", "sex"]
    assert attacks["settings"]["secrets"] == ["ph_ecog"]
    assert [r["attack"] for r in attacks["results"]] == ["singling_out", "linkability", "inference"]


def _report_with(files, artificial, *extra: str):
    return _run(
        "report",
        "--real",
        files / "train.csv",
        "--holdout",
        files / "holdout.csv",
        "--artificial",
        artificial,
        "--schema",
        files / "lung.yaml",
        "--no-attacks",
        "-o",
        files / "never",
        *extra,
    )


def _one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def test_a_shared_profile_k_below_two_exits_2(files):
    result = _report_with(files, files / "holdout.csv", "--shared-profile-k", "1")
    assert result.exit_code == 2
    assert "shared-profile-k" in result.output and not (files / "never").exists()


def test_an_artificial_file_lacking_columns_exits_2(ran, files):
    _, out = ran
    broken = files / "broken.csv"
    pd.read_csv(out / "artificial.csv").drop(columns=["ph_karno"]).to_csv(broken, index=False)
    result = _report_with(files, broken)
    assert result.exit_code == 2
    line = _one_error_line(result.output)
    assert "broken.csv" in line and "ph_karno" in line
    assert not (files / "never").exists()


def test_a_missing_or_unreadable_artificial_file_exits_2(files):
    result = _report_with(files, files / "nowhere.csv")
    assert result.exit_code == 2
    assert "nowhere.csv: file not found" in _one_error_line(result.output)
    garbage = files / "garbage.csv"
    garbage.write_bytes(b"\x00\x01\x02 not a table")
    result = _report_with(files, garbage)
    assert result.exit_code == 2
    _one_error_line(result.output)


def test_an_unknown_quasi_identifier_exits_2(ran, files):
    _, out = ran
    result = _run(
        "report",
        "--real",
        files / "train.csv",
        "--holdout",
        files / "holdout.csv",
        "--artificial",
        out / "artificial.csv",
        "--schema",
        files / "lung.yaml",
        "--quasi-identifiers",
        "age,height",
        "-o",
        files / "never_qi",
    )
    assert result.exit_code == 2
    assert "height" in _one_error_line(result.output)


def test_run_with_no_patient_requested_exits_2(files, tmp_path):
    result = _run(
        "run",
        files / "lung.csv",
        "--schema",
        files / "lung.yaml",
        "--model",
        "copula",
        "-n",
        "0",
        "--no-attacks",
        "--quiet",
        "-o",
        tmp_path / "zero",
    )
    assert result.exit_code == 2
    _one_error_line(result.output)
