"""The privacy evidence a data-protection officer reads: membership inference finds a planted
leak and not an independent real sample; anonymeter's attacks run on equal sets and carry a real
ceiling; the near-copy and filter verdicts fire on jittered training rows and not on real
outsiders; every number reaches report.json."""

from __future__ import annotations

import dataclasses
import html
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from jumeau import Cohort
from jumeau.data.schema import NUMERIC_KINDS, ColumnKind
from jumeau.errors import JumeauError
from jumeau.evaluation.attacks import AttackSettings, run_attacks
from jumeau.evaluation.evaluate import EvaluationSettings, evaluate
from jumeau.evaluation.membership import MIN_HOLDOUT, membership_inference
from jumeau.evaluation.similarity import outsider_removals
from jumeau.evaluation.statistics import delong_auc, mean_auc_interval
from jumeau.evaluation.verdicts import ATTACK_RISK_MAX, beyond_chance

FAST = EvaluationSettings(run_attacks=False, factors=(0,), small_cohort_sizes=())


def _artificial(cohort: Cohort, frame: pd.DataFrame | None = None) -> Cohort:
    data = cohort.data if frame is None else frame
    return Cohort(data.reset_index(drop=True).copy(), cohort.schema, artificial=True)


def _jittered(train: Cohort, seed: int = 0) -> Cohort:
    """Training rows with each number moved by 1 % of its spread: near-copies, not copies."""
    rng = np.random.default_rng(seed)
    frame = train.data.copy()
    for name, column in train.schema.columns.items():
        if name in frame and column.kind in NUMERIC_KINDS:
            values = frame[name].astype(float)
            moved = values + rng.normal(0.0, 0.01 * float(values.std()), len(values))
            frame[name] = moved.round() if column.kind == ColumnKind.INTEGER else moved
    return _artificial(train, frame)


def _verdict(evaluation, topic: str):
    (found,) = [v for v in evaluation.verdicts if v.topic == topic]
    return found


# ---------------------------------------------------------------------- statistics
def test_delong_auc_is_scikit_learns_auc_and_its_variance_the_hand_computation():
    positives, negatives = np.array([0.9, 0.8, 0.4]), np.array([0.5, 0.3])
    auc, variance = delong_auc(positives, negatives)
    labels = np.r_[np.ones(3), np.zeros(2)]
    assert auc == pytest.approx(roc_auc_score(labels, np.r_[positives, negatives]))
    # placements: positives beat (1, 1, 0.5) of the negatives; negatives are beaten by (2/3, 1)
    v10, v01 = np.array([1.0, 1.0, 0.5]), np.array([2 / 3, 1.0])
    assert variance == pytest.approx(v10.var(ddof=1) / 3 + v01.var(ddof=1) / 2)
    with pytest.raises(JumeauError, match="at least one"):
        delong_auc(positives, np.array([]))


def test_independent_runs_narrow_the_interval_and_shared_runs_do_not():
    runs = [(0.6, 0.01), (0.6, 0.01), (0.6, 0.01), (0.6, 0.01)]
    _, low_independent, _ = mean_auc_interval(runs, independent=True)
    _, low_shared, _ = mean_auc_interval(runs, independent=False)
    assert 0.6 - low_independent == pytest.approx((0.6 - low_shared) / 2)


def test_a_measure_beyond_chance_of_its_ceiling_needs_a_difference_beyond_both_intervals():
    assert beyond_chance((0.30, 0.25, 0.35), (0.00, 0.00, 0.05))
    assert not beyond_chance((0.12, 0.02, 0.22), (0.08, 0.00, 0.18))
    assert beyond_chance((0.2, 0.1, 0.3), None)


# ---------------------------------------------------------------------- membership inference
def test_membership_inference_finds_a_planted_leak(thirds):
    train, holdout, _ = thirds
    leak = _artificial(train, pd.concat([train.data] * 3, ignore_index=True))
    results = {r.attack: r for r in membership_inference(train, holdout, leak, seed=0)}
    assert set(results) == {"domias", "distance"}
    assert results["distance"].auc > 0.95 and results["distance"].auc_low > 0.9
    assert results["domias"].auc_low > 0.55
    for r in results.values():
        assert abs(r.ceiling_auc - 0.5) < 0.1  # a real sample carries no membership
        assert r.n_members == len(train) and r.n_non_members == len(holdout)


def test_membership_inference_on_an_independent_real_sample_finds_nothing(thirds):
    train, holdout, independent = thirds
    for r in membership_inference(train, holdout, _artificial(independent), seed=1):
        assert r.auc_low < 0.5 < r.auc_high, r
        assert abs(r.auc - 0.5) < 0.08


def test_membership_inference_refuses_a_holdout_too_small_to_cut_in_three(thirds):
    train, holdout, _ = thirds
    with pytest.raises(JumeauError, match=f"at least {MIN_HOLDOUT} holdout"):
        membership_inference(train, holdout.subset(range(MIN_HOLDOUT - 1)), _artificial(train))


def test_membership_inference_is_reproducible_with_its_seed(thirds):
    train, holdout, independent = thirds
    first = membership_inference(train, holdout, _artificial(independent), seed=3)
    again = membership_inference(train, holdout, _artificial(independent), seed=3)
    assert first == again


# ---------------------------------------------------------------------- anonymeter, fair sizes
def test_attacks_use_equal_sets_and_carry_a_real_ceiling(thirds):
    train, holdout, independent = thirds
    big = _artificial(independent, pd.concat([independent.data] * 4, ignore_index=True))
    report = run_attacks(train, holdout, big, AttackSettings(n_attacks=60, repeats=2))
    settings = report.settings
    assert settings["n_patients_per_set"] == min(len(train), len(holdout), len(big))
    assert settings["repeats"] == 2 and settings["n_ceiling_real_sample"] > 0
    for result in report.results:
        assert result.risk is not None and result.ceiling_risk is not None
        assert result.risk_low <= result.risk <= result.risk_high
        # an independent real sample: no risk beyond the EMA threshold
        assert result.risk <= ATTACK_RISK_MAX + 0.05, result


def test_the_attack_ceiling_has_the_attacks_own_sizes_when_training_allows(thirds):
    """Twice as many training patients as holdout ones: the ceiling attacks as many patients as
    the attack (its controls are other training patients), and a leak still stands out of it."""
    train, holdout, _ = thirds
    half_holdout = holdout.subset(np.arange(len(holdout) // 2))
    report = run_attacks(train, half_holdout, _artificial(train), AttackSettings(repeats=2))
    size = report.settings["n_patients_per_set"]
    assert size == len(half_holdout) and len(train) >= 2 * size
    assert report.settings["n_ceiling_real_sample"] == size
    linkability = {r.attack: r for r in report.results}["linkability"]
    assert linkability.ceiling_risk is not None and linkability.ceiling_high is not None
    assert linkability.ceiling_risk < 0.1
    # training rows released as they are: the attacker links far beyond the real ceiling
    assert linkability.risk > linkability.ceiling_high


def test_attacks_refuse_zero_draws(thirds):
    train, holdout, independent = thirds
    with pytest.raises(JumeauError, match="at least one draw"):
        run_attacks(train, holdout, _artificial(independent), AttackSettings(repeats=0))


def test_attacks_default_to_dates_and_named_demographics_as_quasi_identifiers(thirds):
    train, holdout, _ = thirds
    report = run_attacks(train, holdout, _artificial(train), AttackSettings(n_attacks=20))
    assert report.settings["quasi_identifiers"] == ["age"]  # gbsg2 has no sex, date or place


# ---------------------------------------------------------------------- near copies
@pytest.fixture(scope="module")
def on_jittered(thirds):
    train, holdout, _ = thirds
    return evaluate(train, holdout, _jittered(train), FAST)


def test_the_near_copy_verdict_fires_on_jittered_training_rows(on_jittered):
    _, high = on_jittered.detection_interval
    assert high < 0.5
    verdict = _verdict(on_jittered, "near-copy signal")
    assert verdict.ok is False and "beyond chance" in verdict.text
    assert _verdict(on_jittered, "similarity filter").ok is False
    for attack in ("domias", "distance"):
        assert _verdict(on_jittered, f"membership inference ({attack})").ok is False


def test_real_outsiders_pass_the_near_copy_and_filter_verdicts(thirds):
    train, holdout, independent = thirds
    result = evaluate(train, holdout, _artificial(independent), FAST)
    for topic in ("near-copy signal", "similarity filter"):
        assert _verdict(result, topic).ok is True, topic
    for attack in ("domias", "distance"):
        assert _verdict(result, f"membership inference ({attack})").ok is True


def test_outsider_removals_judge_each_holdout_patient_against_the_others():
    distances = np.array([0.0, 0.2, 0.3, 0.4, 0.5])
    # the exact duplicate is under every other patient's threshold; nobody else is
    assert outsider_removals(distances, percentile=0.1) == 1
    assert outsider_removals(distances, percentile=0.1, shared=np.array([1, 0, 0, 0, 0])) == 0
    assert outsider_removals(distances[:1], percentile=0.1) == 0


# ---------------------------------------------------------------------- the JSON
def test_report_json_carries_membership_inference_and_the_ceilings(thirds):
    train, holdout, independent = thirds
    settings = dataclasses.replace(
        FAST, run_attacks=True, attacks=AttackSettings(n_attacks=40, repeats=1)
    )
    privacy = evaluate(train, holdout, _artificial(independent), settings).to_dict()["privacy"]
    rows = privacy["membership_inference"]
    assert [r["attack"] for r in rows] == ["domias", "distance"]
    for row in rows:
        assert {"attack", "auc", "auc_low", "auc_high", "ceiling_auc"} <= set(row)
    assert len(privacy["near_copy_detection"]["detection_auc_95"]) == 2
    assert privacy["outsiders_removed_by_filter"]["holdout"] == len(holdout)
    for result in privacy["attacks"]["results"]:
        assert "ceiling_risk" in result


def test_membership_inference_can_be_switched_off(thirds):
    train, holdout, independent = thirds
    result = evaluate(
        train, holdout, _artificial(independent), dataclasses.replace(FAST, run_membership=False)
    )
    assert result.membership is None
    assert _verdict(result, "membership inference").ok is None


# ---------------------------------------------------------------------- the dossier
def test_the_privacy_dossier_is_written_in_english_and_french_without_patient_values(
    thirds, tmp_path
):
    from jumeau.report import report_meta, write_report
    from jumeau.report.dossier import privacy_lines

    train, holdout, independent = thirds
    settings = dataclasses.replace(
        FAST, run_attacks=True, attacks=AttackSettings(n_attacks=40, repeats=1)
    )
    evaluation = evaluate(train, holdout, _artificial(independent), settings)
    meta = report_meta(seed=0, inputs={}) | {"model_file_personal_data_held": []}
    write_report(evaluation, train, _artificial(independent), tmp_path, meta)
    page = (tmp_path / "privacy.html").read_text()
    for words in ("Privacy dossier", "Dossier de confidentialité", "Singling out (WP29)",
                  "Individualisation (G29)", "Membership inference, density attack",
                  "EMA Policy 0070", "personal_data: false"):  # fmt: skip
        assert words in page, words
    lines = privacy_lines(evaluation)
    assert len(lines) == 9  # three WP29 attacks, two membership, DCR, near-copy, filter, k
    for line in lines:
        assert html.escape(line.value) in page, line.topic
    assert "privacy.html" in (tmp_path / "report.html").read_text()
    assert "://" not in page and "<script" not in page  # self-contained, no network
    # no training row's values: the page holds scores, not patients
    for row in train.data.head(20).itertuples(index=False):
        numbers = [f"{v:g}" for v in row if isinstance(v, float) and v == v and v > 1000]
        assert not numbers or not all(n in page for n in numbers)


def test_the_dossier_says_when_a_check_fails(on_jittered, tmp_path):
    from jumeau.report.dossier import render_dossier

    page = render_dossier(on_jittered, {"model_file_personal_data_held": ["codes"]})
    assert "privacy check(s) fail" in page and "non satisfait" in page
    assert "holds personal data (codes)" in page


def test_the_french_dossier_shows_every_value_in_french(on_jittered):
    from jumeau.report.dossier import privacy_lines, render_dossier
    from jumeau.report.french import to_french

    french = render_dossier(on_jittered, {}).split('id="fr"')[1]
    english_words = re.compile(
        r"\b(risk|real sample|pooled|interval|passed|drawn|outsiders|exact copies|share|of)\b"
    )
    for line in privacy_lines(on_jittered):
        value = to_french(line.value)
        assert html.escape(value) in french, line.topic
        assert not english_words.search(value), value
        assert not re.search(r"\d\.\d", value), value  # decimal commas


def test_french_values_keep_bracketed_pairs_apart():
    from jumeau.report.french import to_french

    assert to_french("risk 0.018 [0.000, 0.044]; pooled over 3 splits") == (
        "risque 0,018 [0,000 ; 0,044]; regroupé sur 3 partitions"
    )
