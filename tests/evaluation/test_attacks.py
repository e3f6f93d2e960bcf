"""anonymeter's attacks through jumeau: a copy of the training patients is attacked with success,
an independent real sample is not; defaults, settings and failures behave as documented."""

from __future__ import annotations

import numpy as np
import pytest

from jumeau import Cohort, Schema
from jumeau.datasets import load
from jumeau.errors import JumeauError
from jumeau.evaluation.attacks import (
    AttackSettings,
    default_secrets,
    quasi_identifiers,
    run_attacks,
)

pytest.importorskip("anonymeter")

SETTINGS = AttackSettings(n_attacks=100, seed=0)


def _artificial(cohort: Cohort) -> Cohort:
    return Cohort(cohort.data.copy(), cohort.schema, artificial=True)


@pytest.fixture(scope="module")
def on_copy(thirds):
    train, holdout, _ = thirds
    return run_attacks(train, holdout, _artificial(train), SETTINGS)


@pytest.fixture(scope="module")
def on_independent(thirds):
    train, holdout, independent = thirds
    return run_attacks(train, holdout, _artificial(independent), SETTINGS)


def _by_attack(report) -> dict:
    return {r.attack: r for r in report.results}


# ---------------------------------------------------------------------- defaults
def test_quasi_identifiers_are_found_by_whole_name_parts():
    columns = [
        "age",
        "Sex",
        "age_at_diagnosis",
        "weight_kg",
        "bmi",
        "zipcode",
        "birth_date",
        "stage",  # contains "age", but is not age
        "sexual_activity",  # contains "sex"
        "ph_karno",
        "tsize",
    ]
    assert quasi_identifiers(columns) == [
        "age",
        "Sex",
        "age_at_diagnosis",
        "weight_kg",
        "bmi",
        "zipcode",
        "birth_date",
    ]


def test_the_default_secret_is_the_outcome():
    gbsg2, cancer = load("gbsg2"), load("breast_cancer")
    assert default_secrets(gbsg2, gbsg2.schema.modelled_columns) == ["cens"]
    assert default_secrets(cancer, cancer.schema.modelled_columns) == ["diagnosis"]
    assert default_secrets(gbsg2, ["age", "tsize"]) == []  # the outcome is not shared
    schema = Schema.model_validate({"columns": {"x": {"kind": "continuous"}}})
    plain = Cohort.from_frame(load("gbsg2").data[["age"]].rename(columns={"age": "x"}), schema)
    assert default_secrets(plain, ["x"]) == []


def test_settings_record_the_defaults(on_copy):
    settings = on_copy.settings
    assert settings["quasi_identifiers"] == ["age"]
    assert settings["secrets"] == ["cens"]
    assert settings["n_attacks"] == 100 and settings["seed"] == 0
    assert [r.attack for r in on_copy.results] == ["singling_out", "linkability", "inference"]
    linkability = _by_attack(on_copy)["linkability"]
    assert linkability.detail.startswith("links age to ")
    assert "cens" in _by_attack(on_copy)["inference"].detail
    assert on_copy.to_dict()["results"][0]["attack"] == "singling_out"


# ---------------------------------------------------------------------- known answers
def test_a_copy_of_the_training_patients_is_singled_out_and_its_outcome_inferred(on_copy):
    results = _by_attack(on_copy)
    for name in ("singling_out", "inference"):
        result = results[name]
        assert result.error is None
        assert result.risk > 0.8 and result.risk_low > 0.5, name
        assert result.attack_rate > result.control_rate + 0.2, name


def test_a_copy_of_the_training_patients_is_linked_beyond_the_control(on_copy):
    """With age as the only quasi-identifier, linking is hard even for copies; what is robust is
    that the attacker does clearly better on training patients than on unseen ones."""
    result = _by_attack(on_copy)["linkability"]
    assert result.error is None
    assert result.risk_low > 0.0
    assert result.attack_rate > 3 * result.control_rate


def test_an_independent_real_sample_carries_little_risk(on_independent, on_copy):
    independent, copy = _by_attack(on_independent), _by_attack(on_copy)
    for name, result in independent.items():
        assert result.error is None, name
        assert result.risk <= 0.2, name
        assert result.risk < copy[name].risk, name
    assert independent["singling_out"].risk_high < 0.3
    assert independent["linkability"].risk_high < 0.1
    # an outcome guessed from 9 columns with 100 attacks: a wide interval, but below certainty
    assert independent["inference"].risk_high < 0.7


def test_more_known_columns_link_copies_easily(thirds):
    train, holdout, independent = thirds
    settings = AttackSettings(quasi_identifiers=["age", "tsize", "pnodes"], n_attacks=100)
    copy = _by_attack(run_attacks(train, holdout, _artificial(train), settings))["linkability"]
    other = _by_attack(run_attacks(train, holdout, _artificial(independent), settings))
    assert copy.risk > 0.5
    assert other["linkability"].risk < 0.2


def test_attacks_are_seeded(thirds, on_independent):
    train, holdout, independent = thirds
    again = run_attacks(train, holdout, _artificial(independent), SETTINGS)
    assert again.settings == on_independent.settings
    # anonymeter's random-guess baselines draw from unseeded generators of its own: only the
    # attacks themselves (targets, queries, rates, risks) are reproducible
    seeded = ("risk", "risk_low", "risk_high", "attack_rate", "control_rate")
    for first, second in zip(again.results, on_independent.results, strict=True):
        assert [getattr(first, f) for f in seeded] == [getattr(second, f) for f in seeded]
    state = np.random.get_state()[1].copy()
    run_attacks(train, holdout, _artificial(independent), AttackSettings(n_attacks=20))
    assert (np.random.get_state()[1] == state).all()  # numpy's global RNG is restored


# ---------------------------------------------------------------------- settings and failures
def test_chosen_secrets_give_one_inference_each(thirds):
    train, holdout, independent = thirds
    settings = AttackSettings(secrets=["tgrade", "age"], n_attacks=30)
    report = run_attacks(train, holdout, _artificial(independent), settings)
    inferences = [r for r in report.results if r.attack == "inference"]
    assert [r.detail.split()[1] for r in inferences] == ["tgrade", "age"]
    assert all(r.error is None for r in inferences)  # a category and a number (regression)


@pytest.mark.parametrize("field", ["quasi_identifiers", "secrets"])
def test_unknown_columns_are_refused_with_the_choices(thirds, field):
    train, holdout, independent = thirds
    settings = AttackSettings(**{field: ["age", "weight"]}, n_attacks=10)
    with pytest.raises(JumeauError, match="weight") as caught:
        run_attacks(train, holdout, _artificial(independent), settings)
    assert "tsize" in str(caught.value)  # it lists what can be chosen


def test_attacks_are_capped_by_the_patients_available(thirds):
    train, holdout, independent = thirds
    small_holdout = holdout.subset(np.arange(40))
    report = run_attacks(train, small_holdout, _artificial(independent), AttackSettings())
    assert report.settings["n_attacks"] == 40
    # every attack at most one per patient: 40 controls, so 40 of each (singling out too: a few
    # dozen patients cannot yield 500 distinct queries, and anonymeter would search for them
    # through ten million attempts)
    assert len(report.results) == 3 and all(r.n_attacks == 40 for r in report.results)
    assert all(r.risk is not None for r in report.results)


def test_a_failing_attack_becomes_a_result_that_says_why(thirds):
    """An empty artificial cohort (a filter may remove everyone): no crash, three explanations."""
    train, holdout, _ = thirds
    empty = Cohort(train.data.iloc[:0], train.schema, artificial=True)
    report = run_attacks(train, holdout, empty, AttackSettings(n_attacks=20))
    assert len(report.results) == 3
    for result in report.results:
        assert result.risk is None and result.risk_high is None
        assert result.error and ":" in result.error
