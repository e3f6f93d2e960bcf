"""The similarity filter removes near-copies of training patients and little else: known answers
on a tiny hand-made cohort, then real data (copies, near-copies, an independent real sample)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jumeau import Cohort, Schema
from jumeau.datasets import load
from jumeau.errors import JumeauError
from jumeau.evaluation.fidelity import column_shapes
from jumeau.evaluation.privacy import distance_to_closest_record
from jumeau.evaluation.similarity import SimilarityFilter, filter_close
from jumeau.generators.registry import make_generator


def _artificial(cohort: Cohort, frame: pd.DataFrame | None = None) -> Cohort:
    data = cohort.data if frame is None else frame
    return Cohort(data.reset_index(drop=True), cohort.schema, artificial=True)


# ---------------------------------------------------------------------- known answers
def _one_column(values: list[float], artificial: bool = False) -> Cohort:
    schema = Schema.model_validate({"columns": {"x": {"kind": "continuous"}}})
    return Cohort(pd.DataFrame({"x": values}), schema, artificial=artificial)


def test_threshold_and_removals_on_hand_computed_distances():
    # range of train is 10: distances are |a - b| / 10
    train = _one_column([0.0, 10.0])
    holdout = _one_column([1.0, 3.0, 5.0])  # DCRs 0.1, 0.3, 0.5 → median 0.3
    artificial = _one_column([0.0, 0.2, 2.0, 4.0, 10.0, 7.0], artificial=True)
    # DCRs of the artificial patients: 0 (copy), 0.02, 0.2, 0.4, 0 (copy), 0.3 (not below 0.3)
    result = filter_close(artificial, train, holdout, percentile=50)
    assert result.threshold == pytest.approx(0.3)
    assert result.n_input == 6
    assert result.n_removed == 4
    assert result.n_exact_copies == 2
    assert result.kept.data["x"].tolist() == [4.0, 7.0]
    assert result.pass_rate == pytest.approx(2 / 6)
    assert result.kept.artificial


def test_exact_copies_are_removed_even_with_a_zero_threshold():
    train = _one_column([0.0, 10.0, 20.0])
    holdout = _one_column([10.0, 30.0])  # a holdout patient duplicates a training one
    artificial = _one_column([10.0, 15.0], artificial=True)
    result = filter_close(artificial, train, holdout, percentile=0)
    assert result.threshold == 0.0
    assert result.n_removed == 1 and result.n_exact_copies == 1
    assert result.kept.data["x"].tolist() == [15.0]


def test_to_dict_reports_what_was_done():
    train = _one_column([0.0, 10.0])
    holdout = _one_column([1.0, 3.0, 5.0])
    artificial = _one_column([0.0, 4.0, 6.0, 5.0], artificial=True)
    result = filter_close(artificial, train, holdout, percentile=50)
    assert result.to_dict() == {
        "threshold": pytest.approx(0.3),
        "percentile": 50,
        "n_input": 4,
        "n_removed": 1,
        "n_exact_copies": 1,
        "n_shared_profiles": 0,
        "pass_rate": pytest.approx(0.75),
    }


@pytest.mark.parametrize("percentile", [-1, 100.5, 1000])
def test_percentile_out_of_range_is_refused(thirds, percentile):
    train, holdout, independent = thirds
    with pytest.raises(JumeauError, match="percentile"):
        filter_close(_artificial(independent), train, holdout, percentile=percentile)


def test_an_empty_holdout_is_refused(thirds):
    train, holdout, independent = thirds
    empty = Cohort(holdout.data.iloc[:0], holdout.schema, artificial=True)
    with pytest.raises(JumeauError, match="holdout"):
        filter_close(_artificial(independent), train, empty)


def test_an_empty_artificial_cohort_passes(thirds):
    train, holdout, _ = thirds
    empty = Cohort(train.data.iloc[:0], train.schema, artificial=True)
    result = filter_close(empty, train, holdout)
    assert isinstance(result, SimilarityFilter)
    assert (result.n_input, result.n_removed, result.pass_rate) == (0, 0, 1.0)
    assert len(result.kept) == 0


# ---------------------------------------------------------------------- real data
def test_copy_of_train_is_removed_entirely(thirds):
    train, holdout, _ = thirds
    result = filter_close(_artificial(train), train, holdout)
    assert result.n_removed == len(train)
    assert result.n_exact_copies == len(train)
    assert result.pass_rate == 0.0
    assert len(result.kept) == 0 and list(result.kept.data.columns) == train.schema.names


def test_copies_with_missing_values_are_still_exact_copies():
    """lung has missing values: a missing value matches a missing value (distance 0)."""
    lung = load("lung")
    order = np.random.default_rng(0).permutation(len(lung))
    train, holdout = lung.subset(order[:150]), lung.subset(order[150:])
    assert train.data.isna().any(axis=1).sum() > 20  # the point of the test
    result = filter_close(_artificial(train), train, holdout)
    assert result.n_exact_copies == len(train) == result.n_removed


def test_near_copies_are_removed_though_not_identical(thirds):
    """One year of age more: not a copy, but closer than any real outsider comes."""
    train, holdout, _ = thirds
    nudged = train.data.copy()
    nudged["age"] = (nudged["age"] + 1).clip(upper=100)
    result = filter_close(_artificial(train, nudged), train, holdout)
    assert result.n_exact_copies == 0
    assert result.n_removed == len(train)


def test_independent_real_sample_passes_nearly_all(thirds):
    """By construction about `percentile` % of independent real patients are removed."""
    train, holdout, independent = thirds
    result = filter_close(_artificial(independent), train, holdout)
    assert result.n_exact_copies == 0
    assert result.pass_rate >= 0.97
    # the threshold is a low quantile of the holdout's own distances to the training set
    dcr = distance_to_closest_record(train, holdout, holdout).holdout_to_train
    assert result.threshold == pytest.approx(np.percentile(dcr, 0.1))
    assert result.threshold <= np.median(dcr) / 2


def test_a_higher_percentile_removes_more(thirds):
    train, holdout, _ = thirds
    generator = make_generator("copula").fit(train, seed=0, progress=False)
    artificial = generator.sample(400, seed=1)
    removed = [
        filter_close(artificial, train, holdout, percentile=p).n_removed for p in (0, 5, 25, 50)
    ]
    assert removed == sorted(removed)
    assert removed[-1] > removed[0]
    # at the median of the holdout's distances, roughly half of a good model's patients go
    assert 0.2 < removed[-1] / len(artificial) < 0.8


# ---------------------------------------------------------------------- shared profiles
def test_a_profile_several_training_patients_share_is_no_copy():
    train = _one_column([0.0, 0.0, 10.0])  # 0 is two patients' profile, 10 one patient's
    holdout = _one_column([0.0, 5.0])  # DCRs 0 and 0.5: median 0.25
    artificial = _one_column([0.0, 10.0, 4.0, 1.0], artificial=True)
    result = filter_close(artificial, train, holdout, percentile=50)
    # 0: shared, kept although below the threshold; 10: a copy; 4: DCR 0.4, kept; 1: 0.1, removed
    assert result.threshold == pytest.approx(0.25)
    assert result.kept.data["x"].tolist() == [0.0, 4.0]
    assert (result.n_removed, result.n_exact_copies, result.n_shared_profiles) == (2, 1, 1)
    # a stricter k (a small-cell rule) makes the two-patient profile a copy again
    strict = filter_close(artificial, train, holdout, percentile=50, shared_profile_k=3)
    assert strict.kept.data["x"].tolist() == [4.0]
    assert (strict.n_exact_copies, strict.n_shared_profiles) == (2, 0)


@pytest.mark.parametrize("k", [1, 0, True, 2.5, "2"])
def test_shared_profile_k_below_two_or_not_an_integer_is_refused(k):
    train, holdout = _one_column([0.0, 10.0]), _one_column([5.0])
    with pytest.raises(JumeauError, match="shared_profile_k"):
        filter_close(_one_column([1.0], artificial=True), train, holdout, shared_profile_k=k)


def test_twins_are_counted_with_missing_matching_missing_and_signed_zeros_equal():
    schema = Schema.model_validate(
        {"columns": {"x": {"kind": "continuous"}, "y": {"kind": "continuous"}}}
    )
    train = Cohort(
        pd.DataFrame({"x": [1.0, 1.0, 2.0, 0.0], "y": [np.nan, np.nan, 3.0, 7.0]}), schema
    )
    artificial = Cohort(
        pd.DataFrame({"x": [1.0, 2.0, 1.0, -0.0], "y": [np.nan, np.nan, 3.0, 7.0]}),
        schema,
        artificial=True,
    )
    dcr = distance_to_closest_record(train, train, artificial)
    assert dcr.train_twins.tolist() == [2, 0, 0, 1]
    assert dcr.shared.tolist() == [True, False, False, False]
    assert (dcr.exact_copies, dcr.shared_profile_matches) == (1, 1)


def test_on_a_coarse_real_cohort_shared_profiles_survive_the_filter():
    """gbsg2 reduced to its categories and age in decades: 98 % of these real patients have a
    twin. Removing every match would leave a few per cent of a good model's patients, and
    bend their distribution; with shared profiles kept, nearly all pass."""
    gbsg2 = load("gbsg2")
    frame = gbsg2.data[["horTh", "menostat", "tgrade", "cens"]].copy()
    frame["age_decade"] = (gbsg2.data["age"] // 10).astype(int)
    cohort = Cohort.from_frame(frame)
    order = np.random.default_rng(0).permutation(len(cohort))
    train, holdout = cohort.subset(order[:400]), cohort.subset(order[400:])
    artificial = make_generator("copula").fit(train, seed=0, progress=False).sample(600, seed=1)
    shared = filter_close(artificial, train, holdout)
    every_match = filter_close(artificial, train, holdout, shared_profile_k=10**6)
    assert shared.pass_rate > 0.9 and every_match.pass_rate < 0.2
    assert shared.n_shared_profiles > len(artificial) / 2
    kept_shapes = np.mean(list(column_shapes(train, shared.kept).values()))
    bent_shapes = np.mean(list(column_shapes(train, every_match.kept).values()))
    assert kept_shapes > 0.95 > 0.85 > bent_shapes
