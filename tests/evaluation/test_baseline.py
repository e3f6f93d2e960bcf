"""The independent-marginals baseline: columns drawn from the training patients' own values but
no record kept whole, its DCR share on the same reference sets, and the memorisation line that
sets the artificial cohort's share beside it."""

from __future__ import annotations

import dataclasses

import pytest

from jumeau import Cohort
from jumeau.errors import JumeauError
from jumeau.evaluation.baseline import independent_marginals
from jumeau.evaluation.evaluate import EvaluationSettings, evaluate

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
    assert "independent marginals" in _memorisation(on_real_outsiders).value


def test_a_share_above_the_limit_passes_only_when_the_baseline_comes_as_close(on_real_outsiders):
    as_close = dataclasses.replace(on_real_outsiders, dcr_share=0.58, baseline_dcr_share=0.59)
    line = _memorisation(as_close)
    assert line.ok is True and "nobody's record" in line.text
    closer = dataclasses.replace(on_real_outsiders, dcr_share=0.58, baseline_dcr_share=0.52)
    assert _memorisation(closer).ok is False
    copied = dataclasses.replace(as_close, exact_copies=1)
    assert _memorisation(copied).ok is False  # a copy fails whatever the baseline says
