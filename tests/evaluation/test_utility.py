"""Utility on real cohorts, scored on held-out real patients: the analysis the schema implies,
TRTR / TSTR / augmentation, the small-cohort study, and failures that become error entries."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jumeau import Cohort, Schema
from jumeau.datasets import load
from jumeau.errors import JumeauError
from jumeau.evaluation.utility import (
    AUGMENTATION_FACTORS,
    design_matrix,
    evaluate_utility,
    score_training,
    small_cohort_augmentation,
    utility_task,
)
from jumeau.generators.registry import make_generator


def _split(name: str, share: float = 0.3, seed: int = 0) -> tuple[Cohort, Cohort]:
    cohort = load(name)
    order = np.random.default_rng(seed).permutation(len(cohort))
    n_holdout = round(share * len(cohort))
    return cohort.subset(np.sort(order[n_holdout:])), cohort.subset(np.sort(order[:n_holdout]))


def _copula(train: Cohort, n: int, seed: int = 1) -> Cohort:
    return make_generator("copula").fit(train, seed=0, progress=False).sample(n, seed=seed)


@pytest.fixture(scope="module")
def cancer():
    train, holdout = _split("breast_cancer")
    task = utility_task(train.schema)
    return train, holdout, task, evaluate_utility(task, train, holdout, _copula(train, len(train)))


@pytest.fixture(scope="module")
def gbsg2_split():
    return _split("gbsg2")


# ---------------------------------------------------------------------- the task
def test_the_task_follows_the_schema():
    cancer, gbsg2, diabetes, lung = (
        load(n) for n in ("breast_cancer", "gbsg2", "diabetes", "lung")
    )

    task = utility_task(cancer.schema)
    assert (task.kind, task.target, task.time) == ("classification", "diagnosis", None)
    assert len(task.features) == 30 and "diagnosis" not in task.features
    assert task.metrics == ("balanced_accuracy", "roc_auc")

    task = utility_task(gbsg2.schema)
    assert (task.kind, task.target, task.time) == ("survival", "cens", "time")
    assert set(task.features) == set(gbsg2.schema.names) - {"cens", "time"}
    assert task.metrics == ("c_index",) and task.models == ("cox",)

    task = utility_task(diabetes.schema)
    assert (task.kind, task.target) == ("regression", "progression")
    assert task.metrics == ("r2",)

    task = utility_task(lung.schema)
    assert (task.kind, task.target, task.time) == ("survival", "status", "time")
    assert "inst" not in task.features  # excluded columns are never predictors


def test_a_chosen_target_overrides_the_schema():
    schema = load("gbsg2").schema
    grade = utility_task(schema, "tgrade")
    assert grade.kind == "classification" and grade.target == "tgrade"
    assert "time" not in grade.features  # follow-up time is not a baseline predictor
    age = utility_task(schema, "age")
    assert age.kind == "regression" and "age" not in age.features
    assert utility_task(schema, "cens").kind == "survival"


@pytest.mark.parametrize(("dataset", "target"), [("gbsg2", "stage"), ("lung", "inst")])
def test_a_target_that_is_not_modelled_is_refused(dataset, target):
    with pytest.raises(JumeauError, match=target) as caught:
        utility_task(load(dataset).schema, target)
    assert "choose from" in str(caught.value)


def test_no_outcome_means_no_task():
    schema = Schema.model_validate(
        {"columns": {"x": {"kind": "continuous"}, "y": {"kind": "integer"}}}
    )
    assert utility_task(schema) is None


def test_design_matrix_has_the_same_columns_whatever_levels_appear():
    schema = Schema.model_validate(
        {
            "columns": {
                "grade": {"kind": "ordinal", "categories": ["I", "II", "III"]},
                "x": {"kind": "continuous"},
            }
        }
    )
    frame = pd.DataFrame({"grade": ["I", "II", "II"], "x": [1.5, np.nan, 3.0]})
    matrix = design_matrix(Cohort(frame, schema, artificial=True).data, schema, ["grade", "x"])
    # level I is the reference; III is absent but still gets its (all-zero) column
    np.testing.assert_array_equal(matrix[:, :2], [[0, 0], [1, 0], [1, 0]])
    np.testing.assert_array_equal(matrix[:, 2], [1.5, np.nan, 3.0])
    holed = pd.DataFrame({"grade": ["I", None, "III"], "x": [1.0, 2.0, 3.0]})
    with_missing = design_matrix(Cohort(holed, schema, artificial=True).data, schema, ["grade"])
    np.testing.assert_array_equal(with_missing, [[0, 0, 0], [0, 0, 1], [0, 1, 0]])


# ---------------------------------------------------------------------- real analyses
def test_classification_on_breast_cancer(cancer):
    train, _, task, report = cancer
    assert report.trtr.error is None and report.tstr.error is None
    for model in task.models:
        assert report.trtr.scores["roc_auc"][model] > 0.95
        assert report.trtr.scores["balanced_accuracy"][model] > 0.88
        assert report.tstr.scores["roc_auc"][model] > 0.9  # a copula keeps this easy signal
    assert report.trtr.n_train == len(train) and report.tstr.n_train == len(train)


def test_a_many_level_outcome_is_scored_one_versus_rest():
    """ECOG performance status (four levels, one held by a single patient, one missing) follows
    the Karnofsky score closely: macro one-versus-rest AUC well above chance."""
    train, holdout = _split("lung")
    task = utility_task(train.schema, "ph_ecog")
    assert task.kind == "classification" and "ph_karno" in task.features
    scores = score_training(task, train.data, holdout.data, train.schema, seed=0)
    assert scores.error is None
    for model in task.models:
        assert scores.scores["roc_auc"][model] > 0.8
        assert scores.scores["balanced_accuracy"][model] > 0.5  # chance: 1/3 or less


def test_an_outcome_shuffled_cohort_predicts_at_chance(cancer):
    """The metric can fail: labels unrelated to the features give an AUC near 0.5 (on average
    over a few shuffles: one shuffle of a strongly clustered cohort can land far from it)."""
    train, holdout, task, report = cancer
    aucs: dict[str, list[float]] = {model: [] for model in task.models}
    for shuffle in range(5):
        shuffled = train.data.copy()
        shuffled["diagnosis"] = (
            shuffled["diagnosis"].sample(frac=1, random_state=shuffle).to_numpy()
        )
        scores = score_training(task, shuffled, holdout.data, train.schema, seed=0)
        assert scores.error is None
        for model in task.models:
            aucs[model].append(scores.scores["roc_auc"][model])
    for model, values in aucs.items():
        assert abs(np.mean(values) - 0.5) < 0.1, model
        assert max(values) < report.trtr.scores["roc_auc"][model] - 0.2, model


def test_survival_on_gbsg2(gbsg2_split):
    train, holdout = gbsg2_split
    task = utility_task(train.schema)
    report = evaluate_utility(task, train, holdout, _copula(train, len(train)), factors=(0, 1))
    assert 0.6 < report.trtr.scores["c_index"]["cox"] < 0.8
    assert report.tstr.scores["c_index"]["cox"] > 0.55
    # a risk score unrelated to the outcome: the same Cox model on shuffled follow-up
    shuffled = train.data.copy()
    order = np.random.default_rng(1).permutation(len(shuffled))
    shuffled[["time", "cens"]] = shuffled[["time", "cens"]].iloc[order].to_numpy()
    chance = score_training(task, shuffled, holdout.data, train.schema, seed=0)
    assert abs(chance.scores["c_index"]["cox"] - 0.5) < 0.08


def test_survival_with_missing_values_on_lung():
    train, holdout = _split("lung")
    task = utility_task(train.schema)
    scores = score_training(task, train.data, holdout.data, train.schema, seed=0)
    assert scores.error is None
    assert 0.55 < scores.scores["c_index"]["cox"] < 0.8


def test_event_coding_by_label_gives_the_same_concordance(gbsg2_split):
    """The last listed level is the event: 0/1 and censored/relapse give the same analysis."""
    train, holdout = gbsg2_split
    schema = train.schema.model_copy(deep=True)
    schema.columns["cens"].category_labels = None  # the words of 0/1 no longer apply
    schema.columns["cens"].categories = ["censored", "relapse"]
    relabel = {0: "censored", 1: "relapse"}

    def relabelled(cohort: Cohort) -> pd.DataFrame:
        frame = cohort.data.copy()
        frame["cens"] = frame["cens"].astype(object).map(relabel)
        return Cohort(frame, schema).data

    task = utility_task(schema)
    plain = score_training(task, train.data, holdout.data, train.schema, seed=0)
    labelled = score_training(task, relabelled(train), relabelled(holdout), schema, seed=0)
    assert labelled.scores["c_index"]["cox"] == pytest.approx(plain.scores["c_index"]["cox"])
    assert plain.scores["c_index"]["cox"] > 0.6
    # listing the levels the other way round makes censoring the event: a different analysis
    schema.columns["cens"].categories = ["relapse", "censored"]
    swapped = score_training(task, relabelled(train), relabelled(holdout), schema, seed=0)
    assert swapped.scores["c_index"]["cox"] < plain.scores["c_index"]["cox"] - 0.05


def test_regression_on_diabetes():
    train, holdout = _split("diabetes")
    task = utility_task(train.schema)
    report = evaluate_utility(task, train, holdout, _copula(train, len(train)), factors=(0,))
    assert report.trtr.scores["r2"]["ridge"] > 0.3
    assert report.trtr.scores["r2"]["gradient_boosting"] > 0.2
    assert report.tstr.scores["r2"]["ridge"] > 0.2


def test_a_single_class_artificial_cohort_is_an_error_entry_not_a_crash(cancer):
    train, holdout, task, _ = cancer
    benign = train.data[train.data["diagnosis"] == "benign"]
    artificial = Cohort(benign, train.schema, artificial=True)
    report = evaluate_utility(task, train, holdout, artificial, factors=(0, 1))
    assert report.tstr.error is not None and "single diagnosis value" in report.tstr.error
    assert report.tstr.scores == {}
    assert report.trtr.error is None and report.augmentation[1].error is None
    json.dumps(report.to_dict())  # an error entry is still plain data


def test_augmentation_adds_k_times_the_real_patients(gbsg2_split):
    train, holdout = gbsg2_split
    small = train.subset(np.arange(60))
    task = utility_task(train.schema)
    artificial = _copula(train, 700)
    report = evaluate_utility(task, small, holdout, artificial)
    assert tuple(report.augmentation) == AUGMENTATION_FACTORS == (0, 1, 2, 5, 10)
    for k, scores in report.augmentation.items():
        assert scores.n_train == 60 * (1 + k), k
        assert scores.error is None
    assert report.augmentation[0].scores == report.trtr.scores
    # fewer artificial patients than asked: all of them are used, no more
    capped = evaluate_utility(task, small, holdout, artificial.subset(np.arange(100)))
    assert capped.augmentation[10].n_train == 160
    exported = report.to_dict()
    assert list(exported["augmentation"]) == ["0", "1", "2", "5", "10"]
    assert exported["task"]["kind"] == "survival" and exported["task"]["time"] == "time"


# ---------------------------------------------------------------------- small cohorts
def test_small_cohort_augmentation_refits_on_few_patients(gbsg2_split):
    train, holdout = gbsg2_split
    task = utility_task(train.schema)
    calls: list[tuple[int, int, int]] = []

    def fit_and_sample(real: Cohort, n: int, seed: int) -> Cohort:
        calls.append((len(real), n, seed))
        return make_generator("copula").fit(real, seed=seed, progress=False).sample(n, seed=seed)

    messages: list[str] = []
    results = small_cohort_augmentation(
        task,
        train,
        holdout,
        fit_and_sample,
        sizes=(50, 100, len(train), 10_000),
        repeats=2,
        seed=0,
        progress=messages.append,
    )
    assert list(results) == [50, 100]  # sizes not smaller than the training set are skipped
    assert [(size, n) for size, n, _ in calls] == [(50, 500), (50, 500), (100, 1000), (100, 1000)]
    assert len({seed for _, _, seed in calls}) == 4  # every refit gets its own seed
    assert len(messages) == 4 and "repeat 2/2" in messages[1]
    for size, runs in results.items():
        assert len(runs) == 2
        for run in runs:
            assert tuple(run) == AUGMENTATION_FACTORS
            assert [run[k].n_train for k in run] == [size * (1 + k) for k in AUGMENTATION_FACTORS]
            assert all(0.4 < run[k].scores["c_index"]["cox"] < 0.85 for k in run)
    again = small_cohort_augmentation(
        task, train, holdout, fit_and_sample, sizes=(50,), repeats=1, factors=(0, 1), seed=0
    )
    assert again[50][0][1].scores == results[50][0][1].scores  # seeded
