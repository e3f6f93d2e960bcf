"""Shareable model files: no value that fewer than 10 training patients hold, and no training
code, is in the file — checked on the file's bytes against the real training table — while the
model still loads and samples; the header says `personal_data: false`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load_file
from typer.testing import CliRunner

import jumeau
from jumeau import Cohort
from jumeau.cli import app
from jumeau.datasets import load
from jumeau.generators import make_generator
from jumeau.generators.summaries import (
    SHAREABLE_MIN_PATIENTS,
    number_summary,
    shareable_number_summary,
)

FAST = {"copula": {}, "vae": {"epochs": 3}, "rhvae": {"epochs": 3, "flow_epochs": 2}}


# ---------------------------------------------------------------------- summaries
def test_a_shareable_summary_holds_no_value_of_fewer_than_ten_patients():
    rng = np.random.default_rng(0)
    values = np.round(rng.lognormal(3.0, 0.6, 400), 1)  # mostly distinct, some ties
    distinct, counts = np.unique(values, return_counts=True)
    exact = number_summary(distinct, counts, 200, has_missing=False)
    shared = shareable_number_summary(distinct, counts, 200, has_missing=False, lowest=0.0)
    rare = distinct[counts < SHAREABLE_MIN_PATIENTS]
    assert np.isin(exact.knots, rare).any()  # the exact summary holds patients' values
    assert not np.isin(shared.knots, rare).any()
    assert np.all(np.diff(shared.knots) > 0) and np.all(np.diff(shared.levels) > 0)
    assert shared.knots[0] >= 0.0  # the declared bound holds
    assert len(shared.knots) <= 400 // SHAREABLE_MIN_PATIENTS + 2


def test_a_tied_column_keeps_its_common_values_and_merges_the_rare_ones():
    distinct = np.array([50.0, 60.0, 70.0, 80.0, 90.0, 100.0])
    counts = np.array([2, 30, 50, 60, 40, 20])  # 50 held by 2 patients: under 2 %
    summary = shareable_number_summary(distinct, counts, 200, has_missing=False)
    assert list(summary.knots) == [60.0, 70.0, 80.0, 90.0, 100.0]
    assert summary.edges is not None and summary.edges[0] == pytest.approx(32 / 202)


def test_a_tied_column_with_many_rare_values_is_micro_aggregated():
    distinct = np.arange(25.0, 80.0)  # ages in years, a few patients each
    counts = np.full(distinct.size, 6)
    summary = shareable_number_summary(distinct, counts, 200, has_missing=False)
    assert summary.edges is None
    assert not np.isin(summary.knots, distinct).any()


# ---------------------------------------------------------------------- files
@pytest.fixture(scope="module")
def breast_cancer() -> Cohort:
    """569 patients, 30 measurements with decimals: most values are one patient's."""
    return load("breast_cancer")


@pytest.mark.parametrize(
    ("model", "dataset"),
    [
        ("copula", "gbsg2"),
        ("copula", "breast_cancer"),
        ("vae", "breast_cancer"),
        ("rhvae", "gbsg2"),
    ],
)
def test_a_shareable_file_holds_no_rare_training_value_and_still_samples(
    model: str,
    dataset: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    found_in_file: Callable[[Path, Cohort], list[str]],
    model_header: Callable[[Path], dict[str, Any]],
) -> None:
    cohort: Cohort = request.getfixturevalue(dataset)
    params = FAST[model]
    fitted = make_generator(model, shareable=True, **params).fit(cohort, seed=0, progress=False)
    path = fitted.save(tmp_path / f"{model}.jumeau")
    assert found_in_file(path, cohort) == []
    header = model_header(path)
    assert header["personal_data"] is False and header["personal_data_held"] == []
    loaded = jumeau.load(path)
    sample = loaded.sample(50, seed=1)
    assert len(sample) == 50 and sample.validate().share_valid == 1.0
    if model == "rhvae":  # no training code: it samples from its prior
        assert load_file(str(path))["rhvae.centroids"].shape[0] == 0
        assert sample.data.equals(loaded.sample(50, seed=1, sampler="prior").data)


def test_the_scan_finds_the_values_an_ordinary_file_holds(
    breast_cancer: Cohort,
    tmp_path: Path,
    found_in_file: Callable[[Path, Cohort], list[str]],
    model_header: Callable[[Path], dict[str, Any]],
) -> None:
    """The check above can fail: an ordinary file's knots are training patients' values."""
    fitted = make_generator("copula").fit(breast_cancer, seed=0, progress=False)
    path = fitted.save(tmp_path / "exact.jumeau")
    found = found_in_file(path, breast_cancer)
    assert any(" in encoder.knots." in line for line in found)
    assert model_header(path)["personal_data"] is True


def test_jumeau_fit_shareable_says_the_file_holds_no_personal_data(
    gbsg2: Cohort, tmp_path: Path, model_header: Callable[[Path], dict[str, Any]]
) -> None:
    data = tmp_path / "gbsg2.csv"
    gbsg2.data.to_csv(data, index=False)
    output = tmp_path / "model.jumeau"
    result = CliRunner().invoke(
        app, ["fit", str(data), "-o", str(output), "--model", "copula", "--shareable", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "holds no personal data" in result.output
    assert model_header(output)["personal_data"] is False
    result = CliRunner().invoke(app, ["fit", str(data), "-o", str(output), "-m", "copula"])
    assert result.exit_code == 0 and "holds personal data" in result.output
