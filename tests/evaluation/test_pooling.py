"""Privacy evidence pooled over refits on repeated splits: Rubin's rules by hand, attacks and
membership matched by name, an evaluation whose privacy numbers (and only those) are pooled, and
`jumeau run` pooling three splits of a small cohort."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from jumeau import Cohort, workflow
from jumeau.errors import JumeauError
from jumeau.evaluation.attacks import AttackReport, AttackResult
from jumeau.evaluation.evaluate import EvaluationSettings, evaluate
from jumeau.evaluation.membership import MembershipResult
from jumeau.evaluation.pooling import (
    Z95,
    pool_attacks,
    pool_estimates,
    pool_evaluations,
    pool_membership,
)

FAST = EvaluationSettings(run_attacks=False, factors=(0,), small_cohort_sizes=())


def _estimate(point: float, se: float) -> tuple[float, float, float]:
    return point, point - Z95 * se, point + Z95 * se


def test_one_split_pools_to_itself():
    mean, low, high = pool_estimates([_estimate(0.52, 0.03)])
    assert (mean, low, high) == pytest.approx(_estimate(0.52, 0.03))


def test_identical_splits_keep_the_interval_of_one():
    # the splits reuse patients: agreeing splits do not pretend to be three times the evidence
    assert pool_estimates([_estimate(0.52, 0.03)] * 3) == pytest.approx(_estimate(0.52, 0.03))


def test_disagreeing_splits_widen_the_interval_by_rubins_rule():
    points, errors = np.array([0.45, 0.55, 0.62]), np.array([0.03, 0.04, 0.05])
    mean, low, high = pool_estimates([_estimate(p, e) for p, e in zip(points, errors, strict=True)])
    total = np.mean(errors**2) + (1 + 1 / 3) * points.var(ddof=1)
    assert mean == pytest.approx(points.mean())
    assert high - mean == pytest.approx(Z95 * np.sqrt(total))
    assert mean - low == pytest.approx(Z95 * np.sqrt(total))


def test_pooled_intervals_stay_within_zero_and_one():
    _, low, high = pool_estimates([_estimate(0.01, 0.05), _estimate(0.98, 0.05)])
    assert low == 0.0 and high == 1.0


def test_pooling_nothing_is_refused():
    with pytest.raises(JumeauError, match="at least one"):
        pool_estimates([])


def _membership(attack: str, auc: float) -> MembershipResult:
    return MembershipResult(attack, auc, auc - 0.1, auc + 0.1, 0.5, 0.4, 0.6, 100, 30)


def test_membership_attacks_are_pooled_by_name():
    runs = [
        [_membership("domias", 0.50), _membership("distance", 0.60)],
        [_membership("distance", 0.70), _membership("domias", 0.54)],
    ]
    domias, distance = pool_membership(runs)
    assert (domias.attack, domias.auc) == ("domias", pytest.approx(0.52))
    assert (distance.attack, distance.auc) == ("distance", pytest.approx(0.65))
    assert distance.n_members == 200 and distance.ceiling_auc == pytest.approx(0.5)


def _attack(risk: float | None, detail: str = "age, sex") -> AttackResult:
    if risk is None:
        return AttackResult("singling_out", detail, 0, error="too few patients")
    return AttackResult(
        "singling_out", detail, 50, risk, max(0.0, risk - 0.05), risk + 0.05,
        ceiling_risk=0.02, ceiling_low=0.0, ceiling_high=0.06,
    )  # fmt: skip


def test_attacks_are_pooled_over_the_splits_where_they_ran():
    reports = [
        AttackReport({"n_attacks": 50}, [_attack(0.10), _attack(None, "rare")]),
        AttackReport({"n_attacks": 50}, [_attack(0.02), _attack(None, "rare")]),
        AttackReport({"n_attacks": 50}, [_attack(None), _attack(None, "rare")]),
    ]
    pooled = pool_attacks(reports)
    first, never = pooled.results
    assert first.risk == pytest.approx(0.06) and first.n_attacks == 100
    assert first.ceiling_risk == pytest.approx(0.02)
    assert never.risk is None and never.error == "too few patients"
    assert pooled.settings["splits"] == 3


# ---------------------------------------------------------------------- whole evaluations
@pytest.fixture(scope="module")
def three_evaluations(thirds):
    """The same real outsiders (as the "artificial" cohort) judged on three reshuffled
    train/holdout splits of the training third."""
    train, _, independent = thirds
    artificial = Cohort(independent.data.reset_index(drop=True), train.schema, artificial=True)
    results = []
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(train))
        cut = len(train) * 2 // 3
        settings = dataclasses.replace(FAST, seed=seed)
        results.append(
            evaluate(train.subset(order[:cut]), train.subset(order[cut:]), artificial, settings)
        )
    return results


def test_an_evaluation_pools_its_privacy_numbers_and_keeps_its_fidelity(three_evaluations):
    main, *others = three_evaluations
    pooled = pool_evaluations(main, others)
    assert pooled.privacy_splits == 3 and len(pooled.privacy_split_evidence) == 3
    assert pooled.dcr_share == pytest.approx(np.mean([e.dcr_share for e in three_evaluations]))
    assert pooled.fidelity is main.fidelity and pooled.n_train == main.n_train
    assert pooled.outsiders_removed[1] == sum(e.n_holdout for e in three_evaluations)
    assert [r.attack for r in pooled.membership] == ["domias", "distance"]
    (memorisation,) = [v for v in pooled.verdicts if v.topic == "memorisation"]
    assert "pooled over 3 splits" in memorisation.value
    privacy = pooled.to_dict()["privacy"]
    assert privacy["splits"] == 3 and [s["seed"] for s in privacy["per_split"]] == [0, 1, 2]
    assert pool_evaluations(main, []) is main


# ---------------------------------------------------------------------- jumeau run
def test_run_pools_three_splits_of_a_small_cohort_and_one_of_a_large(lung, tmp_path):
    assert len(lung) < workflow.SMALL_PRIVACY_COHORT
    said: list[str] = []
    small = workflow.run(
        lung, tmp_path / "small", model="copula", n=200, settings=FAST, progress=False,
        say=said.append,
    )  # fmt: skip
    evidence = small.evaluation.privacy_split_evidence
    assert small.evaluation.privacy_splits == workflow.PRIVACY_SPLITS == len(evidence)
    assert len({e["seed"] for e in evidence}) == 3
    assert sum("privacy evidence on split" in line for line in said) == 2
    one = workflow.run(
        lung, tmp_path / "one", model="copula", n=200, settings=FAST, progress=False,
        privacy_splits=1,
    )  # fmt: skip
    assert one.evaluation.privacy_splits == 1 and one.evaluation.privacy_split_evidence == []
    with pytest.raises(JumeauError, match="at least 1"):
        workflow.run(lung, tmp_path / "none", model="copula", privacy_splits=0)
