"""Fitting a score: selection, the three risk models, files that never pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from lifelines import CoxPHFitter
from safetensors import safe_open
from sklearn.linear_model import LogisticRegression

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.generators.persistence import ModelFileError
from jumeau.prognostic.persistence import load_score
from jumeau.prognostic.score import PrognosticScore


@pytest.fixture(scope="module")
def gbsg2_score(gbsg2_halves: tuple[Cohort, Cohort]) -> PrognosticScore:
    return PrognosticScore(n_variables=4, folds=3, repeats=1).fit(gbsg2_halves[0], seed=0)


def test_fit_returns_self_with_learned_state(gbsg2_halves: tuple[Cohort, Cohort]) -> None:
    score = PrognosticScore(n_variables=3, folds=3, repeats=1)
    assert score.fit(gbsg2_halves[0], seed=1) is score
    assert len(score.variables_) == 3
    assert score.selection_ is not None and score.selection_.chosen == score.variables_
    assert score.training_["rows"] == len(gbsg2_halves[0])
    assert score.training_["sha256"] == gbsg2_halves[0].sha256


def test_selection_finds_the_variables_that_matter(linear_cohort: Cohort) -> None:
    """y depends on x1, x2 and group; x3..x5 are noise."""
    for model in ("boosting", "reference"):
        score = PrognosticScore(model=model, n_variables=3, folds=4, repeats=2)  # type: ignore[arg-type]
        score.fit(linear_cohort, target="outcome", seed=0)
        assert set(score.variables_) == {"x1", "x2", "group"}, model
        assert score.selection_ is not None
        for noise in ("x3", "x4", "x5"):
            assert score.selection_.importance[noise] < score.selection_.importance["x2"]
        assert all(0 <= s <= 1 for s in score.selection_.stability.values())


def test_risks_are_probabilities_ranked_by_the_truth(linear_cohort: Cohort) -> None:
    score = PrognosticScore(n_variables=None).fit(linear_cohort, target="outcome", seed=0)
    risk = score.predict_risk(linear_cohort)
    assert risk.shape == (len(linear_cohort),)
    assert ((risk > 0) & (risk < 1)).all()
    y = linear_cohort.data["outcome"] == "yes"
    assert risk[y.to_numpy()].mean() > risk[~y.to_numpy()].mean() + 0.2


def test_logistic_reference_equals_scikit_learn(linear_cohort: Cohort) -> None:
    score = PrognosticScore(model="reference", n_variables=None)
    score.fit(linear_cohort, target="outcome", seed=0)
    x = score.design_.standardised(linear_cohort.data)
    y = (linear_cohort.data["outcome"] == "yes").astype(int)
    expected = LogisticRegression(max_iter=2000).fit(x, y).predict_proba(x)[:, 1]
    np.testing.assert_allclose(score.predict_risk(linear_cohort), expected, atol=1e-6)


def test_cox_reference_equals_lifelines_survival_at_the_horizon(gbsg2: Cohort) -> None:
    score = PrognosticScore(model="reference", n_variables=None, horizon=1000.0).fit(gbsg2)
    import pandas as pd

    x = score.design_.standardised(gbsg2.data)
    frame = pd.DataFrame(x, columns=[f"v{i}" for i in range(x.shape[1])])
    frame["t"] = gbsg2.data["time"].astype(float).to_numpy()
    frame["e"] = (gbsg2.data["cens"].astype(str) == "1").astype(int).to_numpy()
    cox = CoxPHFitter(penalizer=0.1).fit(frame, "t", "e")
    survival = cox.predict_survival_function(frame.drop(columns=["t", "e"]), times=[1000.0])
    np.testing.assert_allclose(
        score.predict_risk(gbsg2), 1 - survival.to_numpy().ravel(), atol=1e-6
    )


def test_save_and_load_give_the_same_risks(
    gbsg2_score: PrognosticScore, gbsg2_halves: tuple[Cohort, Cohort], tmp_path: Path
) -> None:
    path = tmp_path / "score.jumeau"
    gbsg2_score.save(str(path))
    loaded = load_score(path)
    np.testing.assert_array_equal(
        loaded.predict_risk(gbsg2_halves[1]), gbsg2_score.predict_risk(gbsg2_halves[1])
    )
    assert loaded.task_ == gbsg2_score.task_
    assert loaded.variables_ == gbsg2_score.variables_
    assert loaded.file_versions_["jumeau"]


def test_score_file_holds_no_training_row(
    gbsg2_score: PrognosticScore,
    gbsg2_halves: tuple[Cohort, Cohort],
    tmp_path: Path,
    assert_no_training_row,
) -> None:
    path = tmp_path / "score.jumeau"
    gbsg2_score.save(str(path))
    with safe_open(str(path), framework="numpy") as reader:
        header = reader.metadata()["jumeau"]
    assert_no_training_row(header, gbsg2_halves[0], ["age", "tsize", "pnodes", "time"])


def test_damaged_score_files_raise_clear_errors(
    gbsg2_score: PrognosticScore, tmp_path: Path
) -> None:
    path = tmp_path / "score.jumeau"
    gbsg2_score.save(str(path))
    truncated = tmp_path / "truncated.jumeau"
    truncated.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ModelFileError, match=r"corrupted or truncated|checksum"):
        load_score(truncated)
    with pytest.raises(ModelFileError, match="not found"):
        load_score(tmp_path / "nowhere.jumeau")
    with pytest.raises(ModelFileError, match="jumeau-score"):
        load_score(_generator_file(tmp_path))


def _generator_file(tmp_path: Path) -> Path:
    from jumeau.datasets import load
    from jumeau.generators import make_generator

    path = tmp_path / "generator.jumeau"
    make_generator("copula").fit(load("lung"), seed=0).save(path)
    return path


def test_a_header_edited_by_hand_is_refused(gbsg2_score: PrognosticScore, tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    path = tmp_path / "score.jumeau"
    gbsg2_score.save(str(path))
    with safe_open(str(path), framework="numpy") as reader:
        metadata = dict(reader.metadata())
    header = json.loads(metadata["jumeau"])
    header["design"]["variables"] = header["design"]["variables"][:1]  # fewer features
    metadata["jumeau"] = json.dumps(header)
    edited = tmp_path / "edited.jumeau"
    save_file(load_file(str(path)), str(edited), metadata=metadata)
    with pytest.raises(ModelFileError, match="damaged or inconsistent"):
        load_score(edited)


@pytest.mark.parametrize(
    ("params", "message"),
    [({"model": "forest"}, "model must be one of"), ({"n_variables": 0}, "at least 1")],
)
def test_bad_parameters_are_refused(linear_cohort: Cohort, params: dict, message: str) -> None:
    with pytest.raises(JumeauError, match=message):
        PrognosticScore(**params).fit(linear_cohort, target="outcome")


def test_predicting_without_the_score_variables_is_refused(
    gbsg2_score: PrognosticScore, gbsg2_halves: tuple[Cohort, Cohort]
) -> None:
    frame = gbsg2_halves[1].data.drop(columns=[gbsg2_score.variables_[0]])
    with pytest.raises(JumeauError, match="lack the score's variables"):
        gbsg2_score.predict_risk(frame)
