"""`jumeau federated simulate`: files in, a model file and its record out; clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jumeau.cli import app
from jumeau.data.cohort import Cohort

runner = CliRunner(env={"COLUMNS": "200"})


def _site_files(tmp_path: Path, gbsg2: Cohort) -> list[Path]:
    paths = []
    for level in ("Pre", "Post"):
        path = tmp_path / f"{level.lower()}.csv"
        gbsg2.data[gbsg2.data["menostat"] == level].to_csv(path, index=False)
        paths.append(path)
    return paths


def test_simulate_writes_the_model_and_its_record(tmp_path: Path, gbsg2: Cohort) -> None:
    pytest.importorskip("flwr")
    schema = tmp_path / "schema.yaml"
    gbsg2.schema.to_yaml(schema)
    sites = [arg for path in _site_files(tmp_path, gbsg2) for arg in ("--site", str(path))]
    output = tmp_path / "model.jumeau"
    result = runner.invoke(app, ["federated", "simulate", *sites, "-o", str(output),
                                 "--schema", str(schema), "-p", "em_iterations=1",
                                 "--sketch-epsilon", "10"])  # fmt: skip
    assert result.exit_code == 0, result.output
    # 5 rounds, or 6–7 when the noisy sketches of tied columns (pnodes, …) carry repeated
    # points, which the copula models as atoms with a round of flags: the (unseedable) DP noise
    # decides — 7 was seen once in a CI run
    assert re.search(r"federated copula on 2 sites \(686 patients, [5-7] rounds", result.output)
    assert "DP sketches: ε = 10 per site" in result.output
    record = json.loads((tmp_path / "model.jumeau.federated.json").read_text())
    assert record["sites"] == {"pre": 290, "post": 396} and record["seed"] == 0
    assert record["sketch_epsilon"] == {"pre": 10.0, "post": 10.0}
    assert record["versions"]["jumeau"]
    sampled = runner.invoke(app, ["sample", str(output), "-n", "20", "-o", str(tmp_path / "a.csv")])
    assert sampled.exit_code == 0, sampled.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "at least two --site files"),
        (["--model", "vae", "--artificial", "10"], "only for rhvae"),
        (["--strategy", "fedsgd"], "federated settings: strategy"),
    ],
)
def test_simulate_refuses_clearly(
    tmp_path: Path, gbsg2: Cohort, extra: list[str], message: str
) -> None:
    paths = _site_files(tmp_path, gbsg2)
    sites = (
        ["--site", str(paths[0])]
        if not extra
        else [arg for path in paths for arg in ("--site", str(path))]
    )
    result = runner.invoke(app, ["federated", "simulate", *sites, "-o",
                                 str(tmp_path / "m.jumeau"), *extra])  # fmt: skip
    assert result.exit_code == 2
    assert message in result.output


def test_exact_sketches_are_an_explicit_opt_out() -> None:
    from jumeau.cli.federated import _federated_settings
    from jumeau.errors import JumeauError
    from jumeau.federated.config import DEFAULT_SKETCH_EPSILON, FederatedConfig

    assert FederatedConfig().sketch_epsilon == DEFAULT_SKETCH_EPSILON  # DP unless told
    none = (None, None, None, None, None)
    assert "sketch_epsilon" not in _federated_settings(*none, None)
    assert _federated_settings(*none, None, True)["sketch_epsilon"] is None
    assert _federated_settings(*none, 3.0)["sketch_epsilon"] == 3.0
    with pytest.raises(JumeauError, match="exclude each other"):
        _federated_settings(*none, 3.0, True)
