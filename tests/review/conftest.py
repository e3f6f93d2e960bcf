"""A small study on gbsg2: real holdout-like patients and copula-made artificial ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from jumeau.data.cohort import Cohort
from jumeau.datasets import load
from jumeau.generators import make_generator

pytest.importorskip("fastapi")


@pytest.fixture(scope="session")
def real() -> Cohort:
    return load("gbsg2")


@pytest.fixture(scope="session")
def artificial(real: Cohort) -> Cohort:
    return make_generator("copula").fit(real, seed=0).sample(400, seed=1)


@pytest.fixture
def study_path(tmp_path: Path) -> Path:
    return tmp_path / "study.db"
