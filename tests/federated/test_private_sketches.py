"""Column sketches under differential privacy: the inversion that recovers a small site's
values from its exact sketch recovers nothing, and a federated fit still runs on them."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("opendp")

from jumeau.data.cohort import Cohort
from jumeau.data.schema import ColumnKind, Schema
from jumeau.dp.mechanisms import epsilon_of, histogram_edges, rho_for
from jumeau.federated.config import FederatedConfig
from jumeau.federated.coordinator import Coordinator
from jumeau.federated.local import run_locally
from jumeau.federated.site import Site
from jumeau.generators.private_sketches import (
    LEVEL_FLOOR,
    MIN_PRIVATE_BINS,
    PRIVATE_BINS,
    SketchBudgetTooSmallError,
    private_column_sketches,
)
from jumeau.generators.sketches import column_sketches


def _inverted(quantiles: np.ndarray, n: int) -> np.ndarray:
    """The attack on an exact sketch: numpy's linear quantiles at levels (k + ½)/P of n sorted
    values are fixed weighted pairs of neighbours; reading them back gives the sorted values
    that sit exactly at a level's position, and every value when P ≥ n (solved by least
    squares)."""
    levels = (np.arange(quantiles.size) + 0.5) / quantiles.size
    design = np.zeros((quantiles.size, n))
    for row, level in enumerate(levels):
        position = level * (n - 1)
        low = int(np.floor(position))
        design[row, low] += 1 - (position - low)
        design[row, min(low + 1, n - 1)] += position - low
    return np.linalg.lstsq(design, quantiles, rcond=None)[0]


# clinical ranges a consortium's data dictionary would give (public: no site's data)
RANGES = {"age": (18, 100), "tsize": (0, 200), "pnodes": (0, 60), "progrec": (0, 3000),
          "estrec": (0, 2000), "time": (0, 4000)}  # fmt: skip


@pytest.fixture(scope="module")
def small_site(gbsg2: Cohort) -> Cohort:
    return gbsg2.subset(np.arange(20))


def _with_ranges(schema: Schema) -> Schema:
    schema = schema.model_copy(deep=True)
    for name, (low, high) in RANGES.items():
        schema.columns[name] = schema.columns[name].model_copy(update={"min": low, "max": high})
    return schema


def test_the_exact_sketch_of_a_20_patient_site_is_inverted(small_site: Cohort) -> None:
    """The measured leak, reproduced: every sorted value of a continuous column comes back."""
    sketch = column_sketches(small_site.data, small_site.schema)
    values = np.sort(small_site.data["estrec"].astype(float).to_numpy())
    if "quantiles.estrec" not in sketch:
        pytest.skip("estrec sent as a value table at this site")
    recovered = _inverted(sketch["quantiles.estrec"], len(values))
    assert np.allclose(recovered, values, atol=1e-6)


def _released_values(sketch: dict[str, np.ndarray], column: str) -> np.ndarray:
    """Every number a site's DP message about `column` carries."""
    keys = ("edges", "bins", "atoms", "atomcounts", "values", "counts")
    return np.concatenate([sketch.get(f"{key}.{column}", []) for key in keys])


def _singletons_shown(values: np.ndarray, sketch: dict[str, np.ndarray], column: str) -> int:
    """How many of the values one patient alone holds the message names as a value (an atom,
    a value table's entry)."""
    distinct, counts = np.unique(values, return_counts=True)
    named = np.concatenate([sketch.get(f"{k}.{column}", []) for k in ("atoms", "values")])
    return len(set(distinct[counts == 1]) & set(named))


def test_a_private_sketch_gives_back_no_value(small_site: Cohort) -> None:
    """The message is a histogram over public edges (the written range cut by a rule of the
    noisy count alone) and atoms no single patient makes: no patient's value is in it."""
    schema = _with_ranges(small_site.schema)  # without ranges ε = 1 is refused (test below)
    sketch = private_column_sketches(small_site.data, schema, rho=rho_for(1.0, 1e-5))
    for column in ("estrec", "progrec", "tsize", "age"):
        values = small_site.data[column].astype(float).to_numpy()
        edges = sketch[f"edges.{column}"]
        integer = schema.columns[column].kind is ColumnKind.INTEGER
        public = (  # the edges of some number of bins over the written range
            histogram_edges(*RANGES[column], bins, integer=integer)
            for bins in range(MIN_PRIVATE_BINS, PRIVATE_BINS + 1)
        )
        assert any(np.array_equal(edges, candidate) for candidate in public), column
        assert _singletons_shown(values, sketch, column) == 0, column
        assert f"values.{column}" not in sketch  # no table of the values a patient holds
    counts = sketch["count.horTh"]
    assert counts.shape == (3,) and (counts >= 0).all()


def test_a_site_too_small_for_its_budget_is_refused_with_the_epsilon_that_would_do(
    small_site: Cohort,
) -> None:
    with pytest.raises(SketchBudgetTooSmallError) as refused:
        private_column_sketches(small_site.data, small_site.schema, rho=rho_for(0.05, 1e-5))
    needed = epsilon_of(refused.value.rho_needed, 1e-5)
    advice = str(refused.value.refusal("--sketch-epsilon", 0.05, 1e-5))
    assert re.search(r"= 0.05 cannot find its range from 20 patients; write its min", advice)
    # the suggested budget is enough: the same site's sketches at it go through
    suggested = float(advice.rsplit("--sketch-epsilon ", 1)[1].split()[0])
    assert suggested >= needed
    private_column_sketches(small_site.data, small_site.schema, rho=rho_for(suggested, 1e-5))


def test_schema_bounds_written_by_a_person_are_used_and_nothing_escapes_them() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"sbp": rng.normal(130, 15, 200).round(), "sex": rng.choice(["F", "M"], 200)}
    )
    cohort = Cohort.from_frame(frame)
    schema = cohort.schema.model_copy(deep=True)
    schema.columns["sbp"] = schema.columns["sbp"].model_copy(update={"min": 60.0, "max": 260.0})
    sketch = private_column_sketches(cohort.data, schema, rho=rho_for(5.0, 1e-5))
    edges, bins = sketch["edges.sbp"], sketch["bins.sbp"]
    assert edges.min() == 59.5 and edges.max() == 260.5  # whole numbers: edges between them
    centres = (edges[:-1] + edges[1:]) / 2.0
    median = centres[np.searchsorted(np.cumsum(bins), bins.sum() / 2.0)]
    assert abs(median - frame["sbp"].median()) < 15.0


def test_a_federated_copula_on_private_sketches_reports_each_sites_epsilon(
    gbsg2: Cohort, random_sites: list[Site]
) -> None:
    settings = FederatedConfig(sketch_epsilon=5.0, dp_delta=1e-6)
    fit = run_locally(
        Coordinator(gbsg2.schema, "copula", seed=0, settings=settings, em_iterations=0),
        random_sites,
    )
    assert fit.sketch_epsilon == {site.name: 5.0 for site in random_sites}
    assert fit.summary()["sketch_epsilon"] == fit.sketch_epsilon
    artificial = fit.generator.sample(200, seed=0)
    assert len(artificial) == 200 and set(artificial.data.columns) == set(gbsg2.data.columns)
    ages = artificial.data["age"].astype(float)
    assert 35 < ages.median() < 70  # the shape survives ε = 5 at 229 patients a site


def test_the_default_federated_run_sends_nothing_invertible_from_a_20_patient_site(
    gbsg2: Cohort, small_site: Cohort
) -> None:
    """The issue's leak, tried on the default run (no privacy option given, bundled schema with
    unwritten ranges): what the 20-patient site sends inverts into none of its values."""
    from jumeau.federated.config import DEFAULT_SKETCH_EPSILON
    from jumeau.federated.messages import Reply

    sites = [Site(small_site.data, "small"), Site(gbsg2.subset(np.arange(20, 686)).data, "large")]
    sent: list[Reply] = []
    fit = run_locally(
        Coordinator(gbsg2.schema, "copula", seed=0, em_iterations=0),
        sites,
        on_reply=lambda reply: sent.append(reply) if reply.site == "small" else None,
    )
    assert fit.sketch_epsilon == {"small": DEFAULT_SKETCH_EPSILON, "large": DEFAULT_SKETCH_EPSILON}
    sketch = next(r.arrays for r in sent if any(k.startswith("missing.") for k in r.arrays))
    for column in ("estrec", "progrec", "tsize", "age"):
        values = small_site.data[column].astype(float).to_numpy()
        # values enough patients share to clear the noise may be named (and, by noise, the odd
        # value no one holds): one patient's own values stay out
        assert _singletons_shown(values, sketch, column) == 0, column
    # the exact minimum and maximum, which the exact sketch gave away, are not sent
    for column in ("estrec", "progrec"):
        releases = np.concatenate([_released_values(r.arrays, column) for r in sent])
        assert not np.isin(
            small_site.data[column].astype(float).agg(["min", "max"]), releases
        ).all()


def test_a_rare_level_keeps_an_interval_and_a_lone_missing_category_trains(
    small_site: Cohort,
) -> None:
    """Noise can zero a level's count, or the one missing value of a category: the level keeps
    a sliver of interval (else its patients' latent draws are infinite and the EM fails), and a
    site whose patient holds the unseen missing value still trains (lung's ph_ecog)."""
    schema = _with_ranges(small_site.schema)
    sketch = private_column_sketches(small_site.data, schema, rho=rho_for(1.0, 1e-5))
    for key in (k for k in sketch if k.startswith("count.")):
        assert (sketch[key][:-1] >= LEVEL_FLOOR).all(), key
    from jumeau.datasets import load_dataset

    lung = load_dataset("lung")
    assert lung.data["ph_ecog"].isna().sum() == 1
    sites = [
        Site(lung.subset(np.flatnonzero(lung.data["sex"] == level)).data, f"sex={level}")
        for level in ("male", "female")
    ]
    settings = FederatedConfig(sketch_epsilon=10.0, min_sites=2)
    fit = run_locally(Coordinator(lung.schema, "copula", seed=1, settings=settings), sites)
    drawn = fit.generator.sample(100, seed=0).data
    assert len(drawn) == 100 and drawn["ph_ecog"].notna().any()
