"""The metrics are right, not just running: planted situations with known answers, real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jumeau import Cohort, Schema
from jumeau.datasets import load
from jumeau.errors import JumeauError
from jumeau.evaluation import column_shapes, detection_auc, distance_to_closest_record, pair_trends
from jumeau.evaluation.privacy import (
    GowerSpace,
    closer_chance,
    dcr_share_standard_error,
    normal_interval,
    share_closer,
)
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


@pytest.mark.parametrize("larger", ["train", "holdout"])
def test_the_dcr_share_is_its_expectation_over_every_subsample_of_the_larger_set(larger):
    """The exact chance from counts equals the mean share over many drawn subsamples, with
    coarse integer values so that ties (counting half) occur."""
    rng = np.random.default_rng(1)
    schema = Schema.model_validate(
        {"columns": {"x": {"kind": "integer"}, "y": {"kind": "integer"}}}
    )

    def cohort(n: int) -> Cohort:
        return Cohort(pd.DataFrame(rng.integers(0, 6, size=(n, 2)), columns=["x", "y"]), schema)

    big, small, artificial = cohort(40), cohort(15), cohort(30)
    train, holdout = (big, small) if larger == "train" else (small, big)
    space = GowerSpace(train, artificial)
    x_art, x_train, x_holdout = (space.features(c) for c in (artificial, train, holdout))
    exact = closer_chance(space, x_art, x_train, x_holdout)
    to_train, to_holdout = space.distances(x_art, x_train), space.distances(x_art, x_holdout)
    drawn = []
    for _ in range(4000):
        if larger == "train":
            part = rng.choice(len(x_train), len(x_holdout), replace=False)
            drawn.append(share_closer(to_train[:, part].min(1), to_holdout.min(1)))
        else:
            part = rng.choice(len(x_holdout), len(x_train), replace=False)
            drawn.append(share_closer(to_train.min(1), to_holdout[:, part].min(1)))
    assert np.mean(exact) == pytest.approx(np.mean(drawn), abs=0.004)
    assert ((exact >= 0) & (exact <= 1)).all() and len(set(np.round(exact, 6))) > 2


def test_with_reference_sets_of_equal_size_the_share_is_the_plain_count(thirds):
    train, holdout, independent = thirds
    train = train.subset(np.arange(len(holdout)))
    dcr = distance_to_closest_record(train, holdout, independent)
    assert dcr.share_closer_to_train == pytest.approx(share_closer(dcr.to_train, dcr.to_holdout))


def test_split_is_seeded_and_disjoint():
    cohort = load("lung")
    train, holdout = train_holdout_split(cohort, share=0.3, seed=3)
    again, _ = train_holdout_split(cohort, share=0.3, seed=3)
    assert len(train) + len(holdout) == len(cohort) and len(holdout) == 68
    pd.testing.assert_frame_equal(train.data, again.data)


def _dcr_interval(train, holdout, artificial, seed=0):
    share = distance_to_closest_record(train, holdout, artificial).share_closer_to_train
    error = dcr_share_standard_error(train, holdout, artificial, seed=seed)
    return share, normal_interval(share, error)


def test_dcr_share_interval_holds_one_half_and_narrows_with_more_holdout_patients():
    """gbsg2: an independent real sample against train, with a holdout of 40 patients and of
    200. The interval holds 0.5, and the larger holdout narrows it about as 1/√size does."""
    cohort = load("gbsg2")
    order = np.random.default_rng(0).permutation(len(cohort))
    train, independent = cohort.subset(order[:300]), cohort.subset(order[300:480])
    widths = []
    for size in (40, 200):
        holdout = cohort.subset(order[480 : 480 + size])
        share, (low, high) = _dcr_interval(train, holdout, independent)
        assert low < 0.5 < high and low < share < high
        widths.append(high - low)
        assert _dcr_interval(train, holdout, independent) == (share, (low, high))  # seeded
    assert 0.25 < widths[1] / widths[0] < 0.7  # √(40/200) = 0.45


def test_dcr_share_interval_of_a_copy_stays_far_above_one_half(thirds):
    train, holdout, _ = thirds
    _, (low, high) = _dcr_interval(train, holdout, train, seed=1)
    assert 0.9 < low <= high <= 1.0
    with pytest.raises(JumeauError, match="level"):
        normal_interval(0.5, 0.1, level=1.5)
