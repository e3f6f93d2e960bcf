"""The copula fitted under (ε, δ)-differential privacy: the budget spent adds up to what the
file says, the file holds no training value and says so, refusals name the fix, and the latent
correlation release behaves at both ends of the budget."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("opendp")

import jumeau
from jumeau import Cohort
from jumeau.cli import app
from jumeau.data.schema import NUMERIC_KINDS
from jumeau.datasets import load
from jumeau.dp import heaped as heaped_module
from jumeau.dp import mechanisms
from jumeau.dp.mechanisms import BudgetTooSmallError, epsilon_of, histogram_edges
from jumeau.errors import JumeauError, JumeauWarning
from jumeau.generators import make_generator
from jumeau.generators import private_sketches as sketches_module
from jumeau.generators.copula import private as private_module
from jumeau.generators.copula.private import private_latent_correlation
from jumeau.generators.private_marginals import MAX_BINS
from jumeau.generators.private_sketches import MIN_PRIVATE_BINS
from jumeau.report.dossier import privacy_sentence


def _with_public_bounds(cohort: Cohort) -> Cohort:
    """The cohort with a data dictionary's bounds on every number: 0 (or a power of ten below)
    and the power of ten above the largest value — round numbers, not patients' values."""
    schema = cohort.schema.model_copy(deep=True)
    for name, column in schema.columns.items():
        if column.kind not in NUMERIC_KINDS or column.derived is not None:
            continue
        values = pd.to_numeric(cohort.data[name], errors="coerce").dropna()
        low = 0.0 if values.min() >= 0 else -(10.0 ** math.ceil(math.log10(-values.min())))
        high = 10.0 ** math.ceil(math.log10(max(values.max(), 1e-9)) + 1e-12)
        schema.columns[name] = column.model_copy(update={"min": low, "max": high})
    return Cohort(cohort.data, schema, source=cohort.source)


def _on_public_grid(hit: str) -> bool:
    """Whether a value the scan found ("column=value in array") is an edge of one of the
    public histogram grids of its column (any bin count the fit may choose): a round number
    from the bounds, which a patient may happen to hold, not a value read off the patients."""
    column, value = hit.split(" in ")[0].split("=")
    bounds = _BOUNDS[column]
    grids = [histogram_edges(*bounds, bins) for bins in range(MIN_PRIVATE_BINS, MAX_BINS + 1)]
    return bool(np.isclose(np.concatenate(grids), float(value), rtol=0, atol=1e-9).any())


_BOUNDS: dict[str, tuple[float, float]] = {}


@pytest.fixture(scope="module")
def breast_cancer() -> Cohort:
    """569 patients, 30 measurements with decimals: most values are one patient's."""
    cohort = _with_public_bounds(load("breast_cancer"))
    for name, column in cohort.schema.columns.items():
        if column.kind in NUMERIC_KINDS:
            _BOUNDS[name] = (float(column.min), float(column.max))  # type: ignore[arg-type]
    return cohort


@pytest.fixture(scope="module")
def gbsg2_bounded(gbsg2: Cohort) -> Cohort:
    return _with_public_bounds(gbsg2)


def test_a_dp_file_holds_no_rare_training_value_and_records_its_guarantee(
    breast_cancer: Cohort,
    tmp_path: Path,
    found_in_file: Callable[[Path, Cohort], list[str]],
    model_header: Callable[[Path], dict[str, Any]],
) -> None:
    fitted = make_generator("copula", epsilon=5.0).fit(breast_cancer, seed=0, progress=False)
    path = fitted.save(tmp_path / "dp.jumeau")
    assert [hit for hit in found_in_file(path, breast_cancer) if not _on_public_grid(hit)] == []
    header = model_header(path)
    assert header["personal_data"] is False and header["personal_data_held"] == []
    record = header["differential_privacy"]
    assert record["epsilon"] == 5.0
    assert record["delta"] == pytest.approx(1 / len(breast_cancer) ** 2)
    assert "OpenDP" in record["mechanism"] and "zero-concentrated" in record["accountant"]
    assert epsilon_of(record["rho"], record["delta"]) == pytest.approx(5.0, rel=1e-6)
    # the table's hash and its exact size are functions of the patients: not in the file
    assert header["training"]["sha256"].startswith("withheld")
    assert header["training"]["sha256"] != breast_cancer.sha256
    assert abs(header["training"]["rows"] - len(breast_cancer)) < 60
    loaded = jumeau.load(path)
    assert loaded.privacy_ == record
    sample = loaded.sample(200, seed=1)
    assert sample.validate().share_valid == 1.0


def test_the_budget_spent_adds_up_to_the_recorded_rho(
    gbsg2_bounded: Cohort, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every noisy release goes through `private_counts` or `private_gaussian_vector`: their ρ
    add up to the ρ whose (ε, δ) the file records — no release is forgotten, none overspent."""
    spent: list[float] = []

    def counting(function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            spent.append(kwargs["rho"] if "rho" in kwargs else args[-1])
            return function(*args, **kwargs)

        return wrapped

    counts = counting(mechanisms.private_counts)
    monkeypatch.setattr(mechanisms, "private_counts", counts)
    monkeypatch.setattr(sketches_module, "private_counts", counts)
    monkeypatch.setattr(heaped_module, "private_counts", counts)
    monkeypatch.setattr(
        private_module,
        "private_gaussian_vector",
        counting(mechanisms.private_gaussian_vector),
    )
    fitted = make_generator("copula", epsilon=3.0, delta=1e-6).fit(gbsg2_bounded, seed=0)
    assert fitted.privacy_ is not None
    assert sum(spent) == pytest.approx(fitted.privacy_["rho"], rel=1e-9)
    assert epsilon_of(sum(spent), 1e-6) == pytest.approx(3.0, rel=1e-6)


def test_at_a_large_budget_the_dp_copula_keeps_the_shapes_and_the_dependence(
    gbsg2_bounded: Cohort,
) -> None:
    ordinary = make_generator("copula").fit(gbsg2_bounded, seed=0, progress=False)
    private = make_generator("copula", epsilon=50.0).fit(gbsg2_bounded, seed=0, progress=False)
    assert private.privacy_ is not None and private.privacy_["correlation_shrinkage"] < 0.1
    assert np.abs(private.correlation_ - ordinary.correlation_).max() < 0.25
    real = gbsg2_bounded.data
    drawn = private.sample(2000, seed=1).data
    for column in ("age", "tsize", "pnodes"):
        assert abs(drawn[column].median() - real[column].median()) < 0.15 * real[column].std()
    assert drawn["horTh"].value_counts(normalize=True)["yes"] == pytest.approx(
        (real["horTh"] == "yes").mean(), abs=0.06
    )


def test_the_noise_does_not_come_from_the_recorded_seed(gbsg2_bounded: Cohort) -> None:
    """Every output records its seed: noise drawn from it could be recomputed and subtracted.
    OpenDP draws from the system's entropy, so two fits with one seed differ (by design)."""
    first = make_generator("copula", epsilon=5.0).fit(gbsg2_bounded, seed=7, progress=False)
    second = make_generator("copula", epsilon=5.0).fit(gbsg2_bounded, seed=7, progress=False)
    assert not np.allclose(first.correlation_, second.correlation_)


def test_a_budget_too_small_for_a_range_is_refused_with_the_epsilon_that_would_do(
    gbsg2: Cohort,
) -> None:
    with pytest.raises(BudgetTooSmallError, match=r"--epsilon = 0.5 cannot find its range") as no:
        make_generator("copula", epsilon=0.5).fit(gbsg2, seed=0, progress=False)
    suggested = float(str(no.value).rsplit("--epsilon ", 1)[1].split()[0])
    assert 0.5 < suggested < 50
    # the suggestion is the budget at which the range clears the noise floor; OpenDP's noise is
    # not seedable, and a draw can still miss it (once in the CI runs so far, 0 of 6 by hand):
    # a second draw is allowed, a suggestion that misses twice is wrong
    for attempt in range(2):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", JumeauWarning)
                make_generator("copula", epsilon=suggested).fit(gbsg2, seed=0, progress=False)
            break
        except BudgetTooSmallError:
            if attempt == 1:
                raise


def test_a_category_with_more_levels_than_the_budget_can_count_is_refused() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.integers(30, 90, 120).astype(float),
            "ward": [f"W{k:02d}" for k in rng.integers(0, 24, 120)],
        }
    )
    cohort = _with_public_bounds(Cohort.from_frame(frame))
    with pytest.raises(BudgetTooSmallError, match=r"column 'ward': \d+ levels are more than"):
        make_generator("copula", epsilon=0.3).fit(cohort, seed=0, progress=False)


def test_bad_budgets_and_models_without_a_dp_fit_are_refused_in_one_line() -> None:
    with pytest.raises(JumeauError, match="epsilon"):
        make_generator("copula", epsilon=0.0)
    with pytest.raises(JumeauError, match="delta"):
        make_generator("copula", epsilon=1.0, delta=1.0)
    with pytest.raises(JumeauError, match="no differentially private fit yet; use copula or vae"):
        make_generator("rhvae", epsilon=1.0)


def test_the_similarity_filter_is_refused_under_dp(gbsg2_bounded: Cohort, tmp_path: Path) -> None:
    from jumeau import workflow

    with pytest.raises(JumeauError, match="void the guarantee"):
        workflow.run(
            gbsg2_bounded, tmp_path / "run", model="copula", params={"epsilon": 5.0},
            use_filter=True, progress=False,
        )  # fmt: skip
    assert not (tmp_path / "run").exists()


def test_the_latent_correlation_release_at_both_ends_of_the_budget() -> None:
    rng = np.random.default_rng(1)
    truth = np.array([[1.0, 0.6, -0.3], [0.6, 1.0, 0.0], [-0.3, 0.0, 1.0]])
    rows = rng.multivariate_normal(np.zeros(3), truth, size=4000) * 0.3  # never clipped
    rows[::50, 1] = np.nan  # a missing coordinate counts as 0
    estimate, shrinkage = private_latent_correlation(rows, rho=1e8)
    assert shrinkage < 0.01
    assert np.allclose(estimate, truth, atol=0.06)
    # a budget that buys nothing: the release falls back toward independence, not to noise
    # (the shrinkage is itself estimated from three noisy entries: judged over 50 releases;
    # the truth's mean |correlation| is 0.3)
    releases = [private_latent_correlation(rows[:50], rho=1e-6) for _ in range(50)]
    assert np.median([shrinkage for _, shrinkage in releases]) > 0.7
    off = ~np.eye(3, dtype=bool)
    assert np.mean([np.abs(estimate[off]).mean() for estimate, _ in releases]) < 0.15
    assert all(np.all(np.linalg.eigvalsh(estimate) > 0) for estimate, _ in releases)


def test_a_small_budget_warns_that_the_dependence_was_mostly_noise(gbsg2_bounded: Cohort) -> None:
    with pytest.warns(JumeauWarning, match="shrunk .* toward independent columns"):
        make_generator("copula", epsilon=0.3).fit(gbsg2_bounded, seed=0, progress=False)


def test_jumeau_fit_epsilon_writes_a_shareable_dp_file(
    gbsg2_bounded: Cohort, tmp_path: Path, model_header: Callable[[Path], dict[str, Any]]
) -> None:
    data, schema = tmp_path / "gbsg2.csv", tmp_path / "schema.yaml"
    gbsg2_bounded.data.to_csv(data, index=False)
    gbsg2_bounded.schema.to_yaml(schema)
    output = tmp_path / "model.jumeau"
    runner = CliRunner()
    command = ["fit", str(data), "-s", str(schema), "-o", str(output), "-m", "copula", "--quiet"]
    result = runner.invoke(app, [*command, "--epsilon", "4", "--delta", "1e-7"])
    assert result.exit_code == 0, result.output
    assert "holds no personal data" in result.output
    record = model_header(output)["differential_privacy"]
    assert (record["epsilon"], record["delta"]) == (4.0, 1e-7)
    result = runner.invoke(app, [*command[:-3], "-m", "rhvae", "--epsilon", "1"])
    assert result.exit_code == 2 and "no differentially private fit yet" in result.output
    result = runner.invoke(app, [*command, "--delta", "1e-7"])
    assert result.exit_code == 2 and "give --epsilon too" in result.output


def test_the_dossier_says_what_epsilon_means_in_both_languages() -> None:
    record = {"epsilon": 1.0, "delta": 1e-6}
    english = privacy_sentence(record, "en")
    assert "(ε = 1, δ = 1.0e-06)" in english and "factor e^ε = 2.72" in english
    assert "not the measurements below" in english
    french = privacy_sentence(record, "fr")
    assert "facteur e^ε = 2,72" in french and "probabilité" in french
    assert "not used" in privacy_sentence(None, "en")


def test_an_inferred_schema_under_dp_is_warned_about(gbsg2: Cohort, tmp_path: Path) -> None:
    """DP treats the schema as public: one inferred from the patients lists their levels."""
    data = tmp_path / "gbsg2.csv"
    gbsg2.data.to_csv(data, index=False)
    command = ["fit", str(data), "-o", str(tmp_path / "m.jumeau"), "-m", "copula", "--quiet"]
    result = CliRunner().invoke(app, [*command, "--epsilon", "5"])
    assert result.exit_code == 0, result.output
    assert "schema was inferred from the data" in result.output
    assert "schema was inferred" not in CliRunner().invoke(app, command).output


def test_a_continuous_columns_precision_is_released_and_kept() -> None:
    """A weight index recorded in tenths: artificial values between the tenths would be what a
    classifier spots first. The precision is released privately and the samples rounded to it;
    a column with many decimals is left alone."""
    from jumeau.dp.mechanisms import rho_for
    from jumeau.generators.private_sketches import private_decimals

    rng = np.random.default_rng(0)
    tenths = np.round(rng.normal(1.5, 0.4, 600), 1)
    fine = rng.normal(60.0, 9.0, 600)
    assert private_decimals(tenths, rho_for(3.0, 1e-6)) == 1
    assert private_decimals(np.round(fine, 3), rho_for(3.0, 1e-6)) == 3
    assert private_decimals(fine, rho_for(3.0, 1e-6)) is None
    frame = pd.DataFrame({"wmi": np.clip(tenths, 0.1, 3.0), "age": np.round(fine, 3)})
    schema = Cohort.from_frame(frame).schema.model_copy(deep=True)
    for name, (low, high) in {"wmi": (0.0, 3.0), "age": (0.0, 100.0)}.items():
        schema.columns[name] = schema.columns[name].model_copy(update={"min": low, "max": high})
    fitted = make_generator("copula", epsilon=5.0).fit(Cohort(frame, schema), seed=0)
    drawn = fitted.sample(300, seed=1).data["wmi"].astype(float).to_numpy()
    assert np.allclose(drawn, np.round(drawn, 1)) and len(np.unique(drawn)) > 5
