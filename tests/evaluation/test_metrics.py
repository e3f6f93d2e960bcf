"""The metrics are right, not just running: planted situations with known answers, real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jumeau import Cohort
from jumeau.datasets import load
from jumeau.evaluation import column_shapes, detection_auc, distance_to_closest_record, pair_trends
from jumeau.evaluation.summary import summarise, train_holdout_split


def _mean(scores: dict) -> float:
    return float(np.mean(list(scores.values())))


def test_copy_of_train_is_flagged(thirds):
    train, holdout, _ = thirds
    dcr = distance_to_closest_record(train, holdout, train)
    assert dcr.share_closer_to_train > 0.95
    assert dcr.exact_copies == len(train)


def test_independent_real_sample_scores_like_the_ceiling(thirds):
    train, holdout, independent = thirds
    dcr = distance_to_closest_record(train, holdout, independent)
    assert 0.35 < dcr.share_closer_to_train < 0.65
    assert abs(detection_auc(train, independent) - 0.5) < 0.1
    assert _mean(column_shapes(train, independent)) > 0.9


def test_shuffled_columns_keep_shapes_but_lose_pairs_and_detection(thirds):
    train, _, independent = thirds
    rng = np.random.default_rng(1)
    shuffled = independent.data.copy()
    for name in shuffled.columns:
        shuffled[name] = shuffled[name].to_numpy()[rng.permutation(len(shuffled))]
    shuffled_cohort = Cohort(shuffled, independent.schema, artificial=True)
    assert _mean(column_shapes(train, shuffled_cohort)) == pytest.approx(
        _mean(column_shapes(train, independent)), abs=1e-9
    )
    assert (
        _mean(pair_trends(train, shuffled_cohort)) < _mean(pair_trends(train, independent)) - 0.02
    )
    assert detection_auc(train, shuffled_cohort) > detection_auc(train, independent) + 0.05


def test_column_shapes_see_a_shifted_column(thirds):
    train, _, independent = thirds
    shifted = independent.data.copy()
    shifted["age"] = (shifted["age"] + 15).clip(upper=100)
    scores = column_shapes(train, Cohort(shifted, independent.schema, artificial=True))
    assert scores["age"] < 0.6
    assert scores["tsize"] == pytest.approx(column_shapes(train, independent)["tsize"])


def test_column_shapes_count_missingness():
    lung = load("lung")
    filled = lung.data.copy()
    filled["meal_cal"] = filled["meal_cal"].fillna(filled["meal_cal"].median())
    scores = column_shapes(lung, Cohort(filled, lung.schema, artificial=True))
    assert scores["meal_cal"] < 0.85  # 21 % of values were missing; the filled copy has none


def test_dcr_treats_missing_against_present_as_far():
    schema = load("lung").schema
    frame = load("lung").data.head(40).reset_index(drop=True)
    holed = frame.copy()
    holed["meal_cal"] = np.nan
    near = distance_to_closest_record(
        Cohort(frame, schema), Cohort(frame, schema), Cohort(frame, schema, artificial=True)
    )
    far = distance_to_closest_record(
        Cohort(frame, schema), Cohort(frame, schema), Cohort(holed, schema, artificial=True)
    )
    assert far.to_train.mean() > near.to_train.mean()


def test_summary_has_both_rows_and_a_sane_ceiling(thirds):
    train, holdout, independent = thirds
    summary = summarise(train, holdout, independent)
    ceiling = summary["ceiling (real holdout)"]
    assert ceiling["exact_copies"] == 0 and 0.2 < ceiling["dcr_share"] < 0.8
    assert set(summary["artificial"]) == set(ceiling)


def test_split_is_seeded_and_disjoint():
    cohort = load("lung")
    train, holdout = train_holdout_split(cohort, share=0.3, seed=3)
    again, _ = train_holdout_split(cohort, share=0.3, seed=3)
    assert len(train) + len(holdout) == len(cohort) and len(holdout) == 68
    pd.testing.assert_frame_equal(train.data, again.data)
