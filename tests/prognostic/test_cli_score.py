"""`jumeau score fit / validate / explain`: the outside team's and the hospital's sides."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from jumeau.cli import app
from jumeau.datasets import load, schema

runner = CliRunner()


def _run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gbsg2 split in three (generator training, real comparison, holdout), and an artificial
    cohort sampled by the copula from the first part, with its provenance file."""
    folder = tmp_path_factory.mktemp("score")
    cohort = load("gbsg2")
    (folder / "gbsg2.yaml").write_text(schema("gbsg2").to_yaml(), encoding="utf-8")
    frame = pd.read_csv(cohort.to_csv(folder / "all.csv"))
    rows = np.random.default_rng(0).permutation(len(frame))
    frame.iloc[np.sort(rows[:350])].to_csv(folder / "train.csv", index=False)
    frame.iloc[np.sort(rows[350:500])].to_csv(folder / "holdout.csv", index=False)
    fitted = _run(
        "fit",
        folder / "train.csv",
        "-s",
        folder / "gbsg2.yaml",
        "-m",
        "copula",
        "-o",
        folder / "copula.jumeau",
        "--quiet",
    )
    assert fitted.exit_code == 0, fitted.output
    sampled = _run("sample", folder / "copula.jumeau", "-n", "700", "-o", folder / "artificial.csv")
    assert sampled.exit_code == 0, sampled.output
    return folder


@pytest.fixture(scope="module")
def score_file(files: Path) -> Path:
    result = _run(
        "score",
        "fit",
        files / "artificial.csv",
        "-s",
        files / "gbsg2.yaml",
        "--target",
        "cens",
        "--time",
        "time",
        "--select",
        "4",
        "-o",
        files / "score.jumeau",
    )
    assert result.exit_code == 0, result.output
    assert "artificial patients" in result.output and "chosen variables" in result.output
    return files / "score.jumeau"


def test_score_fit_says_what_it_fitted(score_file: Path, files: Path) -> None:
    from jumeau.prognostic.persistence import load_score

    score = load_score(score_file)
    assert score.training_["artificial"] is True  # the provenance file lies beside the data
    assert len(score.variables_) == 4
    assert score.task_.time == "time"


def test_score_validate_writes_a_card_that_compares_with_real_training(
    score_file: Path, files: Path
) -> None:
    out = files / "card"
    result = _run(
        "score",
        "validate",
        score_file,
        files / "holdout.csv",
        "--real-train",
        files / "train.csv",
        "--bootstrap",
        "20",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "c_index" in result.output and "artificial − real" in result.output
    card = json.loads((out / "card.json").read_text(encoding="utf-8"))
    assert [s["label"] for s in card["scores"]] == [
        "trained on artificial patients",
        "trained on real patients",
    ]
    assert card["comparison"]["metric"] == "c_index"
    assert -1 < card["comparison"]["difference"] < 1
    assert card["meta"]["seed"] == 0 and card["meta"]["versions"]["jumeau"]
    html = (out / "card.html").read_text(encoding="utf-8")
    assert "Decision curve" in html and "Calibration" in html and "Intended use" in html
    holdout = pd.read_csv(files / "holdout.csv")
    for _, row in holdout.head(30).iterrows():  # no real patient appears in the card
        needle = ",".join(str(v) for v in row.tolist())
        assert needle not in html
        assert str(row.tolist()) not in json.dumps(card)


def test_score_explain_writes_additive_shap_values(score_file: Path, files: Path) -> None:
    out = files / "explained.csv"
    result = _run("score", "explain", score_file, files / "holdout.csv", "-o", out)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 150
    values = table.drop(columns=["risk", "base"]).sum(1) + table["base"]
    np.testing.assert_allclose(values, table["risk"], atol=1e-6)


def test_errors_are_one_line_with_exit_code_2(files: Path) -> None:
    result = _run(
        "score",
        "fit",
        files / "artificial.csv",
        "-s",
        files / "gbsg2.yaml",
        "--target",
        "tgrade",
        "-o",
        files / "bad.jumeau",
    )
    assert result.exit_code == 2
    assert "binary category" in result.output
    missing = _run(
        "score", "validate", files / "nowhere.jumeau", files / "holdout.csv", "-o", files / "x"
    )
    assert missing.exit_code == 2 and "not found" in missing.output


def test_artificial_cohort_without_excluded_columns_is_read_against_the_full_schema(
    tmp_path: Path,
) -> None:
    """lung's schema excludes `inst`: the artificial file lacks it, the real file has it."""
    (tmp_path / "lung.yaml").write_text(schema("lung").to_yaml(), encoding="utf-8")
    real = load("lung").to_csv(tmp_path / "lung.csv")
    assert (
        _run(
            "fit",
            real,
            "-s",
            tmp_path / "lung.yaml",
            "-m",
            "copula",
            "-o",
            tmp_path / "c.jumeau",
            "--quiet",
        ).exit_code
        == 0
    )
    assert (
        _run("sample", tmp_path / "c.jumeau", "-n", "400", "-o", tmp_path / "art.csv").exit_code
        == 0
    )
    assert "inst" not in pd.read_csv(tmp_path / "art.csv").columns
    fitted = _run(
        "score",
        "fit",
        tmp_path / "art.csv",
        "-s",
        tmp_path / "lung.yaml",
        "--select",
        "3",
        "--model",
        "reference",
        "-o",
        tmp_path / "s.jumeau",
    )
    assert fitted.exit_code == 0, fitted.output
    validated = _run(
        "score",
        "validate",
        tmp_path / "s.jumeau",
        real,
        "--bootstrap",
        "5",
        "-o",
        tmp_path / "card",
    )
    assert validated.exit_code == 0, validated.output
    card = json.loads((tmp_path / "card" / "card.json").read_text(encoding="utf-8"))
    assert card["scores"][0]["training"]["artificial"] is True
    assert card["scores"][0]["model"] == "cox"
