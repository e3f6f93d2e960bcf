"""`jumeau complete`: m completed files and a report of aggregates only, on real lung data."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from jumeau.cli import app

runner = CliRunner()


def _export(tmp_path: Path) -> tuple[Path, Path]:
    data, schema = tmp_path / "lung.csv", tmp_path / "lung.yaml"
    result = runner.invoke(app, ["datasets", "lung", "-o", str(data), "--schema-out", str(schema)])
    assert result.exit_code == 0, result.output
    return data, schema


def test_writes_m_completed_files_and_a_report(tmp_path: Path) -> None:
    data, schema = _export(tmp_path)
    out = tmp_path / "completed"
    result = runner.invoke(
        app,
        [
            "complete",
            str(data),
            "--schema",
            str(schema),
            "--model",
            "copula",
            "-m",
            "3",
            "--seed",
            "7",
            "-o",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "completed 66 missing values in 60 of 228 patients, 3 times" in result.output
    original = pd.read_csv(data)
    for copy in (1, 2, 3):
        frame = pd.read_csv(out / f"lung_{copy}.csv")
        assert frame.shape == original.shape
        assert frame.drop(columns=["inst"]).notna().all().all()
        observed = original.notna()
        assert (frame[observed].fillna(0) == original[observed].fillna(0)).all().all()
    report = json.loads((out / "report.json").read_text())
    assert report["meta"]["seed"] == 7 and len(report["meta"]["inputs_sha256"]["data"]) == 64
    assert report["completion"]["cells_completed"] == 66 and report["completion"]["m"] == 3
    assert report["missingness_before"]["missing_by_column"]["meal_cal"] == 47
    assert report["imputed_vs_observed"]["meal_cal"]["imputed_cells"] == 47
    html = (out / "report.html").read_text()
    assert "Completion report" in html and "data:image/png;base64" in html
    # aggregates only: no real patient's row in any common layout, no min or max value
    rows = original.drop(columns=["inst"]).astype(str).to_numpy().tolist()
    text = json.dumps(report) + html
    for row in rows:
        assert ",".join(row) not in text and ", ".join(row) not in text
    for column in ("meal_cal", "wt_loss"):
        for extreme in (original[column].min(), original[column].max()):
            assert f": {extreme}," not in json.dumps(report["imputed_vs_observed"][column])


def test_same_seed_same_files_and_bad_m_is_refused(tmp_path: Path) -> None:
    data, schema = _export(tmp_path)
    args = [
        "complete",
        str(data),
        "--schema",
        str(schema),
        "--model",
        "copula",
        "-m",
        "2",
        "--quiet",
    ]
    runner.invoke(app, [*args, "-o", str(tmp_path / "a")])
    runner.invoke(app, [*args, "-o", str(tmp_path / "b")])
    assert (tmp_path / "a" / "lung_1.csv").read_text() == (
        tmp_path / "b" / "lung_1.csv"
    ).read_text()
    result = runner.invoke(app, ["complete", str(data), "-m", "0", "-o", str(tmp_path / "c")])
    assert result.exit_code == 2 and "m (completed copies)" in result.output
    result = runner.invoke(
        app,
        [
            "complete",
            str(data),
            "--model-file",
            str(data),
            "-p",
            "epochs=3",
            "-o",
            str(tmp_path / "d"),
        ],
    )
    assert result.exit_code == 2 and "--param" in result.output


def test_a_saved_model_can_complete(tmp_path: Path) -> None:
    data, schema = _export(tmp_path)
    model = tmp_path / "copula.jumeau"
    fitted = runner.invoke(
        app, ["fit", str(data), "--schema", str(schema), "--model", "copula", "-o", str(model)]
    )
    assert fitted.exit_code == 0, fitted.output
    result = runner.invoke(
        app,
        [
            "complete",
            str(data),
            "--schema",
            str(schema),
            "--model-file",
            str(model),
            "-m",
            "2",
            "-o",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "lung_2.csv").exists()
