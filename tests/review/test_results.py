"""The study statistics against scipy and hand-computed values."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from scipy.stats import binom, binomtest

from jumeau.review.results import fleiss_kappa_of, records_needed, reviewer_scores
from jumeau.review.store import Vote


def _votes(labels: list[tuple[int, str, str]], confidence: int = 3) -> list[Vote]:
    stamp = datetime.now(timezone.utc)
    return [
        Vote(
            reviewer_id=r,
            record_id=rec,
            label=label,
            confidence=confidence,
            variables=[],
            remark="",
            created=stamp,
        )
        for r, rec, label in labels
    ]


def test_reviewer_scores_match_scipy() -> None:
    truth = {f"r{i}": ("artificial" if i % 2 else "real") for i in range(30)}
    # right on 21 of 30: every real one, and 6 of the 15 artificial ones
    labels = [(1, f"r{i}", "real" if (i % 2 == 0 or i > 12) else "artificial") for i in range(30)]
    scores = reviewer_scores(_votes(labels), truth)
    expected = binomtest(21, 30, 0.5)
    assert scores["correct"] == 21 and scores["accuracy"] == pytest.approx(0.7)
    assert scores["p_value"] == pytest.approx(expected.pvalue)
    interval = expected.proportion_ci(method="exact")
    assert (scores["ci_low"], scores["ci_high"]) == pytest.approx((interval.low, interval.high))
    assert scores["specificity"] == 1.0
    assert scores["sensitivity"] == pytest.approx(6 / 15)
    assert scores["by_confidence"][3]["votes"] == 30


def test_fleiss_kappa_by_hand() -> None:
    """Four records, three reviewers: counts [3,0], [0,3], [2,1], [1,2] give κ = 1/3."""
    pattern = {
        "a": ["real"] * 3,
        "b": ["artificial"] * 3,
        "c": ["real", "real", "artificial"],
        "d": ["real", "artificial", "artificial"],
    }
    labels = [(r + 1, record, votes[r]) for record, votes in pattern.items() for r in range(3)]
    assert fleiss_kappa_of(_votes(labels), [1, 2, 3]) == pytest.approx(1 / 3)
    assert fleiss_kappa_of(_votes(labels), [1]) is None


def test_records_needed_is_where_power_stays_above_the_target() -> None:
    n = records_needed(0.6, 0.05, 0.8)
    assert n is not None and 150 < n < 250

    def power(m: int) -> float:
        k = int(binom.isf(0.025, m, 0.5)) + 1
        assert binomtest(k, m, 0.5).pvalue <= 0.05  # k correct answers reject chance
        assert binomtest(k - 1, m, 0.5).pvalue > 0.05  # and k - 1 do not
        return float(binom.sf(k - 1, m, 0.6))

    assert all(power(m) >= 0.8 for m in range(n, n + 50))
    assert power(n - 1) < 0.8  # n is the first size of that run


def test_chance_is_the_majority_answer_in_an_unbalanced_study() -> None:
    """30 % real: always answering "artificial" is right 70 % of the time, which is chance."""
    truth = {f"r{i}": ("real" if i < 30 else "artificial") for i in range(100)}
    lazy = _votes([(1, record, "artificial") for record in truth])
    scores = reviewer_scores(lazy, truth, chance=0.7)
    assert scores["accuracy"] == pytest.approx(0.7)
    assert scores["p_value"] > 0.5
    assert reviewer_scores(lazy, truth)["p_value"] < 0.001  # against 50 % it would look skilled
