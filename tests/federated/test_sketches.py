"""Merged column sketches give every site the encoding a pooled fit would have given."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.special import ndtri

from jumeau.data.cohort import Cohort
from jumeau.data.schema import Schema
from jumeau.federated.site import Site
from jumeau.generators.encoding import TabularEncoder
from jumeau.generators.sketches import SKETCH_POINTS, column_sketches, merged_encoder
from jumeau.generators.summaries import weighted_quantiles


def _merged(cohort: Cohort, sites: list[Site]) -> TabularEncoder:
    sketches = [column_sketches(site.cohort(cohort.schema).data, cohort.schema) for site in sites]
    return merged_encoder(cohort.schema, sketches)[0]


def test_weighted_quantiles_match_numpy_on_repeated_values() -> None:
    values = np.round(np.random.default_rng(0).gamma(2.0, 3.0, 400), 1)
    distinct, counts = np.unique(values, return_counts=True)
    levels = np.linspace(0.01, 0.99, 37)
    assert np.allclose(weighted_quantiles(distinct, counts, levels), np.quantile(values, levels))


def test_tied_columns_merge_exactly(gbsg2: Cohort, random_sites: list[Site]) -> None:
    pooled = TabularEncoder().fit(gbsg2)
    merged = _merged(gbsg2, random_sites)
    tied = list(pooled.edges_)
    assert {"age", "pnodes"} <= set(tied)
    for column in tied:
        assert np.array_equal(merged.knots_[column], pooled.knots_[column])
        assert np.allclose(merged.levels_[column], pooled.levels_[column])
        assert np.allclose(merged.edges_[column], pooled.edges_[column])


def test_continuous_columns_merge_close_to_pooled(gbsg2: Cohort, grade_sites: list[Site]) -> None:
    """Sites that differ (split by grade): the mixture of their quantile sketches puts every
    value at nearly the normal score the pooled encoder gives it (central 90 %)."""
    pooled = TabularEncoder().fit(gbsg2)
    merged = _merged(gbsg2, grade_sites)
    for column in ("time", "progrec", "estrec"):
        values = gbsg2.data[column].astype(float).to_numpy()
        central = values[
            (values > np.quantile(values, 0.05)) & (values < np.quantile(values, 0.95))
        ]
        gap = np.abs(merged.to_scores(column, central) - pooled.to_scores(column, central))
        assert np.median(gap) < 0.05, column
        assert gap.max() < 0.25, column


def test_layout_and_missing_flags_follow_the_union_of_sites(
    lung: Cohort, sites_by: Callable[[Cohort, str], list[Site]]
) -> None:
    """lung has missing values: the merged layout, missing-value flags included, is the one the
    pooled encoder lays out."""
    merged = _merged(lung, sites_by(lung, "sex"))
    pooled = TabularEncoder().fit(lung)
    assert merged.width_ == pooled.width_
    assert [type(b) for b in merged.blocks_] == [type(b) for b in pooled.blocks_]
    flagged = {b.column for b in pooled.numeric_blocks if b.indicator is not None}
    assert flagged and flagged == {
        b.column for b in merged.numeric_blocks if b.indicator is not None
    }


def test_a_sketch_holds_neither_extreme_nor_every_value() -> None:
    """A continuous column is summarised by interpolated quantiles: not its minimum or maximum
    (a patient's values), and far fewer numbers than patients."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"crp": rng.lognormal(2.0, 1.0, 300), "sex": rng.choice(["F", "M"], 300)})
    cohort = Cohort.from_frame(frame)
    sketch = column_sketches(cohort.data, cohort.schema)
    quantiles = sketch["quantiles.crp"]
    assert quantiles.size == SKETCH_POINTS
    assert quantiles.min() > frame["crp"].min() and quantiles.max() < frame["crp"].max()
    assert not np.isin(quantiles, frame["crp"].to_numpy()).any()
    assert sketch["count.sex"].tolist() == [
        (frame["sex"] == "F").sum(),
        (frame["sex"] == "M").sum(),
        0,
    ]


def test_merged_scores_stay_finite_at_the_extremes(gbsg2: Cohort, grade_sites: list[Site]) -> None:
    merged = _merged(gbsg2, grade_sites)
    for column, knots in merged.knots_.items():
        scores = merged.to_scores(
            column, np.array([knots[0] - 1, knots[0], knots[-1], knots[-1] + 1])
        )
        assert np.isfinite(scores).all(), column
        assert np.all(np.diff(merged.levels_[column]) > 0), column
        assert abs(scores[-1]) <= abs(ndtri(1e-6)), column


def test_schema_is_taken_from_the_server(gbsg2: Cohort) -> None:
    schema = Schema.model_validate(gbsg2.schema.model_dump(mode="json"))
    site = Site(gbsg2.data.astype(object), "raw")
    assert list(site.cohort(schema).data.columns) == list(gbsg2.data.columns)
