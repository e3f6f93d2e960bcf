"""Evaluation of artificial long-format cohorts: hand-computed answers on tiny courses, then
behaviour on simulated cohorts (a cohort against itself scores 0; shifted, reordered or copied
courses are caught by the metric meant for them), then the real csl and stanford cohorts."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from jumeau.data.longitudinal import LongitudinalCohort
from jumeau.data.schema import Schema
from jumeau.errors import DataError
from jumeau.longitudinal.evaluation import (
    CEILING,
    evaluate_longitudinal,
    filter_close_trajectories,
    lag1_autocorrelation,
    split_patients,
    trajectory_dcr,
    trajectory_detection_auc,
    trajectory_features,
    trajectory_filter,
    trajectory_shapes,
    visit_process_fidelity,
    visit_windows,
    window_fidelity,
)
from jumeau.longitudinal.mixed_model import mixed_model_comparison

LAYOUT = {"id": "patient", "time": "time", "followup": "followup", "event": "event"}


def _frame(
    n: int = 40,
    *,
    seed: int = 0,
    slope: float = 2.0,
    slope_sd: float = 0.5,
    shift: float = 0.0,
    schedule: list[float] | None = None,
    time_unit: float = 1.0,
) -> pd.DataFrame:
    """Courses with a random intercept and slope per patient, a baseline age and sex effect, a
    categorical state at each visit, a follow-up end and an event."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        if schedule is None:
            times = np.r_[0.0, np.cumsum(rng.exponential(1.0, rng.integers(2, 7)))]
        else:
            times = np.asarray(schedule, dtype=float)
        age, sex = rng.normal(60, 10), rng.choice(["female", "male"])
        b0, b1 = rng.normal(0, 3), rng.normal(0, slope_sd)
        noise = rng.normal(0, 1, len(times))
        y = 50 + shift + b0 + 0.2 * (age - 60) + 2.0 * (sex == "male") + (slope + b1) * times
        states = rng.choice(["low", "mid", "high"], len(times))
        end, event = times[-1] + rng.exponential(1.0), int(rng.random() < 0.4)
        for t, value, state in zip(times, y + noise, states, strict=True):
            rows.append({"patient": f"id-{seed}-{i:03d}", "time": t * time_unit, "y": value,
                         "state": state, "age": age, "sex": sex, "followup": end * time_unit,
                         "event": event})  # fmt: skip
    return pd.DataFrame(rows)


def _cohort(frame: pd.DataFrame) -> LongitudinalCohort:
    document = Schema.infer(frame).model_dump()
    document["columns"]["time"] = {"kind": "continuous", "min": 0}  # a schedule looks ordinal
    schema = Schema.model_validate(document)
    return LongitudinalCohort.from_frame(frame, varying=["y", "state"], schema=schema, **LAYOUT)


def _hand_made(frame: pd.DataFrame, varying: list[str], **layout: str) -> LongitudinalCohort:
    """A tiny cohort with declared kinds (too few values to infer them): numbers continuous,
    text binary or categorical."""
    columns: dict[str, dict] = {}
    for name in frame.columns:
        if frame[name].dtype == object:
            levels = sorted(set(frame[name]))
            kind = "binary" if len(levels) == 2 else "categorical"
            columns[name] = {"kind": kind, "categories": levels}
        elif name == "event":
            columns[name] = {"kind": "binary", "categories": [0, 1]}
        else:
            columns[name] = {"kind": "continuous"}
    columns["patient"] = {"kind": "identifier", "role": "identifier"}
    schema = Schema.model_validate({"columns": columns})
    return LongitudinalCohort.from_frame(frame, varying=varying, schema=schema, **layout)


def _like(real: LongitudinalCohort, frame: pd.DataFrame) -> LongitudinalCohort:
    """An artificial cohort with the real cohort's schema."""
    return LongitudinalCohort(frame.reset_index(drop=True), real.schema, artificial=True)


@pytest.fixture(scope="module")
def real() -> LongitudinalCohort:
    return _cohort(_frame(40, seed=0))


# ---------------------------------------------------------------------- known answers
def test_trajectory_features_by_hand():
    frame = pd.DataFrame(
        {
            "patient": ["a", "a", "a", "b", "c", "c", "c"],
            "time": [0.0, 1.0, 3.0, 0.0, 0.0, 2.0, 4.0],
            "y": [1.0, 3.0, 7.0, 5.0, 2.0, np.nan, 2.0],  # a: y = 1 + 2t; c: one missing
            "flag": ["no", "yes", "yes", "no", "no", "yes", "no"],
            "age": [50.0, 50.0, 50.0, 60.0, 70.0, 70.0, 70.0],
            "followup": [4.0, 4.0, 4.0, 0.5, 5.0, 5.0, 5.0],
            "event": [1, 1, 1, 0, 0, 0, 0],
        }
    )
    cohort = _hand_made(frame, ["y", "flag"], **LAYOUT)
    features = trajectory_features(cohort)
    assert features["age"].tolist() == [50.0, 60.0, 70.0]
    assert features["n_visits"].tolist() == [3, 1, 3]
    assert features["followup_length"].tolist() == [4.0, 0.5, 5.0]
    assert features["event"].astype(int).tolist() == [1, 0, 0]
    assert features["mean_gap"].tolist() == [1.5, 0.0, 2.0]
    assert features["y_first"].tolist() == [1.0, 5.0, 2.0]
    assert features["y_last"].tolist() == [7.0, 5.0, 2.0]
    assert features["y_slope"].tolist() == pytest.approx([2.0, 0.0, 0.0])
    assert features["y_intercept"].tolist() == pytest.approx([1.0, 5.0, 2.0])
    assert features["y_sd"].tolist() == pytest.approx([np.std([1, 3, 7], ddof=1), 0.0, 0.0])
    # binary varying column: share of the non-reference level and changes
    assert features["flag_share_yes"].tolist() == pytest.approx([2 / 3, 0.0, 1 / 3])
    assert features["flag_changes"].tolist() == [1, 0, 2]
    assert "flag_share_no" not in features.columns


def test_visit_process_by_hand():
    def cohort(counts: list[int], gap: float, events: list[int]) -> LongitudinalCohort:
        rows = [
            {"patient": f"p{i}", "time": gap * k, "y": float(k), "age": 1.0 * i,
             "followup": gap * (count - 1) + 1.0, "event": events[i]}
            for i, count in enumerate(counts) for k in range(count)
        ]  # fmt: skip
        return _hand_made(pd.DataFrame(rows), ["y"], **LAYOUT)

    real = cohort([1, 2, 2, 3], 1.0, [0, 0, 1, 1])
    other = cohort([2, 2, 2, 2], 2.0, [0, 0, 0, 1])
    result = visit_process_fidelity(real, other)
    # counts {1: .25, 2: .5, 3: .25} vs {2: 1}
    assert result.visit_count_tvd == pytest.approx(0.5)
    assert result.gap_ks == pytest.approx(1.0)  # every real gap is 1, every other gap 2
    assert result.event_share_real == 0.5
    assert result.event_share_artificial == 0.25
    assert result.event_share_diff == pytest.approx(0.25)
    assert result.mean_visits_real == 2.0
    same = visit_process_fidelity(real, real)
    assert (same.visit_count_tvd, same.gap_ks, same.followup_ks, same.event_share_diff) == (
        0.0, 0.0, 0.0, 0.0,
    )  # fmt: skip


def test_windows_merge_tied_schedule_times():
    # an aids-like schedule: most visits at 0, fewer later: quantile edges repeat
    frame = _frame(30, seed=1, schedule=[0, 2, 6, 12, 18])
    frame = frame[~((frame["time"] > 6) & (frame.index % 3 != 0))]  # drop many late visits
    cohort = _cohort(frame)
    edges = visit_windows(cohort, 6)
    assert len(edges) == len(set(edges))
    assert set(edges) <= {0.0, 2.0, 6.0, 12.0}  # edges are scheduled times, never the last one
    result = window_fidelity(cohort, cohort, n_windows=6)
    assert (result.table["n_real"] > 0).all()  # no window empty of real visits
    assert result.mean == 0.0
    assert set(result.table["statistic"]) == {"ks", "tvd"}
    assert result.table.groupby("window")["n_real"].first().sum() == len(cohort.data)
    assert visit_windows(cohort, 1).size == 0  # one window: every visit


def test_lag1_autocorrelation_by_hand():
    frame = pd.DataFrame(
        {
            "patient": ["a"] * 4 + ["b"] * 2,
            "time": [0.0, 1.0, 2.0, 3.0, 0.0, 1.0],
            "y": [1.0, 2.0, 3.0, 4.0, 0.0, 9.0],  # b has < 3 values: left out
            "age": [1.0] * 4 + [2.0] * 2,
        }
    )
    cohort = _hand_made(frame, ["y"], id="patient", time="time")
    # deviations -1.5, -0.5, 0.5, 1.5: (0.75 - 0.25 + 0.75) / 5
    assert lag1_autocorrelation(cohort, "y") == pytest.approx(0.25)


# ---------------------------------------------------------------------- behaviour
def test_a_cohort_against_itself_scores_zero(real):
    assert window_fidelity(real, real).mean == 0.0
    (shape,) = trajectory_shapes(real, real)
    assert (shape.slope_ks, shape.intercept_ks, shape.autocorrelation_diff) == (0.0, 0.0, 0.0)
    comparison = mixed_model_comparison(real, real, "y", ["age", "sex"])
    assert comparison.random_slope
    assert comparison.inside_real_ci == "4/4"
    assert [e.term for e in comparison.fixed_effects] == ["Intercept", "time", "age", "sex[male]"]
    for effect in comparison.fixed_effects:
        assert effect.artificial_estimate == pytest.approx(effect.real_estimate)


def test_mixed_model_recovers_the_slope_in_original_time_units():
    years = _cohort(_frame(40, seed=2, slope=2.0))
    other = _cohort(_frame(40, seed=3, slope=2.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # statsmodels' warnings are recorded, never raised
        comparison = mixed_model_comparison(years, other, "y", ["age", "sex"])
    effects = {e.term: e for e in comparison.fixed_effects}
    low, high = effects["time"].real_ci
    assert low < 2.0 < high
    assert effects["time"].real_estimate == pytest.approx(2.0, abs=0.4)
    assert effects["age"].real_estimate == pytest.approx(0.2, abs=0.15)
    assert comparison.real_variance.intercept_sd == pytest.approx(3.0, rel=0.5)
    assert comparison.real_variance.residual_sd == pytest.approx(1.0, rel=0.3)
    # the same courses in days: the time effect is per day, intercepts unchanged
    days = _cohort(_frame(40, seed=2, slope=2.0, time_unit=30.0))
    in_days = mixed_model_comparison(days, days, "y", ["age", "sex"])
    per_day = {e.term: e for e in in_days.fixed_effects}
    assert per_day["time"].real_estimate == pytest.approx(effects["time"].real_estimate / 30, 1e-3)
    assert per_day["Intercept"].real_estimate == pytest.approx(
        effects["Intercept"].real_estimate, rel=1e-3
    )
    assert in_days.time_scale == pytest.approx(30 * comparison.time_scale)
    json.dumps(comparison.as_dict(), allow_nan=False)


def test_mixed_model_falls_back_to_a_random_intercept_with_a_note():
    # two visits each and no slope variability at all: the random slope is not identifiable
    frame = _frame(30, seed=4, slope_sd=0.0, schedule=[0.0, 1.0])
    cohort = _cohort(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        comparison = mixed_model_comparison(cohort, cohort, "y")
    assert not comparison.random_slope
    assert any("random intercept only" in note for note in comparison.notes)
    assert np.isnan(comparison.real_variance.slope_sd)
    assert comparison.inside_real_ci == "2/2"


def test_mixed_model_rejects_wrong_columns(real):
    with pytest.raises(DataError, match="not a varying"):
        mixed_model_comparison(real, real, "age")
    with pytest.raises(DataError, match="numeric"):
        mixed_model_comparison(real, real, "state")
    with pytest.raises(DataError, match="static"):
        mixed_model_comparison(real, real, "y", ["state"])


def test_shifted_values_are_caught_everywhere(real):
    frame = real.data.copy()
    frame["y"] = frame["y"] + 10.0  # about 3 between-patient sds
    shifted = _like(real, frame)
    windows = window_fidelity(real, shifted)
    numbers = windows.table[windows.table["column"] == "y"]
    assert numbers["value"].mean() > 0.8
    assert windows.table.loc[windows.table["column"] == "state", "value"].max() == 0.0
    assert trajectory_detection_auc(real, shifted) > 0.9
    comparison = mixed_model_comparison(real, shifted, "y", ["age", "sex"])
    inside = {e.term: e.inside_real_ci for e in comparison.fixed_effects}
    assert inside == {"Intercept": False, "time": True, "age": True, "sex[male]": True}
    (shape,) = trajectory_shapes(real, shifted)
    assert shape.slope_ks < 0.1  # the same slopes, up to rounding
    assert shape.intercept_ks > 0.8


def test_reordered_values_match_every_window_but_not_the_courses():
    # the same values at each scheduled visit, dealt to patients at random: every window's
    # marginal is unchanged, patients' own courses (autocorrelation, random effects) are not
    frame = _frame(60, seed=5, schedule=[0, 1, 2, 3, 4, 5], slope=1.0, slope_sd=1.0)
    real = _cohort(frame)
    rng = np.random.default_rng(0)
    mixed = frame.copy()
    for _, rows in mixed.groupby("time").groups.items():
        mixed.loc[rows, "y"] = rng.permutation(mixed.loc[rows, "y"].to_numpy())
    reordered = _like(real, mixed)
    assert window_fidelity(real, reordered).mean == 0.0
    (shape,) = trajectory_shapes(real, reordered)
    assert shape.autocorrelation_real > 0.3
    assert shape.autocorrelation_diff > 0.3
    comparison = mixed_model_comparison(real, reordered, "y")
    assert comparison.artificial_variance.intercept_sd < 0.5 * comparison.real_variance.intercept_sd


def test_copied_courses_are_found_and_filtered(real):
    holdout = _cohort(_frame(30, seed=6))
    fresh = _frame(30, seed=7)
    copies = real.data.iloc[: int((real.data["patient"] < "id-0-010").sum())].copy()
    copies["patient"] = "copy-" + copies["patient"].astype(str)
    artificial = _like(real, pd.concat([copies, fresh]))
    dcr = trajectory_dcr(real, holdout, artificial)
    assert dcr.exact_copies == 10
    result = trajectory_filter(artificial, real, holdout)
    assert result.n_exact_copies == 10
    assert result.n_removed >= 10
    kept_ids = set(result.kept.patients["patient"])
    assert not any(str(i).startswith("copy-") for i in kept_ids)
    assert len(kept_ids) >= 25  # the independent patients mostly pass
    kept = filter_close_trajectories(artificial, real, holdout)
    assert set(kept.patients["patient"]) == kept_ids
    assert kept.artificial
    everything_copied = _like(real, real.data.assign(patient="c-" + real.data["patient"]))
    with pytest.raises(DataError, match="fewer than 2"):
        filter_close_trajectories(everything_copied, real, holdout)


def test_evaluate_longitudinal_gives_aggregates_and_a_ceiling(real):
    holdout = _cohort(_frame(30, seed=8))
    frame = _frame(40, seed=9)
    frame["y"] = frame["y"] + 10.0
    artificial = _like(real, frame)
    evaluation = evaluate_longitudinal(real, holdout, artificial, seed=0)
    table = evaluation.summary_table()
    assert list(table.index) == ["artificial", CEILING]
    headline = {"window_ks_mean", "visit_count_tvd", "gap_ks", "slope_ks", "autocorrelation_diff",
                "fixed_effects_inside_ci", "detection_auc", "dcr_share"}  # fmt: skip
    assert headline <= set(table.columns)
    assert table.loc["artificial", "detection_auc"] > 0.85
    assert table.loc[CEILING, "detection_auc"] < 0.8
    assert table.loc["artificial", "window_ks_mean"] > 2 * table.loc[CEILING, "window_ks_mean"]
    total = len(evaluation.artificial.mixed_models[0].fixed_effects)
    assert table.loc["artificial", "fixed_effects_inside_ci"].endswith(f"/{total}")
    text = json.dumps(evaluation.as_dict(), allow_nan=False)
    # aggregates only: no real patient id, no measured or baseline value of a real patient
    for cohort in (real, holdout):
        assert not any(str(i) in text for i in cohort.patients["patient"])
        values = pd.concat([cohort.data["y"], cohort.data["age"]]).astype(float)
        assert not any(repr(v) in text for v in values)


# ---------------------------------------------------------------------- real cohorts
def test_stanford_binary_course_runs_without_numeric_measures():
    from jumeau.data.datasets.longitudinal import load_longitudinal_dataset

    cohort = load_longitudinal_dataset("stanford")
    train, holdout = split_patients(cohort, share=0.3, seed=0)
    evaluation = evaluate_longitudinal(train, holdout, holdout)
    row = evaluation.summary_table().loc[CEILING]
    assert row["fixed_effects_inside_ci"] == "0/0"
    assert np.isnan(row["slope_ks"])
    assert set(evaluation.ceiling.windows.table["statistic"]) == {"tvd"}
    assert 0.0 <= row["window_ks_mean"] < 0.3
    assert "transplant_changes" in trajectory_features(cohort).columns


def test_csl_ceiling_and_a_reordered_artificial_cohort():
    pytest.importorskip("SurvSet")
    from jumeau.data.datasets.longitudinal import load_longitudinal_dataset

    cohort = load_longitudinal_dataset("csl")
    train, holdout = split_patients(cohort, share=0.5, seed=0)
    # crude artificial cohort: the holdout's prothrombin values dealt at random among visits
    # in the same time window (per-window marginals kept, patients' courses destroyed)
    frame = holdout.data.copy()
    window = np.searchsorted(visit_windows(train), frame["years"].to_numpy(), side="left")
    rng = np.random.default_rng(1)
    for k in np.unique(window):
        rows = np.flatnonzero(window == k)
        frame.loc[rows, "prothrombin"] = frame.loc[rng.permutation(rows), "prothrombin"].to_numpy()
    artificial = LongitudinalCohort(frame, holdout.schema, artificial=True)
    evaluation = evaluate_longitudinal(train, holdout, artificial, seed=0)
    table = evaluation.summary_table()
    ceiling, art = table.loc[CEILING], table.loc["artificial"]
    assert 0.35 < ceiling["detection_auc"] < 0.65
    assert 0.35 < ceiling["dcr_share"] < 0.65
    assert ceiling["window_ks_mean"] < 0.15
    assert ceiling["visit_count_tvd"] < 0.15
    inside, total = map(int, ceiling["fixed_effects_inside_ci"].split("/"))
    assert total == 5 and inside >= 3
    # the reordered cohort: same visits, similar windows, but courses no real patient has
    assert art["visit_count_tvd"] == ceiling["visit_count_tvd"]
    assert art["window_ks_mean"] < 0.2
    assert art["detection_auc"] > ceiling["detection_auc"] + 0.1
    (model,) = evaluation.artificial.mixed_models
    assert model.artificial_variance.intercept_sd < 0.6 * model.real_variance.intercept_sd
