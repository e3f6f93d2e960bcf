"""The independent-marginals baseline: columns drawn from the training patients' own values but
no record kept whole, its DCR share on the same reference sets, and the memorisation line that
sets the artificial cohort's share beside it."""

from __future__ import annotations

import dataclasses

import pytest

from jumeau import Cohort
from jumeau.errors import JumeauError
from jumeau.evaluation.baseline import compare_with_baseline, independent_marginals
from jumeau.evaluation.evaluate import EvaluationSettings, evaluate
from jumeau.evaluation.privacy import distance_to_closest_record
from jumeau.evaluation.verdicts import memorisation_shown

FAST = EvaluationSettings(
    run_attacks=False, run_membership=False, factors=(0,), small_cohort_sizes=()
)


def _artificial(cohort: Cohort) -> Cohort:
    return Cohort(cohort.data.reset_index(drop=True), cohort.schema, artificial=True)


def test_each_column_comes_from_training_values_but_no_record_stays_whole(thirds):
    train, _, independent = thirds
    drawn = independent_marginals(train, _artificial(independent), 500, seed=1)
    assert len(drawn) == 500 and list(drawn.data.columns) == list(independent.data.columns)
    for name in drawn.data.columns:
        assert set(drawn.data[name].dropna()) <= set(train.data[name].dropna()), name
    records = {tuple(row) for row in train.data.astype(str).itertuples(index=False)}
    whole = sum(tuple(row) in records for row in drawn.data.astype(str).itertuples(index=False))
    assert whole <= 5  # gbsg2 has 10 columns: a full record is rebuilt only by chance
    again = independent_marginals(train, _artificial(independent), 500, seed=1)
    assert again.data.equals(drawn.data)


def test_the_baseline_needs_patients(thirds):
    train, _, independent = thirds
    with pytest.raises(JumeauError, match="needs patients"):
        independent_marginals(train, _artificial(independent), 0)


@pytest.fixture(scope="module")
def on_real_outsiders(thirds):
    train, holdout, independent = thirds
    return evaluate(train, holdout, _artificial(independent), FAST)


def _memorisation(evaluation):
    (line,) = [v for v in evaluation.verdicts if v.topic == "memorisation"]
    return line


def test_the_baseline_is_measured_and_reported(on_real_outsiders):
    share = on_real_outsiders.baseline_dcr_share
    low, high = on_real_outsiders.baseline_dcr_share_interval
    assert 0.3 < share < 0.8 and low <= share <= high
    privacy = on_real_outsiders.to_dict()["privacy"]
    assert privacy["independent_marginals_dcr_share"] == share
    excess = privacy["excess_over_independent_marginals"]
    assert excess == pytest.approx(on_real_outsiders.dcr_share - share)
    assert privacy["excess_over_independent_marginals_95"][0] < excess
    assert "independent marginals" in _memorisation(on_real_outsiders).value


def test_a_share_above_the_limit_fails_only_when_significantly_above_the_baseline(
    on_real_outsiders,
):
    as_close = dataclasses.replace(
        on_real_outsiders,
        dcr_share=0.58,
        baseline_dcr_share=0.59,
        baseline_excess_interval=(-0.05, 0.03),
    )
    line = _memorisation(as_close)
    assert line.ok is True and "nobody's record" in line.text
    assert "excess -1.0 points" in line.value
    # 6 points above the baseline, interval (0.02, 0.10): one-sided lower bound > 0 — fails
    closer = dataclasses.replace(
        as_close, baseline_dcr_share=0.52, baseline_excess_interval=(0.02, 0.10)
    )
    assert _memorisation(closer).ok is False
    assert "evidence of memorised records" in _memorisation(closer).text
    # 6 points above, but the paired interval (-0.02, 0.14) reaches below 0: not shown
    unsure = dataclasses.replace(closer, baseline_excess_interval=(-0.02, 0.14))
    assert _memorisation(unsure).ok is True
    assert "not significantly above" in _memorisation(unsure).text
    copied = dataclasses.replace(as_close, exact_copies=1)
    assert _memorisation(copied).ok is False  # a copy fails whatever the baseline says


def test_the_paired_difference_carries_both_shares_uncertainty(thirds):
    """The excess over the baseline comes with an interval that covers what either share's
    reference sets make uncertain, and real outsiders show no significant excess."""
    train, holdout, independent = thirds
    artificial = _artificial(independent)
    share = distance_to_closest_record(train, holdout, artificial).share_closer_to_train
    comparison = compare_with_baseline(train, holdout, artificial, share)
    assert comparison.excess == pytest.approx(share - comparison.baseline_share)
    low, high = comparison.excess_interval
    assert low < comparison.excess < high
    widths = [i[1] - i[0] for i in (comparison.share_interval, comparison.baseline_interval)]
    assert max(widths) < high - low < 2 * sum(widths)
    assert low < 0.0 < high  # real outsiders memorised nobody: no excess over the baseline


def test_a_cohort_of_jittered_training_patients_shows_memorisation(thirds):
    train, holdout, _ = thirds
    frame = train.data.copy()
    frame["age"] = frame["age"] + 1  # gbsg2: every other column kept as it is
    near = Cohort.from_typed(frame, train.schema, source="jittered", artificial=True)
    share = distance_to_closest_record(train, holdout, near).share_closer_to_train
    comparison = compare_with_baseline(train, holdout, near, share)
    assert share > 0.9 and comparison.excess_interval[0] > 0.2
    assert memorisation_shown(share, comparison.baseline_share, comparison.excess_interval)
