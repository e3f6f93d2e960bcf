"""A number released as atoms plus a histogram: heaped values come back as themselves, no value
a single patient holds is named, and the encoder built from the release draws onto the atoms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("opendp")

from jumeau.data.cohort import Cohort
from jumeau.dp.heaped import (
    HEAPING_STEPS,
    MAX_LATTICE,
    atom_search_pays,
    heaped_rounding,
    lattice_points,
    onto_lattice,
    private_heaped_histogram,
    private_heaping,
)
from jumeau.dp.mechanisms import histogram_edges
from jumeau.generators.encoding import TabularEncoder
from jumeau.generators.private_marginals import private_marginals
from jumeau.generators.sketches import _site_cdf


def _karnofsky(n: int, seed: int = 0) -> np.ndarray:
    """Scores in steps of 10, as a clinic writes them, plus a few patients off the steps."""
    rng = np.random.default_rng(seed)
    steps = rng.choice([60, 70, 80, 90, 100], n, p=[0.1, 0.2, 0.3, 0.3, 0.1]).astype(float)
    steps[:3] = [55.0, 65.0, 85.0]  # three patients each alone on their value
    return steps


def test_the_lattice_is_the_multiples_of_the_step_within_the_bounds() -> None:
    assert np.array_equal(lattice_points(0.0, 100.0, 10.0), np.arange(0.0, 101.0, 10.0))
    assert np.allclose(lattice_points(0.05, 0.32, 0.1), [0.1, 0.2, 0.3])
    assert lattice_points(0.0, 1e6, 0.01) is None  # too many values to count one by one
    assert lattice_points(0.0, MAX_LATTICE - 1.0, 1.0) is not None
    grid = lattice_points(0.0, 10.0, 1.0)
    assert grid is not None
    assert list(onto_lattice(np.array([-3.0, 2.4, 2.6, 40.0]), grid)) == [0, 2, 3, 10]


def test_heaped_values_come_back_as_atoms_and_a_lone_value_does_not() -> None:
    values = _karnofsky(400)
    edges = histogram_edges(0.0, 100.0, 16, integer=True)
    released = private_heaped_histogram(  # a grid of 21 values, 16 of them nobody's or one's
        values, edges, rho=0.5, lattice=lattice_points(0.0, 100.0, 5.0), patients=400.0
    )
    steps = {60.0, 70.0, 80.0, 90.0, 100.0}
    assert steps <= set(released.atoms)
    assert len(set(released.atoms) - steps) <= 2  # noise lifts an empty or lone value, rarely
    truth = pd.Series(values).value_counts()
    for atom, count in zip(released.atoms, released.atom_counts, strict=True):
        assert count == pytest.approx(truth.get(atom, 0), abs=6.0)
    # a value one patient holds clears the floor only by the noise (under 1 % each)
    assert len({55.0, 65.0, 85.0} & set(released.atoms)) <= 1
    # the three off-step patients are the histogram's; the noise leaves a handful at most
    assert released.counts.sum() < 25.0
    assert released.total == pytest.approx(400.0, abs=25.0)


def test_a_dense_column_has_no_atoms_and_keeps_its_patients_in_the_histogram() -> None:
    values = np.random.default_rng(1).normal(500.0, 150.0, 300).round().clip(0, 1000)
    edges = histogram_edges(0.0, 1000.0, 24, integer=True)
    released = private_heaped_histogram(
        values, edges, rho=0.2, lattice=lattice_points(0.0, 1000.0, 1.0), patients=300.0
    )
    # no value is shared by many patients: the few a value's noise lifts over the floor hold
    # a handful of them, the histogram the rest
    assert released.atoms.size <= 4 and released.atom_counts.sum() < 30.0
    assert released.counts.sum() == pytest.approx(300.0, rel=0.15)
    centres = (edges[:-1] + edges[1:]) / 2.0
    median = centres[np.searchsorted(np.cumsum(released.counts), released.counts.sum() / 2)]
    assert abs(median - 500.0) < 60.0


def test_no_search_where_no_atom_could_clear_the_noise() -> None:
    assert not atom_search_pays(patients=50.0, rho=1e-4, grid_size=101)
    assert atom_search_pays(patients=500.0, rho=1.0, grid_size=101)
    values = _karnofsky(50)
    edges = histogram_edges(0.0, 100.0, 4, integer=True)
    released = private_heaped_histogram(
        values, edges, rho=1e-4, lattice=lattice_points(0.0, 100.0, 1.0), patients=50.0
    )
    assert released.atoms.size == 0


def test_a_site_cdf_steps_at_atoms_and_rises_linearly_within_bins() -> None:
    sketch = {
        "edges.x": np.array([0.0, 10.0, 20.0]),
        "bins.x": np.array([10.0, 10.0]),
        "atoms.x": np.array([15.0]),
        "atomcounts.x": np.array([20.0]),
    }
    cdf = _site_cdf(sketch, "x", np.array([0.0, 5.0, 14.999, 15.0, 20.0]))
    assert cdf == pytest.approx([0.0, 0.125, 0.375, 0.875, 1.0], abs=1e-3)


def test_a_dp_marginal_draws_a_stepped_score_on_its_steps() -> None:
    frame = pd.DataFrame({"karno": _karnofsky(600, seed=2), "age": np.arange(600) % 50 + 30})
    cohort = Cohort.from_frame(frame)
    schema = cohort.schema.model_copy(deep=True)
    for name, (low, high) in {"karno": (0, 100), "age": (18, 100)}.items():
        schema.columns[name] = schema.columns[name].model_copy(update={"min": low, "max": high})
    marginals = private_marginals(Cohort(frame, schema), epsilon=20.0, delta=1e-6, share=1.0)
    encoder = marginals.encoder
    scores = np.random.default_rng(3).standard_normal((4000, 1))
    drawn = encoder.from_scores("karno", scores[:, 0])
    on_steps = np.isin(np.round(drawn), [60, 70, 80, 90, 100])
    assert on_steps.mean() > 0.95
    shares = pd.Series(np.round(drawn)).value_counts(normalize=True)
    assert shares[80.0] == pytest.approx(0.3, abs=0.06)


def _calories(n: int, seed: int = 0) -> np.ndarray:
    """Calories at meals: 70 % written to the nearest 25, the rest as measured."""
    rng = np.random.default_rng(seed)
    values = rng.normal(1000.0, 300.0, n).round().clip(100, 2500)
    rounded = rng.random(n) < 0.7
    return np.where(rounded, np.round(values / 25.0) * 25.0, values)


def test_digit_preference_is_measured_and_drawn_again() -> None:
    values = _calories(2000)
    lattice = lattice_points(0.0, 3000.0, 1.0)
    assert lattice is not None
    heaping = private_heaping(values, lattice, rho=2.0)
    assert heaping is not None and heaping[0] == 1.0
    shares = dict(zip((1, *HEAPING_STEPS), heaping[1:], strict=True))
    assert shares[25] == pytest.approx(0.7, abs=0.08)
    assert shares[1] == pytest.approx(0.3, abs=0.08)
    # decoding rounds alike: the share of values on a multiple of 25 comes back
    drawn = np.random.default_rng(4).normal(1000.0, 300.0, 5000).round()
    cdf = np.random.default_rng(5).random(5000)
    rounded = heaped_rounding(drawn, cdf, heaping)
    assert np.mean(rounded % 25 == 0) == pytest.approx(np.mean(values % 25 == 0), abs=0.06)
    assert np.abs(rounded - drawn).max() <= 50.0  # rounding moves a value by half a step


def test_a_dp_encoder_keeps_its_digit_preference_through_its_file() -> None:
    frame = pd.DataFrame({"kcal": _calories(800, seed=1), "age": np.arange(800) % 50 + 30})
    schema = Cohort.from_frame(frame).schema.model_copy(deep=True)
    for name, (low, high) in {"kcal": (0, 3000), "age": (18, 100)}.items():
        schema.columns[name] = schema.columns[name].model_copy(update={"min": low, "max": high})
    encoder = private_marginals(Cohort(frame, schema), epsilon=30.0, delta=1e-6, share=1.0).encoder
    assert "kcal" in encoder.heaping_
    drawn = encoder.from_scores("kcal", np.random.default_rng(6).standard_normal(4000))
    assert np.mean(drawn % 25 == 0) == pytest.approx(np.mean(frame["kcal"] % 25 == 0), abs=0.1)
    meta, arrays = encoder.state()
    again = TabularEncoder.from_state(meta, arrays, encoder.schema_)
    assert np.array_equal(again.heaping_["kcal"], encoder.heaping_["kcal"])


def test_a_large_budget_follows_the_data_and_stays_in_bounds() -> None:
    values = np.random.default_rng(1).gamma(4.0, 10.0, 1000)
    edges = histogram_edges(0.0, 150.0, 60)
    released = private_heaped_histogram(values, edges, rho=50.0, lattice=None, patients=1000.0)
    assert released.atoms.size == 0 and (released.counts >= 0).all()
    cdf = np.concatenate([[0.0], np.cumsum(released.counts)]) / released.counts.sum()
    truth = np.searchsorted(np.sort(values), edges) / values.size
    assert np.abs(cdf - truth).max() < 0.03


def test_a_small_budget_on_few_patients_reveals_no_value() -> None:
    """The federated leak: 32 quantiles of 20 patients gave back every value. Under DP the
    release is noisy counts over public edges, and no grid value is searched for atoms when
    none could clear the noise: no patient's value is in it."""
    values = np.random.default_rng(2).normal(130.0, 15.0, 20).round(1)
    edges = histogram_edges(50.0, 250.0, 8)
    lattice = lattice_points(50.0, 250.0, 0.1)
    released = private_heaped_histogram(values, edges, rho=0.05, lattice=lattice, patients=20.0)
    assert released.atoms.size == 0 and released.heaping is None
    assert np.array_equal(released.edges, edges)
    assert not np.isin(values, released.counts).any()
