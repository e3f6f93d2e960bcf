"""The model card's computations: the comparison, and what it must not contain."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.prognostic.card import build_card
from jumeau.prognostic.explain import _grid
from jumeau.prognostic.score import PrognosticScore
from jumeau.report.html import json_safe


def test_card_compares_with_a_real_trained_score_and_omits_file_paths(
    linear_cohort: Cohort,
) -> None:
    train, holdout = linear_cohort.subset(range(300)), linear_cohort.subset(range(300, 600))
    score = PrognosticScore(n_variables=3, folds=3, repeats=1)
    score.fit(train.subset(range(150)), target="outcome", seed=0)
    card = build_card(score, holdout, real_training=train.subset(range(150, 300)), bootstrap=10)
    assert len(card.sides) == 2 and card.comparison["metric"] == "roc_auc"
    assert card.task["description"] == "outcome: yes"
    text = json.dumps(json_safe(card.to_dict()))
    assert "made up" not in text  # the training cohort's source (a file path) stays out
    with pytest.raises(JumeauError, match="same data"):
        build_card(score, holdout, real_training=holdout, bootstrap=5)


def test_effect_grids_keep_twenty_patients_beyond_each_end() -> None:
    values = np.arange(100, dtype=float)
    grid = _grid(values, 20)
    assert grid[0] >= np.sort(values)[20] - 1 and grid[-1] <= np.sort(values)[-21] + 1
    assert _grid(np.arange(30, dtype=float), 20) == []  # too few patients for any grid
    wide = _grid(np.arange(1000, dtype=float), 20)
    assert wide[0] == pytest.approx(np.quantile(np.arange(1000), 0.05))
