"""Shared fixtures: small files written on the fly, and the bundled real datasets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from jumeau import Cohort, Schema
from jumeau.datasets import load


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write text (or bytes) to a file in a temporary folder and return its path."""

    def _write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode(encoding))
        return path

    return _write


@pytest.fixture(scope="session")
def gbsg2():
    return load("gbsg2")


@pytest.fixture(scope="session")
def lung():
    return load("lung")


def _list_lengths(node: Any) -> list[int]:
    if isinstance(node, dict):
        return [n for value in node.values() for n in _list_lengths(value)]
    if isinstance(node, list):
        return [len(node), *(n for value in node for n in _list_lengths(value))]
    return []


@pytest.fixture
def assert_no_training_row() -> Callable[..., None]:
    """Check a model file's JSON header: no training row in any common text layout, and no list
    as long as the training data."""

    def check(text: str, cohort: Any, numeric: list[str]) -> None:
        rows = cohort.modelled.astype(object).to_numpy().tolist()
        numbers = cohort.data[numeric].astype(object).to_numpy().tolist()
        for row, values in zip(rows, numbers, strict=True):
            shown = [str(v) for v in row]
            for candidate in (
                str(tuple(row)),
                json.dumps(shown),
                json.dumps([None if pd.isna(v) else v for v in values]),
                ", ".join(shown),
                ",".join(shown),
                ", ".join(map(str, values)),
                ",".join(map(str, values)),
                " ".join(map(str, values)),
            ):
                assert candidate not in text
        assert max(_list_lengths(json.loads(text))) < len(cohort)

    return check


def _holes_allowed(frame: pd.DataFrame, columns: list[str]) -> Schema:
    """The schema of the frame's complete rows, with holes allowed in `columns`."""
    schema = Schema.infer(frame.dropna())
    updated = {
        name: column.model_copy(update={"missing_allowed": True}) if name in columns else column
        for name, column in schema.columns.items()
    }
    return schema.model_copy(update={"columns": updated}).revalidated()


@pytest.fixture(scope="session")
def holes_allowed() -> Callable[[pd.DataFrame, list[str]], Schema]:
    return _holes_allowed


@pytest.fixture(scope="session")
def block_of_holes() -> tuple[Cohort, np.ndarray]:
    """Made up, to know the truth: numbers x, y, z and a category `grade`; a third of the
    patients miss y, z and grade together (a panel not done), a few miss y alone."""
    n = 1200
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n)
    y = 0.6 * x + 0.8 * rng.standard_normal(n)
    z = rng.gamma(2.0, size=n)
    grade = np.where(x + rng.standard_normal(n) > 0.3, "high", "low")
    panel = rng.uniform(size=n) < 0.33
    alone = ~panel & (rng.uniform(size=n) < 0.05)
    frame = pd.DataFrame(
        {
            "x": x,
            "y": np.where(panel | alone, np.nan, y),
            "z": np.where(panel, np.nan, z),
            "grade": pd.Series(grade, dtype=object).where(~panel),
        }
    )
    return Cohort(frame, _holes_allowed(frame, ["y", "z", "grade"])), panel


@pytest.fixture(scope="session")
def y_hidden_when_x_high() -> tuple[Cohort, np.ndarray, np.ndarray]:
    """Made up, missing at random: y (corr 0.8 with x) is missing mostly when x is high, so the
    observed y are low. Returns the cohort, the true y and where it is hidden."""
    rng = np.random.default_rng(1)
    n = 1500
    x = rng.standard_normal(n)
    y = 0.8 * x + 0.6 * rng.standard_normal(n)
    hidden = rng.uniform(size=n) < 1 / (1 + np.exp(-(2.0 * x - 0.5)))
    frame = pd.DataFrame({"x": x, "y": np.where(hidden, np.nan, y)})
    return Cohort(frame, _holes_allowed(frame, ["y"])), y, hidden
