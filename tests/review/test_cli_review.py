"""`jumeau review create` and `jumeau review results` from the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from jumeau.cli import app
from jumeau.datasets import load, schema

runner = CliRunner()


def _run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_create_prints_links_and_results_are_written(tmp_path: Path) -> None:
    (tmp_path / "gbsg2.yaml").write_text(schema("gbsg2").to_yaml(), encoding="utf-8")
    real = load("gbsg2").to_csv(tmp_path / "real.csv")
    assert (
        _run(
            "fit",
            real,
            "-s",
            tmp_path / "gbsg2.yaml",
            "-m",
            "copula",
            "-o",
            tmp_path / "c.jumeau",
            "--quiet",
        ).exit_code
        == 0
    )
    assert (
        _run("sample", tmp_path / "c.jumeau", "-n", "100", "-o", tmp_path / "art.csv").exit_code
        == 0
    )
    db = tmp_path / "study.db"
    created = _run(
        "review",
        "create",
        "--real",
        real,
        "--artificial",
        tmp_path / "art.csv",
        "-s",
        tmp_path / "gbsg2.yaml",
        "--records",
        "10",
        "--reviewers",
        "ann,ben",
        "--base-url",
        "http://h:9",
        "-o",
        db,
    )
    assert created.exit_code == 0, created.output
    links = re.findall(r"http://h:9/login/[\w-]+", created.output)
    assert len(links) == 2 and "admin/login" in created.output
    again = _run(
        "review",
        "create",
        "--real",
        real,
        "--artificial",
        tmp_path / "art.csv",
        "--records",
        "10",
        "--reviewers",
        "ann",
        "-o",
        db,
    )
    assert again.exit_code == 2 and "exists" in again.output
    out = tmp_path / "results.json"
    result = _run("review", "results", db, "-o", out)
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["records"] == 10 and payload["votes"] == 0
    assert payload["power"]["records_needed"] > 100
    html = tmp_path / "results.html"
    assert _run("review", "results", db, "-o", html).exit_code == 0
    assert "ann" in html.read_text(encoding="utf-8")
