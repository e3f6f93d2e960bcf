"""Fixtures shared by the evaluation tests."""

from __future__ import annotations

import numpy as np
import pytest

from jumeau.datasets import load


@pytest.fixture(scope="session")
def thirds():
    """gbsg2 split in three: train, holdout, and an independent real sample."""
    cohort = load("gbsg2")
    order = np.random.default_rng(0).permutation(len(cohort))
    a, b, c = np.array_split(order, 3)
    return cohort.subset(a), cohort.subset(b), cohort.subset(c)
