"""What a study shows: can clinicians tell real patients from artificial ones?

Per reviewer: accuracy, sensitivity and specificity for "artificial" (the positive class), an
exact binomial test of the accuracy against chance (scipy's `binomtest`, two-sided, with its
Clopper–Pearson 95 % interval), accuracy by confidence level. Chance is 50 % in a balanced study;
with another real share it is the accuracy of always giving the majority answer, max(s, 1 − s),
so that a reviewer who always says "artificial" in a 30 % real study is not found "better than
chance". Pooled over reviewers, votes on the same record are correlated: the pooled line gives
accuracies only, no test. Across reviewers: Fleiss' kappa
(statsmodels) on the records every reviewer voted on, the variables most often cited for
"artificial" votes, and the remarks. A power note says how many records a study needs to detect
a reviewer accuracy of 60 % against 50 % (exact binomial, α = 0.05, power 0.8), so that a "they
could not tell" conclusion is not drawn from 20 records.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.stats import binom, binomtest
from sqlalchemy import select

from jumeau.review.store import Record, Reviewer, StudyStore, Vote

POWER_ACCURACY = 0.6
POWER = 0.8
ALPHA = 0.05


def study_results(store: StudyStore) -> dict[str, Any]:
    with store.session() as session:
        study = store.study(session)
        truth = {r.id: r.truth for r in session.scalars(select(Record))}
        reviewers = {r.id: r.name for r in session.scalars(select(Reviewer))}
        votes = list(session.scalars(select(Vote)))
        settings = study.settings
        meta = {"name": study.name, "seed": study.seed, "closed": study.closed}
    chance = chance_level(settings.get("real_share", 0.5))
    per_reviewer = []
    for reviewer_id, name in reviewers.items():
        mine = [v for v in votes if v.reviewer_id == reviewer_id]
        per_reviewer.append({"reviewer": name} | reviewer_scores(mine, truth, chance))
    pooled = {
        k: v
        for k, v in reviewer_scores(votes, truth, chance).items()
        if k not in ("p_value", "ci_low", "ci_high")
    }
    cited = Counter(variable for v in votes if v.label == "artificial" for variable in v.variables)
    return {
        "study": meta,
        "records": len(truth),
        "real_share": settings.get("real_share"),
        "votes": len(votes),
        "reviewers": per_reviewer,
        "chance": chance,
        "all_reviewers": pooled,
        "fleiss_kappa": fleiss_kappa_of(votes, list(reviewers)),
        "cited_for_artificial": cited.most_common(),
        "remarks": [{"label": v.label, "remark": v.remark} for v in votes if v.remark.strip()],
        "power": {
            "accuracy": POWER_ACCURACY,
            "alpha": ALPHA,
            "power": POWER,
            "records_needed": records_needed(POWER_ACCURACY, ALPHA, POWER, chance=0.5),
        },
    }


def chance_level(real_share: float) -> float:
    return max(real_share, 1 - real_share)


def reviewer_scores(
    votes: list[Vote], truth: dict[str, str], chance: float = 0.5
) -> dict[str, Any]:
    n = len(votes)
    if n == 0:
        return {"votes": 0}
    correct = [v.label == truth[v.record_id] for v in votes]
    k = int(sum(correct))
    test = binomtest(k, n, chance)
    interval = test.proportion_ci(confidence_level=0.95, method="exact")
    artificial = [v for v in votes if truth[v.record_id] == "artificial"]
    real = [v for v in votes if truth[v.record_id] == "real"]
    by_confidence: dict[int, dict[str, float]] = {}
    for level in sorted({v.confidence for v in votes}):
        at_level = [c for c, v in zip(correct, votes, strict=True) if v.confidence == level]
        by_confidence[level] = {"votes": len(at_level), "accuracy": float(np.mean(at_level))}
    return {
        "votes": n,
        "correct": k,
        "accuracy": k / n,
        "ci_low": float(interval.low),
        "ci_high": float(interval.high),
        "p_value": float(test.pvalue),
        "sensitivity": _share(artificial, "artificial"),  # artificial records called artificial
        "specificity": _share(real, "real"),  # real records called real
        "by_confidence": by_confidence,
    }


def _share(votes: list[Vote], label: str) -> float | None:
    return sum(v.label == label for v in votes) / len(votes) if votes else None


def fleiss_kappa_of(votes: list[Vote], reviewer_ids: list[int]) -> float | None:
    """Fleiss' kappa on the records every reviewer voted on (needs two reviewers or more)."""
    from statsmodels.stats.inter_rater import fleiss_kappa

    if len(reviewer_ids) < 2:
        return None
    by_record: dict[str, dict[int, str]] = {}
    for v in votes:
        by_record.setdefault(v.record_id, {})[v.reviewer_id] = v.label
    complete = [labels for labels in by_record.values() if len(labels) == len(reviewer_ids)]
    if not complete:
        return None
    table = np.array(
        [
            [sum(label == c for label in labels.values()) for c in ("real", "artificial")]
            for labels in complete
        ]
    )
    with np.errstate(all="ignore"):  # every vote alike: kappa is undefined (NaN), not an error
        value = float(fleiss_kappa(table, method="fleiss"))
    return value if np.isfinite(value) else None


@lru_cache(maxsize=32)
def records_needed(
    accuracy: float,
    alpha: float,
    power: float,
    chance: float = 0.5,
    limit: int = 5000,
    margin: int = 50,
) -> int | None:
    """Smallest number of votes from which on the two-sided exact binomial test at level `alpha`
    rejects chance with probability ≥ `power` when the true accuracy is `accuracy`. The power of
    an exact test is a saw-tooth in n: the first n that reaches `power` can be followed by
    smaller studies that do not, so the answer is the n after which it stays there (checked over
    the next `margin` sizes)."""
    reached = [power_of(n, accuracy, alpha, chance) >= power for n in range(1, limit + margin + 1)]
    for n in range(10, limit + 1):
        if all(reached[n - 1 : n - 1 + margin]):
            return n
    return None


def power_of(n: int, accuracy: float, alpha: float, chance: float = 0.5) -> float:
    """P(the exact binomial test rejects chance) with n votes of true accuracy `accuracy`
    (rejection in the upper tail: more correct than chance)."""
    critical = int(binom.isf(alpha / 2, n, chance)) + 1  # smallest k with P(X ≥ k) ≤ α/2
    return float(binom.sf(critical - 1, n, accuracy))
