"""Completion (multiple imputation) with each generator.

Observed values never change, every modelled hole is filled, draws follow the model's conditional
law (checked against the exact conditional Gaussian where the copula has one, and against the
truth of planted holes in a real cohort), bounds and rules hold for imputed values, runs are
reproducible by seed, and bad input is refused with a clear error. Neural settings are tiny: these
tests check behaviour, the benchmark measures quality.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr, ndtri

from jumeau import Cohort, JumeauError, JumeauWarning, Schema
from jumeau.completion import Completion, complete
from jumeau.data.schema import ColumnKind
from jumeau.generators import NotFittedError, make_generator
from jumeau.generators.copula import GaussianCopula

TINY = {
    "copula": {},
    "vae": {"epochs": 8, "hidden_dim": 16},
    "rhvae": {"epochs": 4, "flow_epochs": 2, "hidden_dim": 16},
}


@pytest.fixture(scope="module")
def fitted(lung: Cohort) -> dict[str, object]:
    return {
        name: make_generator(name, **params).fit(lung, seed=0, progress=False)
        for name, params in TINY.items()
    }


# ------------------------------------------------------------------ the contract, on real holes
@pytest.mark.parametrize("name", list(TINY))
def test_holes_filled_and_observed_values_untouched(
    name: str, lung: Cohort, fitted: dict[str, object]
) -> None:
    generator = fitted[name]
    copies = generator.complete(lung, m=3, seed=1)
    assert len(copies) == 3
    modelled = generator.schema.names
    observed = lung.data.notna()
    for copy in copies:
        assert copy.data[modelled].notna().all().all()
        assert list(copy.data.columns) == list(lung.data.columns)
        for column in lung.data.columns:
            kept = observed[column]
            pd.testing.assert_series_equal(
                copy.data[column][kept], lung.data[column][kept], check_dtype=False
            )
        assert copy.data["inst"].isna().sum() == lung.data["inst"].isna().sum()  # not modelled
        assert copy.validate().valid_rows[lung.validate().valid_rows].all()
        assert not copy.artificial
    report = generator.last_completion_
    assert report.rows_completed == int(lung.data[modelled].isna().any(axis=1).sum())
    assert report.cells_by_column == {
        c: int(n) for c, n in lung.data[modelled].isna().sum().items() if n
    }
    # the copies differ where values were missing: they carry the imputation uncertainty
    holes = lung.data["meal_cal"].isna()
    assert not copies[0].data["meal_cal"][holes].equals(copies[1].data["meal_cal"][holes])


@pytest.mark.parametrize("name", list(TINY))
def test_same_seed_same_copies_other_seed_other_copies(
    name: str, lung: Cohort, fitted: dict[str, object]
) -> None:
    generator = fitted[name]
    first = generator.complete(lung, m=2, seed=5)
    again = generator.complete(lung, m=2, seed=5)
    other = generator.complete(lung, m=2, seed=6)
    for a, b in zip(first, again, strict=True):
        pd.testing.assert_frame_equal(a.data, b.data)
    assert not first[0].data.equals(other[0].data)


@pytest.mark.parametrize("name", ["vae", "rhvae"])
def test_importance_diagnostics_reported(
    name: str, lung: Cohort, fitted: dict[str, object]
) -> None:
    generator = fitted[name]
    generator.complete(lung, m=2, seed=0)
    diagnostics = generator.last_completion_.diagnostics
    proposals = generator.config.imputation_proposals
    assert diagnostics["proposals"] == proposals
    assert 1 <= diagnostics["p5_effective_sample_size"] <= diagnostics["mean_effective_sample_size"]
    assert diagnostics["mean_effective_sample_size"] <= proposals + 1e-6


def test_complete_cohort_is_returned_unchanged(gbsg2: Cohort) -> None:
    generator = GaussianCopula().fit(gbsg2, seed=0)
    copies = generator.complete(gbsg2, m=2, seed=0)
    for copy in copies:
        pd.testing.assert_frame_equal(copy.data, gbsg2.data)
    assert generator.last_completion_.rows_completed == 0


# ------------------------------------------------------------------ the draws follow the model
def _gaussian_cohort(n: int, seed: int) -> tuple[Cohort, np.ndarray]:
    rng = np.random.default_rng(seed)
    covariance = np.array([[1.0, 0.8, 0.5], [0.8, 1.0, 0.3], [0.5, 0.3, 1.0]])
    values = rng.multivariate_normal(np.zeros(3), covariance, size=n)
    return Cohort.from_frame(pd.DataFrame(values, columns=["a", "b", "c"])), covariance


def test_copula_draws_match_the_exact_conditional_gaussian() -> None:
    """c | a, b is normal with a known mean and variance: the standardised draws are N(0, 1)."""
    cohort, covariance = _gaussian_cohort(4000, seed=0)
    model = GaussianCopula().fit(cohort, seed=0)
    query, _ = _gaussian_cohort(550, seed=1)
    frame = query.data.copy()
    frame.loc[50:, "c"] = np.nan  # 500 holes (a cohort needs some observed values per column)
    copies = model.complete(Cohort(frame, cohort.schema), m=4, seed=3)
    weights = np.linalg.solve(covariance[:2, :2], covariance[:2, 2])
    mean = frame[["a", "b"]].to_numpy()[50:] @ weights
    sd = np.sqrt(covariance[2, 2] - covariance[:2, 2] @ weights)
    z = np.concatenate([(c.data["c"].to_numpy(dtype=float)[50:] - mean) / sd for c in copies])
    assert abs(z.mean()) < 0.08
    assert abs(z.var() - 1.0) < 0.12


def test_copula_gibbs_conditions_a_missing_category_on_the_numbers() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(3000)
    group = np.where(x + 0.5 * rng.standard_normal(3000) > 0, "high", "low")
    frame = pd.DataFrame({"x": x, "group": group})
    cohort = Cohort.from_frame(frame)
    model = GaussianCopula().fit(cohort, seed=0)
    near = 1.5 + 0.01 * rng.standard_normal(600)  # ± 1.5, varied a little (no constant column)
    query = pd.DataFrame(
        {"x": np.r_[near[:300], -near[300:], 0.0, 0.1], "group": [None] * 600 + ["low", "high"]}
    )
    copies = model.complete(Cohort(query, cohort.schema), m=3, seed=0)
    drawn = np.stack([c.data["group"].to_numpy(dtype=object)[:600] for c in copies])
    # the model's own conditional: the category's latent coordinate given x's normal score is
    # N(ρ·s, 1 − ρ²); P(high) is its mass over the "high" interval
    block = model.encoder_.categorical_blocks[0]
    order, edges = model.orders_[0], model.edges_[0]
    position = int(np.argsort(order)[block.levels.index("high")])
    lower = ndtri(np.clip(np.r_[0.0, edges][position], 1e-12, 1 - 1e-12))
    upper = ndtri(np.clip(edges[position], 1e-12, 1 - 1e-12))
    rho = model.correlation_[0, 1]
    for rows, sign in ((slice(0, 300), 1.0), (slice(300, 600), -1.0)):
        score = model.encoder_.to_scores("x", np.array([sign * 1.5]))[0]
        centre, spread = rho * score, np.sqrt(1 - rho**2)
        expected = ndtr((upper - centre) / spread) - ndtr((lower - centre) / spread)
        assert abs((drawn[:, rows] == "high").mean() - expected) < 0.04
    assert (drawn[:, :300] == "high").mean() > 0.75 > 0.25 > (drawn[:, 300:] == "high").mean()


@pytest.mark.parametrize("name", ["copula", "vae"])
def test_imputations_of_planted_holes_beat_the_marginal_guess(name: str, gbsg2: Cohort) -> None:
    """On real patients: hide 30 % of ages and of menopausal statuses (each tells much about the
    other), impute, and compare with the truth. A model that uses the observed values does better
    than the column mean (age) and the most frequent status."""
    rng = np.random.default_rng(0)
    frame = gbsg2.data.copy()
    age_holes = rng.uniform(size=len(frame)) < 0.3
    status_holes = ~age_holes & (rng.uniform(size=len(frame)) < 0.4)
    age_truth = frame.loc[age_holes, "age"].to_numpy(dtype=float)
    status_truth = frame.loc[status_holes, "menostat"].astype(str).to_numpy()
    frame.loc[age_holes, "age"] = np.nan
    frame.loc[status_holes, "menostat"] = None
    # default settings: this checks what a user gets (the tiny ones elsewhere underfit)
    result = complete(Cohort(frame, gbsg2.schema), 5, model=name, seed=0)
    ages = np.mean([c.data.loc[age_holes, "age"].to_numpy(dtype=float) for c in result], axis=0)
    guess = np.nanmean(frame["age"].astype(float))
    assert np.sqrt(np.mean((age_truth - ages) ** 2)) < 0.9 * np.sqrt(
        np.mean((age_truth - guess) ** 2)
    )
    statuses = pd.DataFrame([c.data.loc[status_holes, "menostat"].astype(str) for c in result])
    mode = statuses.mode().iloc[0].to_numpy()
    majority = frame["menostat"].dropna().astype(str).mode().iloc[0]
    assert (mode != status_truth).mean() < 0.9 * (status_truth != majority).mean()


# ------------------------------------------------------------------ bounds, rules, new holes
def test_imputed_values_respect_bounds_and_rules() -> None:
    """b <= a (a rule) and b <= 70 (a bound inside the observed range, which some training
    patients break): imputed b values keep both, by redrawing."""
    rng = np.random.default_rng(2)
    a = rng.uniform(20, 80, 400)
    b = a - rng.uniform(0, 10, 400)
    frame = pd.DataFrame({"a": a, "b": b})
    inferred = Schema.infer(frame).with_rules("b <= a")
    columns = dict(inferred.columns)
    columns["b"] = columns["b"].model_copy(update={"max": 70.0})
    schema = inferred.model_copy(update={"columns": columns})
    model = GaussianCopula().fit(Cohort(frame, schema), seed=0)
    kept = a < 74  # b ≤ 70 and b close below a: feasible, if sometimes in the tail
    holes = pd.DataFrame({"a": a[kept][:200], "b": np.r_[b[kept][:20], [np.nan] * 180]})
    incomplete = Cohort(holes, schema)
    copies = model.complete(incomplete, m=4, seed=0)
    assert model.last_completion_.redrawn > 0 and model.last_completion_.unresolved == 0
    imputed = holes["b"].isna().to_numpy()
    for copy in copies:
        assert (copy.data["b"][imputed] <= copy.data["a"][imputed]).all()
        assert (copy.data["b"][imputed] <= 70.0).all()
    # when the observed values make the bound nearly impossible, the user is told, not misled
    far = pd.DataFrame(
        {"a": np.r_[a[~kept][:30], a[kept][:20]], "b": np.r_[[np.nan] * 30, b[kept][:20]]}
    )
    with pytest.warns(JumeauWarning, match="still break a bound or rule"):
        model.complete(Cohort(far, schema), m=2, seed=0, max_attempts=2)
    assert model.last_completion_.unresolved > 0


@pytest.mark.parametrize("name", ["copula", "vae"])
def test_holes_in_a_column_that_had_none_at_fit_time(
    name: str, gbsg2: Cohort, fitted: dict[str, object]
) -> None:
    model = make_generator(name, **TINY[name]).fit(gbsg2, seed=0, progress=False)
    frame = gbsg2.data.head(40).copy()
    frame.loc[:9, "tgrade"] = None
    frame.loc[5:14, "tsize"] = np.nan
    copies = model.complete(Cohort(frame, gbsg2.schema), m=2, seed=0)
    levels = set(gbsg2.schema.columns["tgrade"].categories or [])
    for copy in copies:
        assert copy.data[["tgrade", "tsize"]].notna().all().all()
        assert set(copy.data["tgrade"].astype(str)) <= {str(v) for v in levels}


# ------------------------------------------------------------------ errors and the API
def test_bad_input_is_refused_clearly(lung: Cohort, fitted: dict[str, object]) -> None:
    generator = fitted["copula"]
    with pytest.raises(JumeauError, match="m \\(completed copies\\)"):
        generator.complete(lung, m=0)
    with pytest.raises(JumeauError, match="m \\(completed copies\\)"):
        generator.complete(lung, m=True)
    with pytest.raises(JumeauError, match="Cohort"):
        generator.complete(lung.data, m=2)
    with pytest.raises(JumeauError, match="lacks column"):
        generator.complete(Cohort.from_frame(lung.data.drop(columns=["wt_loss"])), m=2)
    with pytest.raises(NotFittedError):
        GaussianCopula().complete(lung, m=2)
    with pytest.raises(JumeauError, match="seed"):
        generator.complete(lung, m=2, seed=-1)


def test_complete_fits_by_name_or_uses_a_fitted_model(
    lung: Cohort, fitted: dict[str, object]
) -> None:
    by_name = complete(lung, 2, model="copula", seed=4)
    assert isinstance(by_name, Completion) and len(by_name) == 2
    assert by_name.generator.seed_ == 4 and by_name.report.m == 2
    assert [c for c in by_name] == by_name.cohorts and by_name[1] is by_name.cohorts[1]
    reused = complete(lung, 2, model=fitted["copula"], seed=4)
    assert reused.generator is fitted["copula"]
    with pytest.raises(JumeauError, match="parameters"):
        complete(lung, 2, model=fitted["copula"], shrinkage=0.1)
    with pytest.raises(JumeauError, match="model must be"):
        complete(lung, 2, model=3)  # type: ignore[arg-type]


def test_a_bad_request_is_refused_before_any_fit(
    lung: Cohort, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("a generator was made for a request that had to be refused")

    monkeypatch.setattr("jumeau.completion.impute.make_generator", no_fit)
    with pytest.raises(JumeauError, match="m \\(completed copies\\)"):
        complete(lung, 0, model="rhvae")
    with pytest.raises(JumeauError, match="max_attempts"):
        complete(lung, 2, model="rhvae", max_attempts=-1)


def test_a_missing_value_is_never_imputed_as_missing(
    lung: Cohort, fitted: dict[str, object]
) -> None:
    """ph_ecog is a category with a missing level at fit time: draws must avoid that level."""
    assert lung.schema.columns["ph_ecog"].kind in (ColumnKind.ORDINAL, ColumnKind.CATEGORICAL)
    for name in TINY:
        copies = fitted[name].complete(lung, m=20, seed=0)
        assert all(c.data["ph_ecog"].notna().all() for c in copies)
