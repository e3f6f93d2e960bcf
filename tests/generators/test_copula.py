"""The Gaussian copula on real clinical data, and the Generator contract it keeps.

Every artificial patient satisfies the bounds and rules, samples are reproducible by seed,
`where=` conditions are met or refused with a clear error, identifiers never come out, and the
marginals, missingness and strong correlations of the real cohort are kept.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from jumeau import Cohort, JumeauError
from jumeau.data.schema import CATEGORY_KINDS
from jumeau.datasets import load
from jumeau.errors import JumeauWarning, RuleSyntaxError, TooFewRowsError
from jumeau.generators import NotFittedError, SamplingError, SamplingReport
from jumeau.generators.copula import CopulaConfig, GaussianCopula

DATASETS = ["gbsg2", "lung", "breast_cancer"]
GBSG2_RULE = 'menostat == "Pre" -> age <= 60'


@pytest.fixture(scope="module")
def cohorts(gbsg2: Cohort, lung: Cohort) -> dict[str, Cohort]:
    return {"gbsg2": gbsg2, "lung": lung, "breast_cancer": load("breast_cancer")}


@pytest.fixture(scope="module")
def models(cohorts: dict[str, Cohort]) -> dict[str, GaussianCopula]:
    return {name: GaussianCopula().fit(cohort, seed=0) for name, cohort in cohorts.items()}


@pytest.fixture(scope="module")
def large(models: dict[str, GaussianCopula]) -> dict[str, Cohort]:
    """3000 artificial patients per dataset, for distribution checks."""
    return {name: model.sample(3000, seed=11) for name, model in models.items()}


# ------------------------------------------------------------------ validity
@pytest.mark.parametrize("name", DATASETS)
def test_every_sampled_patient_passes_validation(
    name: str, cohorts: dict[str, Cohort], models: dict[str, GaussianCopula]
) -> None:
    sample = models[name].sample(300, seed=1)
    assert isinstance(sample, Cohort)
    assert len(sample) == 300
    report = sample.validate()
    assert report.ok, str(report)
    modelled = cohorts[name].schema.modelled_columns
    assert list(sample.data.columns) == modelled
    assert sample.schema.names == modelled
    assert sample.schema == models[name].schema


@pytest.mark.parametrize("name", DATASETS)
def test_sampled_columns_have_the_types_of_the_schema(
    name: str, models: dict[str, GaussianCopula]
) -> None:
    sample = models[name].sample(50, seed=2)
    for column_name, column in sample.schema.columns.items():
        values = sample.data[column_name]
        if column.kind in CATEGORY_KINDS:
            assert isinstance(values.dtype, pd.CategoricalDtype)
            assert list(values.cat.categories) == list(column.categories or [])
        elif column.kind.value == "integer":
            assert values.dtype == "Int64"
        else:
            assert values.dtype == np.float64


def test_sample_source_names_the_model_and_seed(models: dict[str, GaussianCopula]) -> None:
    assert models["gbsg2"].sample(5, seed=42).source == "jumeau:copula:seed=42"


# ------------------------------------------------------------------ seeds
@pytest.mark.parametrize("name", DATASETS)
def test_same_seed_same_sample_other_seed_other_sample(
    name: str, models: dict[str, GaussianCopula]
) -> None:
    model = models[name]
    first = model.sample(100, seed=7).data
    pd.testing.assert_frame_equal(first, model.sample(100, seed=7).data)
    assert not first.equals(model.sample(100, seed=8).data)


def test_fit_is_deterministic_for_a_seed(gbsg2: Cohort, models: dict[str, GaussianCopula]) -> None:
    again = GaussianCopula().fit(gbsg2, seed=0)
    assert np.array_equal(again.correlation_, models["gbsg2"].correlation_)
    pd.testing.assert_frame_equal(
        again.sample(50, seed=3).data, models["gbsg2"].sample(50, seed=3).data
    )


def test_a_random_seed_is_recorded_and_reproduces_the_sample(
    models: dict[str, GaussianCopula],
) -> None:
    model = models["lung"]
    first = model.sample(40).data
    seed = model.last_sampling_.seed
    assert isinstance(seed, int)
    pd.testing.assert_frame_equal(first, model.sample(40, seed=seed).data)


def test_numpy_integers_are_accepted_for_n_and_seed(models: dict[str, GaussianCopula]) -> None:
    model = models["gbsg2"]
    sample = model.sample(np.int64(12), seed=np.int64(4))
    assert len(sample) == 12
    pd.testing.assert_frame_equal(sample.data, model.sample(12, seed=4).data)


# ------------------------------------------------------------------ where=
# menostat == "Post" makes menostat constant in the sample
@pytest.mark.filterwarnings("ignore::jumeau.errors.JumeauWarning")
def test_where_returns_exactly_n_matching_patients(models: dict[str, GaussianCopula]) -> None:
    model = models["gbsg2"]
    where = 'age > 60 and menostat == "Post"'
    sample = model.sample(100, seed=5, where=where)
    assert len(sample) == 100
    assert (sample.data["age"] > 60).all()
    assert (sample.data["menostat"] == "Post").all()
    assert sample.validate().ok
    assert len(sample.select(where)) == 100
    report = model.last_sampling_
    assert report.where == where
    assert report.rejected_by["where"] > 0
    assert report.accepted >= 100


def test_where_with_numbers_only(models: dict[str, GaussianCopula]) -> None:
    sample = models["gbsg2"].sample(60, seed=5, where="tsize < 20 and pnodes >= 3")
    assert len(sample) == 60
    assert ((sample.data["tsize"] < 20) & (sample.data["pnodes"] >= 3)).all()


def test_impossible_where_raises_sampling_error_with_counts(
    models: dict[str, GaussianCopula],
) -> None:
    model = models["gbsg2"]
    with pytest.raises(SamplingError, match=r"only 0 of \d+ drawn patients met `age > 200`") as e:
        model.sample(10, seed=1, where="age > 200")
    assert "needed 10" in str(e.value)
    assert "where" in str(e.value)
    report = model.last_sampling_
    assert report.accepted == 0 and report.drawn >= 10 * model.max_attempts
    assert f"of {report.drawn} drawn" in str(e.value)
    assert report.rejected_by["where"] > 0


@pytest.mark.parametrize(
    "where",
    ["age >", "age > > 3", "age => 3", 'menostat == "Post', "and", "unknown_column > 3", "   "],
)
def test_where_that_does_not_parse_raises_rule_syntax_error(
    models: dict[str, GaussianCopula], where: str
) -> None:
    with pytest.raises(RuleSyntaxError):
        models["gbsg2"].sample(5, seed=1, where=where)


def test_where_on_a_category_the_schema_lacks_is_refused(
    models: dict[str, GaussianCopula],
) -> None:
    with pytest.raises(RuleSyntaxError):
        models["gbsg2"].sample(5, seed=1, where='menostat == "Peri"')


# ------------------------------------------------------------------ the sampling report
def test_sampling_report_records_seed_draws_and_rejections_by_rule(
    models: dict[str, GaussianCopula],
) -> None:
    model = models["gbsg2"]
    model.sample(500, seed=1)
    report = model.last_sampling_
    assert isinstance(report, SamplingReport)
    assert report.seed == 1
    assert report.requested == 500
    assert report.drawn >= report.requested
    assert report.accepted >= report.requested
    assert report.where is None
    assert report.rejected_by[GBSG2_RULE] > 0
    known = {r.expr for r in model.schema.rules} | set(model.schema.names) | {"where"}
    assert set(report.rejected_by) <= known
    assert report.rejection_rate == pytest.approx(1 - report.accepted / report.drawn)
    assert 0 <= report.rejection_rate < 0.5
    as_dict = report.as_dict()
    assert as_dict["seed"] == 1 and as_dict["rejection_rate"] == report.rejection_rate


# ------------------------------------------------------------------ identifiers
def test_identifier_column_is_never_emitted(gbsg2: Cohort) -> None:
    frame = gbsg2.data.copy()
    ids = [f"GB-{i:05d}" for i in range(len(frame))]
    frame.insert(0, "patient_id", ids)
    cohort = Cohort.from_frame(frame)
    assert cohort.schema.columns["patient_id"].kind.value == "identifier"
    model = GaussianCopula().fit(cohort, seed=0)
    sample = model.sample(200, seed=1)
    assert "patient_id" not in sample.data.columns
    assert "patient_id" not in sample.schema.columns
    assert list(sample.data.columns) == list(gbsg2.data.columns)
    text = sample.data.astype(str).to_numpy().ravel()
    assert not set(text) & set(ids)
    with pytest.raises(RuleSyntaxError, match="patient_id"):
        model.sample(5, seed=1, where='patient_id == "GB-00001"')


def test_excluded_column_of_lung_is_never_emitted(models: dict[str, GaussianCopula]) -> None:
    assert "inst" not in models["lung"].sample(20, seed=1).data.columns


# ------------------------------------------------------------------ fidelity
def test_lung_missingness_rates_are_kept(lung: Cohort, large: dict[str, Cohort]) -> None:
    real = lung.modelled.isna().mean()
    artificial = large["lung"].data.isna().mean()
    assert real["meal_cal"] > 0.15  # the check means something
    assert artificial["meal_cal"] > 0.1
    for column in real.index:
        assert abs(artificial[column] - real[column]) <= 0.1, column
        if real[column] == 0:
            assert artificial[column] == 0, column


@pytest.mark.parametrize("name", DATASETS)
def test_numeric_means_are_close_to_the_real_ones(
    name: str, cohorts: dict[str, Cohort], large: dict[str, Cohort]
) -> None:
    real = cohorts[name].modelled
    artificial = large[name].data
    numeric = [
        c
        for c, column in cohorts[name].schema.columns.items()
        if column.modelled and column.kind.value in ("continuous", "integer")
    ]
    assert numeric
    for column in numeric:
        values = real[column].astype(float)
        gap = abs(artificial[column].astype(float).mean() - values.mean())
        assert gap <= 0.25 * values.std(), column


@pytest.mark.parametrize("name", ["gbsg2", "lung", "breast_cancer"])
def test_category_frequencies_are_close_to_the_real_ones(
    name: str, cohorts: dict[str, Cohort], large: dict[str, Cohort]
) -> None:
    schema = cohorts[name].schema
    categorical = [c for c, col in schema.columns.items() if col.kind in CATEGORY_KINDS]
    assert categorical
    for column in categorical:
        real = cohorts[name].data[column].value_counts(normalize=True, dropna=False)
        artificial = large[name].data[column].value_counts(normalize=True, dropna=False)
        gap = artificial.reindex(real.index.union(artificial.index), fill_value=0.0) - real.reindex(
            real.index.union(artificial.index), fill_value=0.0
        )
        assert gap.abs().max() <= 0.1, column


def test_strong_correlation_is_kept_and_weak_one_not_inflated(
    cohorts: dict[str, Cohort], large: dict[str, Cohort]
) -> None:
    real, artificial = cohorts["breast_cancer"].data, large["breast_cancer"].data
    strong = ("mean_radius", "mean_perimeter")
    weak = ("radius_error", "mean_fractal_dimension")
    assert real[list(strong)].corr().iloc[0, 1] > 0.99
    assert abs(real[list(weak)].corr().iloc[0, 1]) < 0.05
    assert artificial[list(strong)].corr().iloc[0, 1] > 0.9
    assert abs(artificial[list(weak)].corr().iloc[0, 1]) < 0.15


def test_worst_is_never_below_mean_in_breast_cancer(large: dict[str, Cohort]) -> None:
    data = large["breast_cancer"].data
    for feature in ("radius", "texture", "perimeter", "area", "concavity"):
        assert (data[f"worst_{feature}"] >= data[f"mean_{feature}"]).all()


def test_shrinkage_one_gives_independent_columns(cohorts: dict[str, Cohort]) -> None:
    model = GaussianCopula(shrinkage=1.0).fit(cohorts["breast_cancer"], seed=0)
    assert np.allclose(model.correlation_, np.eye(len(model.correlation_)))


def test_correlation_matrix_is_a_valid_correlation(models: dict[str, GaussianCopula]) -> None:
    for model in models.values():
        matrix = model.correlation_
        assert np.allclose(matrix, matrix.T)
        assert np.allclose(np.diag(matrix), 1.0)
        assert np.linalg.eigvalsh(matrix).min() > 0


# ------------------------------------------------------------------ bad use
def test_fit_on_too_few_rows_raises(gbsg2: Cohort) -> None:
    with pytest.raises(TooFewRowsError, match="19 rows is too few"):
        GaussianCopula().fit(gbsg2.subset(range(19)))


@pytest.mark.parametrize("not_a_cohort", ["gbsg2.data", None, [[1, 2], [3, 4]], "cohort.csv"])
def test_fit_on_something_else_than_a_cohort_raises(gbsg2: Cohort, not_a_cohort: object) -> None:
    thing = gbsg2.data if not_a_cohort == "gbsg2.data" else not_a_cohort
    with pytest.raises(JumeauError, match="expects a jumeau Cohort, got") as error:
        GaussianCopula().fit(thing)  # type: ignore[arg-type]
    assert "Cohort.from_frame" in str(error.value)
    if not_a_cohort == "gbsg2.data":
        assert "got DataFrame" in str(error.value)


def test_sample_save_and_schema_before_fit_raise_not_fitted(tmp_path) -> None:
    model = GaussianCopula()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        model.sample(5, seed=0)
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "model.jumeau")
    with pytest.raises(NotFittedError):
        _ = model.schema
    assert not list(tmp_path.iterdir())
    assert issubclass(NotFittedError, JumeauError)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"shrinkage": 2}, "shrinkage"),
        ({"shrinkage": -0.1}, "shrinkage"),
        ({"shrinkage": "a lot"}, "shrinkage"),
        ({"min_eigenvalue": 0}, "min_eigenvalue"),
        ({"shrinkge": 0.1}, "shrinkge"),
        ({"epochs": 10}, "epochs"),
    ],
)
def test_invalid_parameters_raise_naming_the_parameter(params: dict, named: str) -> None:
    with pytest.raises(JumeauError, match=rf"copula: invalid parameter.*{named}"):
        GaussianCopula(**params)


def test_valid_parameters_are_kept() -> None:
    model = GaussianCopula(shrinkage=0.25)
    assert model.get_params() == {
        "shrinkage": 0.25,
        "min_eigenvalue": 1e-3,
        "em_iterations": 40,
        "gibbs_burn_in": 30,
        "gibbs_thinning": 5,
        "shareable": False,
        "epsilon": None,
        "delta": None,
    }
    assert repr(model) == "GaussianCopula(shrinkage=0.25)"
    assert repr(GaussianCopula()) == "GaussianCopula()"
    from_config = GaussianCopula(config=CopulaConfig(shrinkage=0.5), min_eigenvalue=0.01)
    assert from_config.get_params() == {
        "shrinkage": 0.5,
        "min_eigenvalue": 0.01,
        "em_iterations": 40,
        "gibbs_burn_in": 30,
        "gibbs_thinning": 5,
        "shareable": False,
        "epsilon": None,
        "delta": None,
    }


@pytest.mark.parametrize("n", [0, -1, 2.5, True, "10", None, 10.0])
def test_invalid_n_raises(models: dict[str, GaussianCopula], n: object) -> None:
    with pytest.raises(JumeauError, match="n must be a positive whole number"):
        models["gbsg2"].sample(n, seed=0)  # type: ignore[arg-type]


# ------------------------------------------------------------------ bugs found
def test_sample_where_a_column_is_all_missing(models: dict[str, GaussianCopula]) -> None:
    """lung: one patient drawn without a value somewhere (about a fifth of single draws) makes a
    column all missing; `meal_cal is missing` selects a real subgroup (a fifth of the cohort)."""
    singles = [models["lung"].sample(1, seed=seed) for seed in range(30)]
    assert any(single.data.isna().all().any() for single in singles)
    sample = models["lung"].sample(20, seed=0, where="meal_cal is missing")
    assert len(sample) == 20
    assert sample.data["meal_cal"].isna().all()


def test_where_fixing_a_category_does_not_warn(models: dict[str, GaussianCopula]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", JumeauWarning)
        sample = models["gbsg2"].sample(20, seed=5, where='menostat == "Post"')
    assert (sample.data["menostat"] == "Post").all()


@pytest.mark.parametrize("where", ["fit", "sample"])
def test_negative_seed_raises_a_jumeau_error(
    gbsg2: Cohort, models: dict[str, GaussianCopula], where: str
) -> None:
    with pytest.raises(JumeauError, match="seed"):
        if where == "fit":
            GaussianCopula().fit(gbsg2, seed=-1)
        else:
            models["gbsg2"].sample(5, seed=-1)
