"""Fixtures for the in-silico trial tests: the real gbsg2 trial (with an RMST pseudo-value per
patient as a continuous endpoint) and a hand-made twin population with known parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jumeau.datasets import load
from jumeau.trials.survival import rmst_pseudo_values

FIVE_YEARS = 1826.0


@pytest.fixture(scope="session")
def gbsg2() -> pd.DataFrame:
    """686 real patients of the GBSG2 trial; `rmst` is their 5-year RMST pseudo-value (days)."""
    frame = load("gbsg2").data.copy()
    time = frame["time"].to_numpy(dtype=float)
    event = frame["cens"].astype(int).to_numpy(dtype=float)
    return frame.assign(rmst=rmst_pseudo_values(time, event, FIVE_YEARS))


@pytest.fixture(scope="session")
def baseline_and_rmst(gbsg2: pd.DataFrame) -> pd.DataFrame:
    """Baseline covariates and the continuous endpoint only (no arm, no raw survival)."""
    return gbsg2.drop(columns=["horTh", "time", "cens"])


@pytest.fixture(scope="session")
def progression_fit() -> object:
    """A dp_linear population 'fit' whose posterior is a point mass at known values: a score of
    30 that worsens 3 points a year (sd 1.5), a symptomatic drug effect of −2 points, residual
    sd 0.5. Built by hand so twin-population tests need no sampling."""
    from jumeau.twins import make_model
    from jumeau.twins.calibrate import PopulationFit

    model = make_model("dp_linear")
    year = 8766.0
    truth = {"S0": 30.0, "alpha": 3 / year, "Esym": -2.0, "keq": 0.01, "theta_dm": 0.2}
    spread = {"S0": 4.0, "alpha": 1.5 / year, "Esym": 0.3, "keq": 0.1, "theta_dm": 0.1}
    chains, draws = 1, 20
    typical = [p.unconstrain(truth[p.name]) for p in model.parameters]
    omega = [spread[p.name] for p in model.parameters]
    return PopulationFit(
        model=model,
        error="additive",
        weight=None,
        reference_weight=None,
        subject_ids=[],
        weight_ratio=None,
        clearance_exponent=0.75,
        draws={
            "log_typical": np.tile(typical, (chains, draws, 1)),
            "omega": np.tile(omega, (chains, draws, 1)),
            "sigma_add": np.full((chains, draws), 0.5),
            "z": np.zeros((chains, draws, 0, len(typical))),  # no observed subject
        },
        seed=0,
        seconds=0.0,
        study_sha256="hand-made",
    )
