"""The shared encoding layer: mixed clinical columns <-> a numeric matrix, and back.

Round trips per column type, missing values (indicator blocks, an extra category level), the
layout of blocks, the columns and rules that are never modelled, the saved state, and the promise
that the way back never leaves the observed range of a number.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtri

from jumeau import Cohort, ColumnKind, Schema
from jumeau.datasets import load
from jumeau.generators.encoding import (
    MISSING_LEVEL,
    CategoricalBlock,
    NumericBlock,
    TabularEncoder,
    modelled_schema,
)
from jumeau.generators.registry import make_generator

# pandas' to_timedelta(float days with NaN, unit="D") rounds uninitialised memory at the NaN
# positions and now and then warns "overflow encountered in multiply"; the result is right.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in multiply:RuntimeWarning")

N = 80

SCHEMA = Schema.from_yaml_text(
    """
columns:
  pid: {kind: identifier, role: identifier}
  site: {kind: integer, role: excluded}
  note: {kind: text, role: excluded}
  x: {kind: continuous, unit: mg/L}
  few: {kind: continuous}
  k: {kind: integer, min: 0}
  km: {kind: integer}
  b: {kind: binary, categories: [no, yes]}
  c: {kind: categorical, categories: [a, b, c]}
  o: {kind: ordinal, categories: [I, II, III]}
  visit: {kind: datetime}
rules:
  - k >= 0
  - site > 2 -> k < 100
  - few <= x + 100
"""
)

MODELLED = ["x", "few", "k", "km", "b", "c", "o", "visit"]
DATES = ["2020-01-06", "2020-03-15", "2021-07-01", "2019-12-31", "2022-02-28", "2020-02-29"]


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(20240607)
    frame = pd.DataFrame(
        {
            "pid": [f"P{i:04d}" for i in range(N)],
            "site": rng.integers(1, 5, N),
            "note": rng.choice(["seen", "called back", "ok"], N),
            "x": rng.lognormal(mean=1.0, sigma=0.8, size=N),  # N distinct values, skewed
            "few": rng.choice([1.5, 2.25, 3.7, 10.1, -4.2], N),
            "k": rng.integers(0, 6, N),
            "km": rng.integers(40, 90, N).astype(float),
            "b": rng.choice(["no", "yes"], N),
            "c": rng.choice(["a", "b", "c"], N).astype(object),
            "o": rng.choice(["I", "II", "III"], N),
            "visit": rng.choice(DATES, N).astype(object),
        }
    )
    frame.loc[[3, 17, 40], "x"] = np.nan  # continuous with missing values
    frame.loc[[5, 6, 70], "km"] = np.nan  # integer with missing values
    frame.loc[[2, 11], "c"] = None  # categorical with missing values
    frame.loc[[9], "visit"] = None  # datetime with a missing value
    return frame


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return Cohort(_frame(), SCHEMA)


@pytest.fixture(scope="module")
def encoder(cohort: Cohort) -> TabularEncoder:
    return TabularEncoder().fit(cohort)


@pytest.fixture(scope="module")
def encoded(encoder: TabularEncoder, cohort: Cohort) -> tuple[np.ndarray, np.ndarray]:
    return encoder.transform(cohort.data)


@pytest.fixture(scope="module")
def decoded(encoder: TabularEncoder, encoded: tuple[np.ndarray, np.ndarray]) -> pd.DataFrame:
    return encoder.inverse_transform(encoded[0])


def _values(series: pd.Series) -> list[Any]:
    """Plain Python values, with every kind of missing (NaN, NA, NaT, None) as None."""
    return [None if pd.isna(v) else v for v in series.astype(object).tolist()]


def _numeric_block(encoder: TabularEncoder, column: str) -> NumericBlock:
    return next(b for b in encoder.numeric_blocks if b.column == column)


def _categorical_block(encoder: TabularEncoder, column: str) -> CategoricalBlock:
    return next(b for b in encoder.categorical_blocks if b.column == column and not b.is_indicator)


# ------------------------------------------------------------------ round trip per column type
@pytest.mark.parametrize("column", ["k", "km", "b", "c", "o", "visit"])
def test_round_trip_is_exact_for_columns_with_few_values(
    cohort: Cohort, decoded: pd.DataFrame, column: str
) -> None:
    assert _values(decoded[column]) == _values(cohort.data[column])


def test_integer_columns_stay_integer(cohort: Cohort, decoded: pd.DataFrame) -> None:
    for column in ("k", "km"):
        assert decoded[column].dtype == "Int64"
        present = decoded[column].dropna().to_numpy(dtype=float)
        assert np.array_equal(present, np.round(present))
    assert decoded["km"].isna().sum() == 3


def test_datetime_column_comes_back_as_dates(cohort: Cohort, decoded: pd.DataFrame) -> None:
    assert pd.api.types.is_datetime64_any_dtype(decoded["visit"])
    assert decoded["visit"].isna().tolist() == cohort.data["visit"].isna().tolist()
    assert set(decoded["visit"].dropna()) == {pd.Timestamp(d) for d in DATES}


def test_continuous_with_few_values_round_trips_exactly(
    cohort: Cohort, decoded: pd.DataFrame
) -> None:
    """A tied column goes back through the step-shaped inverse cdf: onto its own values."""
    assert decoded["few"].dtype == np.float64
    assert decoded["few"].tolist() == cohort.data["few"].tolist()


@pytest.mark.parametrize(("column", "tied"), [("few", True), ("k", True), ("x", False)])
def test_tied_columns_keep_to_their_observed_values(
    encoder: TabularEncoder, cohort: Cohort, column: str, tied: bool
) -> None:
    matrix = np.random.default_rng(5).normal(size=(400, encoder.width_))
    back = encoder.inverse_transform(matrix)[column].dropna().astype(float)
    observed = set(cohort.data[column].dropna().astype(float))
    assert (column in encoder.edges_) is tied
    if tied:
        assert set(back) <= observed
        assert len(set(back)) == len(observed)  # and every value can be drawn
    else:
        assert len(set(back) - observed) > 0.9 * len(back)  # interpolated: new values


def test_continuous_with_more_values_than_knots_is_close_and_keeps_rank_order(
    cohort: Cohort,
) -> None:
    encoder = TabularEncoder(max_knots=16).fit(cohort)
    original = cohort.data["x"].to_numpy()
    assert pd.Series(original).nunique() > 16
    back = encoder.inverse_transform(encoder.transform(cohort.data)[0])["x"].to_numpy()
    assert np.array_equal(np.isnan(back), np.isnan(original))
    present = ~np.isnan(original)
    spread = np.nanmax(original) - np.nanmin(original)
    np.testing.assert_allclose(back[present], original[present], rtol=1e-4, atol=1e-4 * spread)
    order = np.argsort(original[present], kind="stable")
    assert np.all(np.diff(back[present][order]) >= 0)
    assert encoder.knots_["x"].size == 16


def test_inverse_columns_are_the_modelled_columns_in_schema_order(decoded: pd.DataFrame) -> None:
    assert list(decoded.columns) == MODELLED
    assert len(decoded) == N


# ------------------------------------------------------------------ missing values
@pytest.mark.parametrize(("column", "rows"), [("x", [3, 17, 40]), ("km", [5, 6, 70])])
def test_numeric_with_missing_gets_an_indicator_block(
    encoder: TabularEncoder,
    encoded: tuple[np.ndarray, np.ndarray],
    column: str,
    rows: list[int],
) -> None:
    matrix, _ = encoded
    block = _numeric_block(encoder, column)
    assert block.indicator is not None
    indicator = encoder.blocks_[block.indicator]
    assert isinstance(indicator, CategoricalBlock)
    assert indicator.is_indicator and indicator.column == column
    assert indicator.levels == (False, True)
    onehot = matrix[:, indicator.start : indicator.stop]
    assert np.array_equal(onehot.sum(axis=1), np.ones(N))
    assert np.flatnonzero(onehot[:, 1] == 1).tolist() == rows
    assert np.all(matrix[rows, block.index] == 0.0)  # missing numbers are encoded as 0


@pytest.mark.parametrize("column", ["few", "k"])
def test_numeric_without_missing_has_no_indicator(encoder: TabularEncoder, column: str) -> None:
    assert _numeric_block(encoder, column).indicator is None
    assert not [b for b in encoder.categorical_blocks if b.column == column]


def test_categorical_with_missing_gets_an_extra_level(
    encoder: TabularEncoder, encoded: tuple[np.ndarray, np.ndarray], decoded: pd.DataFrame
) -> None:
    block = _categorical_block(encoder, "c")
    assert block.levels == ("a", "b", "c", MISSING_LEVEL)
    onehot = encoded[0][:, block.start : block.stop]
    assert np.flatnonzero(onehot[:, -1] == 1).tolist() == [2, 11]
    assert decoded["c"].isna().tolist() == [i in (2, 11) for i in range(N)]
    assert MISSING_LEVEL not in set(decoded["c"].dropna())


def test_categories_without_missing_have_exactly_the_schema_levels(
    encoder: TabularEncoder,
) -> None:
    assert _categorical_block(encoder, "b").levels == ("no", "yes")
    assert _categorical_block(encoder, "o").levels == ("I", "II", "III")


def test_mask_is_zero_exactly_where_numbers_are_missing(
    encoder: TabularEncoder, cohort: Cohort, encoded: tuple[np.ndarray, np.ndarray]
) -> None:
    matrix, mask = encoded
    assert mask.shape == matrix.shape
    expected = np.ones_like(mask)
    for block in encoder.numeric_blocks:
        expected[:, block.index] = ~cohort.data[block.column].isna().to_numpy()
    assert np.array_equal(mask, expected)
    assert set(np.unique(mask)) == {0.0, 1.0}
    assert int((mask == 0).sum()) == 3 + 3 + 1  # x, km, visit


# ------------------------------------------------------------------ layout
def test_width_is_the_sum_of_block_widths_and_blocks_tile_the_matrix(
    encoder: TabularEncoder, encoded: tuple[np.ndarray, np.ndarray]
) -> None:
    matrix, _ = encoded
    assert matrix.dtype == np.float32
    spans = [
        (b.index, b.index + 1) if isinstance(b, NumericBlock) else (b.start, b.stop)
        for b in encoder.blocks_
    ]
    widths = [stop - start for start, stop in spans]
    assert encoder.width_ == sum(widths) == matrix.shape[1]
    # blocks follow one another without gap or overlap
    assert [start for start, _ in spans] == [0, *np.cumsum(widths)[:-1].tolist()]
    # x, few, k, km, visit: 1 each; indicators of x, km, visit: 2 each; b 2, c 3+1, o 3
    assert encoder.width_ == 5 + 3 * 2 + 2 + 4 + 3


def test_categorical_blocks_are_one_hot(
    encoder: TabularEncoder, encoded: tuple[np.ndarray, np.ndarray]
) -> None:
    matrix, _ = encoded
    for block in encoder.categorical_blocks:
        part = matrix[:, block.start : block.stop]
        assert set(np.unique(part)) <= {0.0, 1.0}
        assert np.array_equal(part.sum(axis=1), np.ones(N))


def test_numeric_blocks_record_their_kind(encoder: TabularEncoder) -> None:
    kinds = {b.column: b.kind for b in encoder.numeric_blocks}
    assert kinds == {
        "x": ColumnKind.CONTINUOUS,
        "few": ColumnKind.CONTINUOUS,
        "k": ColumnKind.INTEGER,
        "km": ColumnKind.INTEGER,
        "visit": ColumnKind.DATETIME,
    }


# ------------------------------------------------------------------ what is never modelled
def test_identifiers_text_and_excluded_columns_are_not_modelled(
    encoder: TabularEncoder, cohort: Cohort
) -> None:
    schema = modelled_schema(cohort.schema)
    assert schema.names == MODELLED
    assert encoder.schema_.names == MODELLED
    for never in ("pid", "site", "note"):
        assert never not in schema.columns
        assert never not in {b.column for b in encoder.blocks_}
    assert schema.columns["x"] == cohort.schema.columns["x"]  # columns kept as they are


def test_rules_mentioning_an_excluded_column_are_dropped(cohort: Cohort) -> None:
    schema = modelled_schema(cohort.schema)
    assert [r.expr for r in cohort.schema.rules] == [
        "k >= 0",
        "site > 2 -> k < 100",
        "few <= x + 100",
    ]
    assert [r.expr for r in schema.rules] == ["k >= 0", "few <= x + 100"]


def test_lung_institution_code_is_not_modelled(lung: Cohort) -> None:
    encoder = TabularEncoder().fit(lung)
    assert "inst" in lung.schema.columns
    assert "inst" not in encoder.schema_.columns
    assert encoder.schema_.names == lung.schema.modelled_columns
    assert [r.expr for r in encoder.schema_.rules] == [r.expr for r in lung.schema.rules]


def test_transform_ignores_columns_it_does_not_model(
    encoder: TabularEncoder, cohort: Cohort, encoded: tuple[np.ndarray, np.ndarray]
) -> None:
    shuffled = cohort.data.assign(pid="someone else", site=99)
    matrix, mask = encoder.transform(shuffled)
    assert np.array_equal(matrix, encoded[0]) and np.array_equal(mask, encoded[1])


# ------------------------------------------------------------------ saved state
def test_state_round_trip_through_json_gives_identical_transforms(
    encoder: TabularEncoder, cohort: Cohort, encoded: tuple[np.ndarray, np.ndarray]
) -> None:
    meta, arrays = encoder.state()
    meta = json.loads(json.dumps(meta))  # what a model file holds
    arrays = {name: np.array(value, copy=True) for name, value in arrays.items()}
    assert all(value.ndim == 1 and value.dtype == np.float64 for value in arrays.values())
    restored = TabularEncoder.from_state(meta, arrays, encoder.schema_)

    assert restored.max_knots == encoder.max_knots
    assert restored.width_ == encoder.width_
    assert restored.blocks_ == encoder.blocks_
    matrix, mask = restored.transform(cohort.data)
    assert np.array_equal(matrix, encoded[0])
    assert np.array_equal(mask, encoded[1])
    scores = np.random.default_rng(1).normal(size=(50, encoder.width_))
    pd.testing.assert_frame_equal(
        restored.inverse_transform(scores), encoder.inverse_transform(scores)
    )


def test_state_holds_per_column_summaries_not_rows(encoder: TabularEncoder) -> None:
    _, arrays = encoder.state()
    numeric = {b.column for b in encoder.numeric_blocks}
    tied = set(encoder.edges_)
    assert tied == {"few", "k", "visit"}  # at most half as many distinct values as rows
    assert set(arrays) == (
        {f"encoder.{part}.{c}" for part in ("knots", "levels") for c in numeric}
        | {f"encoder.edges.{c}" for c in tied}
    )
    for column in numeric:
        knots, levels = arrays[f"encoder.knots.{column}"], arrays[f"encoder.levels.{column}"]
        assert knots.shape == levels.shape
        assert knots.size <= encoder.max_knots
        assert np.all(np.diff(knots) > 0) and np.all(np.diff(levels) > 0)
        assert levels[0] > 0 and levels[-1] < 1
    for column in tied:
        edges = arrays[f"encoder.edges.{column}"]
        assert edges.shape == arrays[f"encoder.knots.{column}"].shape
        assert np.all(np.diff(edges) > 0) and edges[-1] == 1.0


# ------------------------------------------------------------------ the observed range
def _observed_range(cohort: Cohort, column: str) -> tuple[Any, Any]:
    values = cohort.data[column].dropna()
    return values.min(), values.max()


@pytest.mark.parametrize("score", [-10.0, 10.0, -np.inf, np.inf, "random"])
@pytest.mark.parametrize("max_knots", [200, 16])
def test_inverse_never_leaves_the_observed_range(
    cohort: Cohort, score: float | str, max_knots: int
) -> None:
    encoder = TabularEncoder(max_knots=max_knots).fit(cohort)
    if score == "random":
        matrix = np.random.default_rng(3).normal(scale=6.0, size=(500, encoder.width_))
    else:
        matrix = np.full((4, encoder.width_), score)
    back = encoder.inverse_transform(matrix)
    for column in ("x", "few", "k", "km", "visit"):
        lo, hi = _observed_range(cohort, column)
        values = back[column].dropna()
        assert len(values) > 0
        assert values.min() >= lo, column
        assert values.max() <= hi, column
        if score in (-10.0, -np.inf):
            assert (values == lo).all(), column
        if score in (10.0, np.inf):
            assert (values == hi).all(), column


def test_extreme_scores_on_real_data_stay_within_range_and_bounds(gbsg2: Cohort) -> None:
    encoder = TabularEncoder().fit(gbsg2)
    for score in (-10.0, 10.0):
        back = Cohort(encoder.inverse_transform(np.full((3, encoder.width_), score)), gbsg2.schema)
        for block in encoder.numeric_blocks:
            lo, hi = _observed_range(gbsg2, block.column)
            assert back.data[block.column].between(lo, hi).all()
        bounds = [v for v in back.validate().violations if v.check == "bound"]
        assert bounds == []


# ------------------------------------------------------------------ bugs found
def test_datetime_with_time_of_day_round_trips() -> None:
    schema = Schema.from_yaml_text("columns:\n  admitted: {kind: datetime}\n")
    times = ["2021-03-01 08:30", "2021-03-02 20:00", "2021-03-05 14:00"]
    cohort = Cohort(pd.DataFrame({"admitted": times * 10}), schema)
    encoder = TabularEncoder().fit(cohort)
    back = encoder.inverse_transform(encoder.transform(cohort.data)[0])
    # actual: 2021-03-01 00:00, 2021-03-03 00:00 and 2021-03-06 00:00 (after the observed max)
    assert back["admitted"].max() <= cohort.data["admitted"].max()
    assert _values(back["admitted"]) == _values(cohort.data["admitted"])


def test_tied_values_get_the_middle_of_their_cdf_jump_with_many_distinct_values() -> None:
    """40 zeros among 100 values: the zeros' cdf jump is [0, 0.4], its middle 0.2."""
    schema = Schema.from_yaml_text("columns:\n  crp: {kind: continuous, min: 0}\n")
    values = [0.0] * 40 + np.linspace(1.0, 5.0, 60).tolist()
    cohort = Cohort(pd.DataFrame({"crp": values}), schema)
    expected = float(ndtri(0.2))  # -0.84
    few_knots = TabularEncoder(max_knots=20).fit(cohort)  # 61 distinct values > 20 knots
    many_knots = TabularEncoder(max_knots=200).fit(cohort)  # every distinct value is a knot
    assert many_knots.to_scores("crp", np.array([0.0]))[0] == pytest.approx(expected)
    # actual: ndtri(0.375) = -0.32, the level of the last repeated knot
    assert few_knots.to_scores("crp", np.array([0.0]))[0] == pytest.approx(expected, abs=0.1)


def test_extrapolation_continues_beyond_the_observed_range_only_when_asked() -> None:
    """Completion may reach beyond the highest observed value (a value missing because it was
    high); generation never does. Inside the range both agree; the clinical bound (min 0,
    inferred: no value is negative) stops the lower tail."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.lognormal(size=300)})
    encoder = TabularEncoder().fit(Cohort.from_frame(frame))
    scores = np.array([-6.0, -4.0, -1.0, 0.0, 1.0, 4.0, 6.0])
    plain = encoder.from_scores("x", scores)
    extended = encoder.from_scores("x", scores, extrapolate=True)
    low, high = frame["x"].min(), frame["x"].max()
    assert plain.min() == pytest.approx(low) and plain.max() == pytest.approx(high)
    np.testing.assert_allclose(extended[2:5], plain[2:5])
    assert extended[-1] > extended[-2] > high
    assert encoder.schema_.columns["x"].min == 0.0
    assert extended[0] == extended[1] == 0.0 < low


# ------------------------------------------------------------------ atoms (point masses)
def _crp_with_zeros(max_knots: int) -> TabularEncoder:
    schema = Schema.from_yaml_text("columns:\n  crp: {kind: continuous, min: 0}\n")
    values = [0.0] * 40 + np.linspace(1.0, 5.0, 60).tolist()
    return TabularEncoder(max_knots=max_knots).fit(Cohort(pd.DataFrame({"crp": values}), schema))


@pytest.mark.parametrize("max_knots", [20, 200])
def test_a_value_many_patients_share_goes_back_with_its_whole_mass(max_knots: int) -> None:
    """40 zeros among 100 values (not tied: 61 distinct): an atom at 0 with cdf jump [0, 0.4].
    Every score whose level falls in the jump decodes to exactly 0 — interpolation spread them
    between 0 and 1 — and the rest keeps being interpolated."""
    encoder = _crp_with_zeros(max_knots)
    assert "crp" not in encoder.edges_
    np.testing.assert_allclose(encoder.atoms_["crp"], [[0.0, 0.0, 0.4]])
    decoded = encoder.from_scores("crp", np.random.default_rng(0).standard_normal(20_000))
    assert (decoded == 0.0).mean() == pytest.approx(0.4, abs=0.015)
    assert ((decoded > 0.0) & (decoded < 1.0)).mean() < 0.01
    assert len(np.unique(decoded[decoded > 0])) > 1000  # new values elsewhere
    assert encoder.from_scores("crp", encoder.to_scores("crp", np.array([0.0])))[0] == 0.0


def test_values_few_patients_share_are_no_atoms_and_tied_columns_need_none() -> None:
    rng = np.random.default_rng(1)
    values = np.round(rng.gamma(2.0, 3.0, 300), 2)
    values[:6] = 4.2  # 6 patients (2 %) share a value: fewer than ATOM_MIN_COUNT
    frame = pd.DataFrame({"x": values, "steps": rng.choice([10, 20, 30], 300)})
    schema = Schema.from_yaml_text("columns:\n  x: {kind: continuous}\n  steps: {kind: integer}\n")
    encoder = TabularEncoder().fit(Cohort(frame, schema))
    assert encoder.atoms_ == {} and "steps" in encoder.edges_


def test_atoms_travel_in_the_state_and_files_without_them_decode_as_before() -> None:
    encoder = _crp_with_zeros(200)
    meta, arrays = encoder.state()
    assert set(arrays) >= {"encoder.atoms.crp"}
    schema = encoder.schema_
    scores = np.linspace(-3, 3, 101)
    again = TabularEncoder.from_state(json.loads(json.dumps(meta)), arrays, schema)
    decoded = encoder.from_scores("crp", scores)
    np.testing.assert_array_equal(again.from_scores("crp", scores), decoded)
    older = {k: v for k, v in arrays.items() if not k.startswith("encoder.atoms.")}
    before = TabularEncoder.from_state(meta, older, schema)
    assert before.atoms_ == {}
    assert (before.from_scores("crp", scores) == 0.0).sum() < (decoded == 0.0).sum()


def test_generated_patients_keep_a_real_cohorts_point_mass() -> None:
    """breast_cancer: 13 of 569 tumours (2.3 %) have a concavity of exactly 0, a continuous
    column otherwise all distinct. A copula's artificial patients keep that share."""
    breast_cancer = load("breast_cancer")
    observed = (breast_cancer.data["mean_concavity"] == 0).mean()
    artificial = make_generator("copula").fit(breast_cancer, seed=0, progress=False)
    drawn = artificial.sample(3000, seed=1).data["mean_concavity"]
    assert observed == pytest.approx(13 / 569)
    assert (drawn == 0).mean() == pytest.approx(observed, abs=0.01)
