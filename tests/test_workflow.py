"""The end-to-end job: a seeded stratified split, a filtered sample of exactly n patients, every
output file, and reports on artificial cohorts made by other tools."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pandas as pd
import pytest

from jumeau import Cohort, workflow
from jumeau.datasets import load
from jumeau.errors import DataError, JumeauError, JumeauWarning
from jumeau.evaluation.evaluate import EvaluationSettings
from jumeau.evaluation.similarity import filter_close
from jumeau.generators import load_generator
from jumeau.generators.copula.model import GaussianCopula
from jumeau.generators.registry import make_generator
from jumeau.workflow import filtered_sample, load_artificial, report_only, split_cohort

FAST = EvaluationSettings(
    seed=0, run_attacks=False, factors=(0, 1), small_cohort_sizes=(50,), small_cohort_repeats=1
)
# a stricter similarity filter, so that the run below certainly removes patients and tops up
STRICT = dataclasses.replace(FAST, filter_percentile=5.0)


# ---------------------------------------------------------------------- split_cohort
def test_split_is_disjoint_and_covers_every_row(lung):
    train, holdout, rows = split_cohort(lung, seed=0)
    assert rows.dtype.kind == "i" and (np.diff(rows) > 0).all()
    assert len(holdout) == len(rows) == round(0.3 * len(lung))
    rest = np.setdiff1d(np.arange(len(lung)), rows)
    assert len(train) + len(holdout) == len(lung)
    pd.testing.assert_frame_equal(holdout.data, lung.data.iloc[rows].reset_index(drop=True))
    pd.testing.assert_frame_equal(train.data, lung.data.iloc[rest].reset_index(drop=True))
    assert not train.artificial and not holdout.artificial


def test_split_is_seeded():
    cancer = load("breast_cancer")
    _, _, first = split_cohort(cancer, seed=7)
    _, _, again = split_cohort(cancer, seed=7)
    _, _, other = split_cohort(cancer, seed=8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    _, _, large_seed = split_cohort(cancer, seed=2**40 + 7)  # any whole-number seed works
    assert len(large_seed) == len(first)


def test_split_is_stratified_on_the_outcome():
    """On every seed the holdout holds the malignant share to within one patient; a plain
    random split of 171 out of 569 patients strays by several patients on most seeds."""
    cancer = load("breast_cancer")
    malignant = (cancer.data["diagnosis"] == "malignant").to_numpy()
    expected = 0.3 * malignant.sum()
    for seed in range(10):
        train, holdout, rows = split_cohort(cancer, seed=seed)
        assert abs(malignant[rows].sum() - expected) <= 1
        shares = [(c.data["diagnosis"] == "malignant").mean() for c in (train, holdout)]
        assert abs(shares[0] - shares[1]) < 0.01
    random_gaps = [
        abs(malignant[np.random.default_rng(s).permutation(569)[:171]].sum() - expected)
        for s in range(10)
    ]
    assert max(random_gaps) > 1  # so the check above can tell stratified from random


def test_split_is_stratified_on_the_event_or_a_chosen_target(gbsg2):
    event = (gbsg2.data["cens"].astype(int) == 1).to_numpy()
    grade = gbsg2.data["tgrade"].astype(str).to_numpy()
    for seed in range(5):
        _, _, rows = split_cohort(gbsg2, seed=seed)
        assert abs(event[rows].sum() - 0.3 * event.sum()) <= 1
        _, _, rows = split_cohort(gbsg2, seed=seed, target="tgrade")
        for level in ("I", "II", "III"):
            assert abs((grade[rows] == level).sum() - 0.3 * (grade == level).sum()) <= 1


def test_a_rare_outcome_level_does_not_stop_the_split(gbsg2):
    """A level held by a single patient cannot be stratified on: a plain split instead."""
    frame = gbsg2.data.copy()
    first_grade = np.flatnonzero(frame["tgrade"].astype(str) == "I")
    frame = frame.drop(index=first_grade[1:]).reset_index(drop=True)
    cohort = Cohort(frame, gbsg2.schema)
    train, holdout, rows = split_cohort(cohort, seed=0, target="tgrade")
    assert len(train) + len(holdout) == len(cohort) == len(gbsg2) - len(first_grade) + 1
    assert len(rows) == round(0.3 * len(cohort))


def test_a_training_side_smaller_than_the_levels_does_not_crash(gbsg2):
    small = gbsg2.subset(np.arange(40))  # three grades, each held by at least two patients
    assert small.data["tgrade"].value_counts().min() >= 2
    try:
        train, holdout, _ = split_cohort(small, share=0.95, target="tgrade")
    except JumeauError:
        return
    assert (len(train), len(holdout)) == (2, 38)


@pytest.mark.parametrize("share", [0.0, 1.0, -0.2, 1.5])
def test_a_bad_holdout_share_is_refused(lung, share):
    with pytest.raises(JumeauError, match="share"):
        split_cohort(lung, share=share)


@pytest.mark.parametrize(("rows", "share"), [(4, 0.3), (20, 0.95), (20, 0.02)])
def test_too_few_patients_on_either_side_are_refused(lung, rows, share):
    with pytest.raises(JumeauError, match="too few"):
        split_cohort(lung.subset(np.arange(rows)), share=share)


# ---------------------------------------------------------------------- filtered_sample
@pytest.fixture(scope="module")
def lung_split(lung):
    train, holdout, _ = split_cohort(lung, seed=0)
    return train, holdout


@pytest.fixture(scope="module")
def copula(lung_split):
    return make_generator("copula").fit(lung_split[0], seed=0, progress=False)


class HalfCopies(GaussianCopula):
    """A generator that memorised: every other patient it emits is a training patient."""

    def fit(self, cohort, *, seed=0, progress=True):
        super().fit(cohort, seed=seed, progress=progress)
        self.memory_ = cohort.data[self.schema_.names].reset_index(drop=True)
        return self

    def sample(self, n, *, seed=None, where=None):
        drawn = super().sample(n, seed=seed, where=where).data.copy()
        copies = self.memory_.sample(n=n, replace=True, random_state=seed % 2**32)
        drawn.iloc[::2] = copies.iloc[::2].to_numpy()
        return Cohort(drawn, self.schema_, source="half-copies", artificial=True)


class OnlyCopies(HalfCopies):
    """A generator that returns training patients and nothing else."""

    def sample(self, n, *, seed=None, where=None):
        rows = self.memory_.sample(n=n, replace=True, random_state=(seed or 0) % 2**32)
        return Cohort(rows.reset_index(drop=True), self.schema_, source="copies", artificial=True)


def test_filtered_sample_gives_exactly_n_patients_that_all_pass(copula, lung_split):
    train, holdout = lung_split
    # a strict filter (25th percentile) removes many: the top-up rounds must replace them
    cohort, removed = filtered_sample(copula, 300, train, holdout, seed=0, percentile=25)
    assert len(cohort) == 300 and cohort.artificial
    assert removed > 30
    assert filter_close(cohort, train, holdout, percentile=25).n_removed == 0
    again, _ = filtered_sample(copula, 300, train, holdout, seed=0, percentile=25)
    pd.testing.assert_frame_equal(cohort.data, again.data)
    other, _ = filtered_sample(copula, 300, train, holdout, seed=1, percentile=25)
    assert not cohort.data.equals(other.data)


def test_filtered_sample_keeps_the_condition(copula, lung_split):
    train, holdout = lung_split
    cohort, _ = filtered_sample(
        copula, 80, train, holdout, seed=0, percentile=0.1, where="age > 65"
    )
    assert len(cohort) == 80 and (cohort.data["age"] > 65).all()


def test_a_copying_generator_warns_and_gives_fewer(lung_split):
    train, holdout = lung_split
    generator = HalfCopies().fit(train, seed=0, progress=False)
    with pytest.warns(JumeauWarning, match=r"only \d+ of 200 .* similarity filter"):
        cohort, removed = filtered_sample(generator, 200, train, holdout, seed=0, percentile=0.1)
    assert 100 <= len(cohort) < 200
    assert removed > 150  # every copy, in each of the six rounds
    assert filter_close(cohort, train, holdout).n_exact_copies == 0


def test_a_generator_that_only_copies_leaves_nobody(lung_split):
    train, holdout = lung_split
    generator = OnlyCopies().fit(train, seed=0, progress=False)
    with pytest.warns(JumeauWarning, match="only 0 of 50"):
        cohort, removed = filtered_sample(generator, 50, train, holdout, seed=0, percentile=0.1)
    assert len(cohort) == 0 and removed == 50 * 6
    assert list(cohort.data.columns) == generator.schema.names


def test_asking_for_no_patient_is_a_clear_error(copula, lung_split):
    train, holdout = lung_split
    with pytest.raises(JumeauError, match="at least one artificial patient"):
        filtered_sample(copula, 0, train, holdout, seed=0, percentile=0.1)


# ---------------------------------------------------------------------- run
@pytest.fixture(scope="module")
def lung_run(lung, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run") / "out"
    said: list[str] = []
    result = workflow.run(
        lung,
        folder,
        model="copula",
        n=300,
        seed=0,
        settings=STRICT,
        progress=False,
        say=said.append,
    )
    return result, folder, said


def test_run_writes_every_output(lung_run):
    result, folder, said = lung_run
    assert sorted(p.name for p in folder.iterdir()) == [
        "artificial.csv",
        "artificial.csv.provenance.json",
        "model.jumeau",
        "privacy.html",
        "report.html",
        "report.json",
        "split.json",
    ]
    assert set(result.files) == {
        "model",
        "artificial",
        "provenance",
        "split",
        "report",
        "report_json",
    }
    assert all(path.parent == folder and path.exists() for path in result.files.values())
    assert said[0] == "split: 160 training / 68 holdout patients"
    assert any(re.match(r"sampled 300 artificial patients \(\d+ removed", s) for s in said)


def test_run_writes_n_patients_that_pass_the_filter(lung_run, lung):
    result, folder, _ = lung_run
    frame = pd.read_csv(folder / "artificial.csv")
    assert len(frame) == 300 == len(result.artificial)
    assert list(frame.columns) == lung.schema.modelled_columns  # never the excluded `inst`
    artificial = load_artificial(folder / "artificial.csv", lung.schema)
    train, holdout, _ = split_cohort(lung, seed=0)
    assert filter_close(artificial, train, holdout).n_removed == 0
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert report["sizes"] == {"train": 160, "holdout": 68, "artificial": 300}
    assert report["meta"]["seed"] == 0 and report["meta"]["model"] == "copula"
    assert report["meta"]["inputs_sha256"]["data"] == lung.sha256
    assert report["meta"]["inputs_sha256"]["train"] == train.sha256
    assert "50" in report["utility"]["small_cohorts"]  # the generator was refitted


def test_split_file_holds_row_positions_only(lung_run, lung):
    _, folder, _ = lung_run
    text = (folder / "split.json").read_text(encoding="utf-8")
    split = json.loads(text)
    assert set(split) == {"seed", "holdout_share", "input_sha256", "holdout_rows"}
    rows = split["holdout_rows"]
    assert all(type(r) is int for r in rows)
    assert rows == sorted(set(rows)) and rows[0] >= 0 and rows[-1] < len(lung)
    _, _, expected = split_cohort(lung, seed=split["seed"], share=split["holdout_share"])
    assert rows == expected.tolist()  # the split can be rebuilt from the file
    assert split["input_sha256"] == lung.sha256
    # nothing but positions: the share is the only number that is not a whole number
    assert re.sub(r'"holdout_share": 0\.3', "", text).count(".") == 0


def test_run_records_the_model_and_its_provenance(lung_run, lung):
    _, folder, _ = lung_run
    provenance = json.loads((folder / "artificial.csv.provenance.json").read_text())
    assert provenance["model"] == "copula" and provenance["fit_seed"] == 0
    assert provenance["training_data"]["rows"] == 160
    train, _, _ = split_cohort(lung, seed=0)
    assert provenance["training_data"]["sha256"] == train.sha256  # fitted on train only
    reloaded = load_generator(folder / "model.jumeau")
    assert len(reloaded.sample(20, seed=3)) == 20


def test_run_provenance_describes_the_whole_sample(lung_run):
    _, folder, said = lung_run
    removed = int(re.search(r"\((\d+) removed", " ".join(said)).group(1))
    assert removed > 0  # a top-up round ran
    provenance = json.loads((folder / "artificial.csv.provenance.json").read_text())
    assert provenance["sampling"]["requested"] == 300


def test_run_is_seeded(lung_run, lung, tmp_path):
    result, folder, _ = lung_run
    again = workflow.run(lung, tmp_path, model="copula", n=300, seed=0, settings=STRICT)
    pd.testing.assert_frame_equal(again.artificial.data, result.artificial.data)
    assert (tmp_path / "split.json").read_text() == (folder / "split.json").read_text()


def test_run_without_the_filter(lung, tmp_path):
    result = workflow.run(
        lung, tmp_path, model="copula", n=120, seed=1, settings=FAST, use_filter=False
    )
    assert len(pd.read_csv(tmp_path / "artificial.csv")) == 120
    assert result.evaluation.n_artificial == 120


def test_run_refuses_too_small_a_cohort_before_writing(lung, tmp_path):
    with pytest.raises(DataError, match="too few"):
        workflow.run(lung.subset(np.arange(15)), tmp_path / "out", model="copula", n=10)
    assert not (tmp_path / "out").exists()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # means of the empty cohort
def test_run_with_a_copying_generator_ends_cleanly(lung, tmp_path, monkeypatch):
    monkeypatch.setattr(workflow, "make_generator", lambda name, **params: OnlyCopies())
    with pytest.warns(JumeauWarning, match="similarity filter"):
        try:
            result = workflow.run(
                lung, tmp_path, model="copula", n=50, settings=FAST, privacy_splits=1
            )
        except JumeauError:
            return
    assert len(result.artificial) == 0 and result.files["report"].exists()


def test_the_report_of_a_run_shows_what_the_filter_removed(lung, tmp_path, monkeypatch):
    monkeypatch.setattr(workflow, "make_generator", lambda name, **params: HalfCopies())
    said: list[str] = []
    settings = EvaluationSettings(seed=0, run_attacks=False, factors=(0,), small_cohort_sizes=())
    with pytest.warns(JumeauWarning, match="similarity filter"):
        result = workflow.run(
            lung, tmp_path, model="copula", n=80, settings=settings, say=said.append,
            privacy_splits=1,
        )  # fmt: skip
    removed = int(re.search(r"\((\d+) removed", " ".join(said)).group(1))
    assert removed >= 60  # half of every round were training patients
    (line,) = [v for v in result.evaluation.verdicts if v.topic == "similarity filter"]
    assert line.ok is False


# ---------------------------------------------------------------------- another tool's cohort
@pytest.fixture(scope="module")
def foreign_csv(lung_split, tmp_path_factory):
    """Another tool's output: columns in another order, values as that tool writes them, a
    patient number of its own, and no `inst` (the real data's excluded column)."""
    train, _ = lung_split
    frame = make_generator("copula").fit(train, seed=5, progress=False).sample(250, seed=5).data
    frame = frame.astype(object).where(frame.notna(), None)
    frame = frame[list(reversed(frame.columns))]
    frame.insert(0, "synthetic_id", [f"S{i:04d}" for i in range(len(frame))])
    path = tmp_path_factory.mktemp("tool") / "other_tool.csv"
    frame.to_csv(path, index=False)
    return path


def test_load_artificial_reads_another_tools_file(foreign_csv, lung):
    cohort = load_artificial(foreign_csv, lung.schema)
    assert cohort.artificial and len(cohort) == 250
    assert list(cohort.data.columns) == lung.schema.modelled_columns
    assert "inst" not in cohort.schema.names and "synthetic_id" not in cohort.data
    assert cohort.data["ph_ecog"].dtype == "category"
    assert len(cohort.sha256) == 64


def test_report_only_on_another_tools_cohort(foreign_csv, lung_split, lung, tmp_path):
    train, holdout = lung_split
    artificial = load_artificial(foreign_csv, lung.schema)
    evaluation, html_path, json_path = report_only(
        train, holdout, artificial, tmp_path / "report", settings=FAST
    )
    assert html_path.exists() and json_path.exists()
    assert evaluation.n_artificial == 250
    assert any("No generator to refit" in note for note in evaluation.notes)
    assert evaluation.utility.small_cohorts == {}
    report = json.loads(json_path.read_text(encoding="utf-8"))
    assert report["meta"]["inputs_sha256"] == {
        "train": train.sha256,
        "holdout": holdout.sha256,
        "artificial": artificial.sha256,
    }
    assert 0.3 < report["privacy"]["dcr_share"] < 0.7  # a copula fitted on train, not copies
    assert report["fidelity"]["artificial"]["rule_validity"] == 1.0  # sampled under the rules
    assert "Augmentation curve: not drawn" not in html_path.read_text(encoding="utf-8")


def test_load_artificial_names_a_missing_column(foreign_csv, lung, tmp_path):
    frame = pd.read_csv(foreign_csv).drop(columns=["meal_cal", "wt_loss"])
    path = tmp_path / "lacking.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="meal_cal, wt_loss") as caught:
        load_artificial(path, lung.schema)
    assert "lacking.csv" in str(caught.value)


def test_load_artificial_refuses_unknown_categories(foreign_csv, lung, tmp_path):
    frame = pd.read_csv(foreign_csv)
    frame.loc[3, "sex"] = "unknown"
    path = tmp_path / "odd.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(JumeauError, match="sex"):
        load_artificial(path, lung.schema)
