"""Small real cohorts and small made-up ones whose truth is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jumeau.data.cohort import Cohort
from jumeau.data.schema import Schema
from jumeau.datasets import load


def split(cohort: Cohort, seed: int = 0, share: float = 0.7) -> tuple[Cohort, Cohort]:
    rows = np.random.default_rng(seed).permutation(len(cohort))
    cut = round(share * len(cohort))
    return cohort.subset(sorted(rows[:cut])), cohort.subset(sorted(rows[cut:]))


@pytest.fixture(scope="session")
def gbsg2_halves() -> tuple[Cohort, Cohort]:
    return split(load("gbsg2"))


@pytest.fixture(scope="session")
def breast_halves() -> tuple[Cohort, Cohort]:
    return split(load("breast_cancer"))


def made_up(n: int = 600, seed: int = 0, u_shaped: bool = False) -> Cohort:
    """y depends on x1 and x2 only (x2 through a U when `u_shaped`); x3..x5 are noise; `group`
    a category with a real effect of its level 'c'."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    group = rng.choice(["a", "b", "c"], size=n)
    effect = 1.5 * x[:, 0] + (1.5 * x[:, 1] ** 2 - 1.5 if u_shaped else 1.2 * x[:, 1])
    logit = effect + 1.0 * (group == "c") - 0.3
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame({f"x{i + 1}": x[:, i] for i in range(5)})
    frame["group"] = group
    frame["outcome"] = np.where(y, "yes", "no")
    schema = Schema.infer(frame, name="made_up")
    schema = schema.model_copy(deep=True)
    schema.columns["outcome"].categories = ["no", "yes"]
    return Cohort(frame, schema, source="made up")


@pytest.fixture(scope="session")
def linear_cohort() -> Cohort:
    return made_up()


@pytest.fixture(scope="session")
def u_cohort() -> Cohort:
    return made_up(u_shaped=True, seed=1, n=1500)
