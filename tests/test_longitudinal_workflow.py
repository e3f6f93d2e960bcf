"""`jumeau run --longitudinal`: split, fit, sample, filter whole courses, report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from jumeau.cli import app
from jumeau.data.longitudinal import LongitudinalCohort


def trial_visits(n_patients: int = 60, seed: int = 0) -> pd.DataFrame:
    """Made-up trial: a score declining faster without treatment, irregular visits, dropout."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        arm = "treated" if p % 2 else "control"
        level = rng.normal(60, 10)
        slope = -3.0 + (2.0 if arm == "treated" else 0.0) + rng.normal(0, 0.5)
        times = np.cumsum(np.r_[0.0, rng.uniform(0.5, 1.5, rng.integers(1, 7))])
        for t in times:
            score = level + slope * t + rng.normal(0, 2)
            end, dead = round(times[-1] + 0.25, 3), int(rng.random() < 0.3)
            rows.append({"pid": 1000 + p, "month": round(t, 3), "arm": arm, "score": score,
                         "end": end, "dead": dead})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["dead"] = frame.groupby("pid")["dead"].transform("first")
    return frame


def test_run_writes_filtered_courses_and_a_report_without_real_records(tmp_path) -> None:
    data = tmp_path / "visits.csv"
    frame = trial_visits()
    frame.to_csv(data, index=False)
    out = tmp_path / "run"
    runner = CliRunner(env={"COLUMNS": "200"})
    result = runner.invoke(app, ["run", str(data), "--longitudinal", "--id", "pid", "--time",
                                 "month", "--followup", "end", "--event", "dead", "-o", str(out),
                                 "--quiet", "-p", "epochs=5"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "detection_auc" in result.output
    for name in ("artificial.csv", "model.jumeau", "report.html", "report.json", "split.json",
                 "artificial.csv.provenance.json"):  # fmt: skip
        assert (out / name).is_file(), name
    artificial = pd.read_csv(out / "artificial.csv")
    assert artificial["pid"].nunique() == 42  # as many as trained on (70 % of 60)
    assert not set(artificial["pid"].astype(str)) & set(frame["pid"].astype(str))
    report = json.loads((out / "report.json").read_text())
    assert report["meta"]["seed"] == 0 and report["meta"]["versions"]["jumeau"]
    assert report["artificial"]["mixed_models"][0]["measure"] == "score"
    html = (out / "report.html").read_text()
    assert "Statistician's check" in html and "data:image/png;base64" in html
    real_scores = {f"{v:.3f}" for v in frame["score"]}
    shown = real_scores & set(html.split())  # no real measurement printed in the report
    assert not shown
    split = json.loads((out / "split.json").read_text())
    assert len(split["holdout_patient_positions"]) == 18


def test_the_artificial_cohort_reloads_with_the_model_schema(tmp_path) -> None:
    frame = trial_visits()
    cohort = LongitudinalCohort.from_frame(frame, id="pid", time="month", followup="end",
                                           event="dead")  # fmt: skip
    from jumeau.workflow_longitudinal import run_longitudinal

    result = run_longitudinal(cohort, tmp_path, params={"epochs": 3}, progress=False, n=25)
    assert result.artificial.n_patients == 25
    again = LongitudinalCohort(pd.read_csv(tmp_path / "artificial.csv"), result.artificial.schema)
    assert again.n_patients == 25


def test_report_evaluates_an_artificial_cohort_from_files(tmp_path) -> None:
    frame = trial_visits()
    ids = frame["pid"].unique()
    frame[frame["pid"].isin(ids[:40])].to_csv(tmp_path / "train.csv", index=False)
    frame[frame["pid"].isin(ids[40:])].to_csv(tmp_path / "holdout.csv", index=False)
    other = trial_visits(seed=7)  # "another tool's" cohort: a fresh draw of the same process
    other.to_csv(tmp_path / "artificial.csv", index=False)
    runner = CliRunner(env={"COLUMNS": "200"})
    layout = ["--longitudinal", "--id", "pid", "--time", "month", "--followup", "end",
              "--event", "dead"]  # fmt: skip
    result = runner.invoke(app, ["report", "--real", str(tmp_path / "train.csv"), "--holdout",
                                 str(tmp_path / "holdout.csv"), "--artificial",
                                 str(tmp_path / "artificial.csv"), "-o", str(tmp_path / "r"),
                                 *layout])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["artificial"]["detection_auc"] < 0.8  # same process: hard to tell apart
    broken = other.drop(columns="score")
    broken.to_csv(tmp_path / "broken.csv", index=False)
    failed = runner.invoke(app, ["report", "--real", str(tmp_path / "train.csv"), "--holdout",
                                 str(tmp_path / "holdout.csv"), "--artificial",
                                 str(tmp_path / "broken.csv"), "-o", str(tmp_path / "r2"),
                                 *layout])  # fmt: skip
    assert failed.exit_code != 0 and "lacks columns" in failed.output
