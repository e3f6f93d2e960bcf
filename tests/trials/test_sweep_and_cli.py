"""Scenario sweeps (serial and on a local Ray runtime), power curves, and `jumeau trial`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from jumeau.cli import app
from jumeau.errors import JumeauError
from jumeau.trials import Arm, CohortPopulation, Endpoint, TrialDesign
from jumeau.trials.sweep import plot_power_curves, sweep

runner = CliRunner(env={"COLUMNS": "200"})  # wide enough for the result tables


def design() -> TrialDesign:
    return TrialDesign(
        arms=[Arm(name="control", control=True), Arm(name="therapy", shift=150.0)],
        sample_size=100,
        endpoint=Endpoint(outcome="rmst"),
        covariates=["age", "pnodes"],
        analyses=["unadjusted", "ancova"],
    )


def test_serial_sweep_grid_and_power_curves(
    baseline_and_rmst: pd.DataFrame, tmp_path: Path
) -> None:
    table = sweep(
        design(),
        CohortPopulation(baseline_and_rmst),
        sample_sizes=[80, 320],
        effects=[0.0, 250.0],
        n_trials=30,
        engine="serial",
        progress=False,
    )
    # 2 sizes × 2 effects × 2 scenarios × 2 analyses
    assert len(table) == 16
    assert list(table.columns[:3]) == ["design", "sample_size", "effect"]
    power = table[(table["scenario"] == "alternative") & (table["analysis"] == "ancova")]
    by_point = power.set_index(["sample_size", "effect"])["rejection_rate"]
    assert by_point[(320, 250.0)] > by_point[(80, 250.0)]  # more patients, more power
    plot_power_curves(table, tmp_path / "power.png")
    assert (tmp_path / "power.png").stat().st_size > 5000
    with pytest.raises(JumeauError, match="engine"):
        sweep(design(), CohortPopulation(baseline_and_rmst), engine="spark")  # type: ignore[arg-type]


def test_ray_sweep_matches_the_serial_one(baseline_and_rmst: pd.DataFrame) -> None:
    pytest.importorskip("ray")
    population = CohortPopulation(baseline_and_rmst)
    # one point: starting Ray's worker processes is the cost here, not the trials
    kwargs = {"sample_sizes": [60], "n_trials": 4, "seed": 5, "progress": False}
    on_ray = sweep(design(), population, engine="ray", num_cpus=2, **kwargs)  # type: ignore[arg-type]
    serial = sweep(design(), population, engine="serial", **kwargs)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(on_ray, serial)


def write_design(tmp_path: Path) -> Path:
    path = tmp_path / "design.yaml"
    path.write_text(
        "name: rmst-trial\n"
        "arms:\n  - {name: control, control: true}\n  - {name: therapy, shift: 150}\n"
        "sample_size: 100\nendpoint: {outcome: rmst}\ncovariates: [age, pnodes]\n"
        "historical_size: 100\n"
    )
    return path


def test_cli_simulate_writes_results_with_provenance(
    baseline_and_rmst: pd.DataFrame, tmp_path: Path
) -> None:
    cohort = tmp_path / "artificial.csv"
    baseline_and_rmst.to_csv(cohort, index=False)
    result = runner.invoke(
        app,
        [
            "trial",
            "simulate",
            str(write_design(tmp_path)),
            "--population",
            str(cohort),
            "--n-trials",
            "10",
            "-o",
            str(tmp_path / "out"),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "trial-simulation.json").read_text())
    assert record["seed"] == 0 and len(record["population"]["sha256"]) == 64
    assert "jumeau" in record["versions"]
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert set(summary["analysis"]) == {"unadjusted", "ancova", "procova"}
    assert (tmp_path / "out" / "estimates.csv").exists()


def test_cli_simulate_sweep_and_errors(baseline_and_rmst: pd.DataFrame, tmp_path: Path) -> None:
    cohort = tmp_path / "artificial.csv"
    baseline_and_rmst.to_csv(cohort, index=False)
    result = runner.invoke(
        app,
        [
            "trial",
            "simulate",
            str(write_design(tmp_path)),
            "--population",
            str(cohort),
            "--n-trials",
            "5",
            "--sample-sizes",
            "60,120",
            "--engine",
            "serial",
            "-q",
            "-o",
            str(tmp_path / "sweep"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sweep" / "power.png").exists()
    missing = runner.invoke(
        app,
        ["trial", "simulate", str(write_design(tmp_path)), "--population", "nope.csv", "-o", "x"],
    )
    assert missing.exit_code != 0 and "not found" in missing.output
    bad = runner.invoke(
        app,
        [
            "trial",
            "simulate",
            str(write_design(tmp_path)),
            "--population",
            str(cohort),
            "--sample-sizes",
            "a,b",
            "-o",
            str(tmp_path / "bad"),
        ],
    )
    assert bad.exit_code != 0 and "comma-separated" in bad.output


def test_cli_analyse_the_real_gbsg2_trial(gbsg2: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "trial.csv"
    gbsg2.to_csv(path, index=False)
    result = runner.invoke(
        app,
        [
            "trial",
            "analyse",
            str(path),
            "--arm",
            "horTh",
            "--control",
            "no",
            "--outcome",
            "rmst",
            "--covariate",
            "pnodes",
            "--covariate",
            "tgrade",
            "--prognostic-column",
            "progrec",
        ],
    )
    assert result.exit_code == 0, result.output
    for word in ("unadjusted", "ancova", "procova", "yes"):
        assert word in result.output
    survival = runner.invoke(
        app,
        [
            "trial",
            "analyse",
            str(path),
            "--arm",
            "horTh",
            "--control",
            "no",
            "--outcome",
            "time",
            "--event",
            "cens",
        ],
    )
    assert survival.exit_code == 0, survival.output
    assert "log hazard ratio" in survival.output
    wrong = runner.invoke(
        app,
        ["trial", "analyse", str(path), "--arm", "horTh", "--control", "none", "--outcome", "rmst"],
    )
    assert wrong.exit_code != 0 and "control arm" in wrong.output


def test_cli_analyse_with_a_saved_prognostic_score(gbsg2: pd.DataFrame, tmp_path: Path) -> None:
    """PROCOVA's score from `jumeau score fit` on historical patients (safetensors, no pickle)."""
    from jumeau.data.cohort import Cohort
    from jumeau.data.schema import Role
    from jumeau.datasets import load
    from jumeau.prognostic.score import PrognosticScore

    cohort = load("gbsg2")
    schema = cohort.schema.model_copy(deep=True)
    schema.columns["horTh"].role = Role.EXCLUDED  # constant among controls
    controls = np.flatnonzero((gbsg2["horTh"] == "no").to_numpy())[:300]
    historical = Cohort(cohort.data.iloc[controls].reset_index(drop=True), schema)
    score = PrognosticScore(model="reference", n_variables=3, folds=3, repeats=1)
    score.fit(historical, seed=0)
    score.save(str(tmp_path / "score.jumeau"))
    path = tmp_path / "trial.csv"
    gbsg2.to_csv(path, index=False)
    result = runner.invoke(
        app,
        [
            "trial",
            "analyse",
            str(path),
            "--arm",
            "horTh",
            "--control",
            "no",
            "--outcome",
            "rmst",
            "--covariate",
            "pnodes",
            "--prognostic-model",
            str(tmp_path / "score.jumeau"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "procova" in result.output


def test_cli_simulate_on_a_twin_fit_file(progression_fit: object, tmp_path: Path) -> None:
    fit_file = tmp_path / "twins.jumeau"
    progression_fit.save(fit_file)  # type: ignore[attr-defined]
    design = tmp_path / "twin-design.yaml"
    design.write_text(
        "arms:\n  - {name: placebo, control: true}\n"
        "  - {name: drug, regimen: '10 mg q24h x400'}\n"
        "sample_size: 60\nendpoint: {baseline: score, at: 8766, run_in: 4383}\n"
        "historical_size: 100\n"
    )
    result = runner.invoke(
        app,
        [
            "trial",
            "simulate",
            str(design),
            "--population",
            str(fit_file),
            "--n-trials",
            "5",
            "-q",
            "-o",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    alternative = summary[summary["scenario"] == "alternative"]
    assert (alternative["mean_estimate"] < 0).all()  # the drug slows the worsening score
