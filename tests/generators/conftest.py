"""Fixtures of the generator tests: scans of a model file for training patients' values."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from jumeau import Cohort
from jumeau.data.schema import NUMERIC_KINDS
from jumeau.generators.encoding import numeric_values
from jumeau.generators.summaries import SHAREABLE_MIN_PATIENTS

# encoder arrays of cumulative probabilities, not values: a level of 0.115 (the 12th of 100
# evenly spaced quantile levels) is no patient's smoothness of 0.115
PROBABILITY_ARRAYS = ("levels", "edges")


def _rare_values(cohort: Cohort) -> dict[str, np.ndarray]:
    """Per number column: the values fewer than `SHAREABLE_MIN_PATIENTS` patients hold."""
    rare = {}
    for name, column in cohort.schema.columns.items():
        if column.kind not in NUMERIC_KINDS:
            continue
        numbers = numeric_values(cohort.data[name], column.kind)
        values, counts = np.unique(numbers[~np.isnan(numbers)], return_counts=True)
        rare[name] = values[counts < SHAREABLE_MIN_PATIENTS]
    return rare


def _found_in_file(path: Path, cohort: Cohort) -> list[str]:
    """Rare training values of each column found in that column's arrays, read byte by byte:
    every aligned 8-byte (float64) or 4-byte (float32) word of the array's raw bytes compared
    with the value's encoding in that type. Column by column, because a value that is one
    patient's in one column can be a shared value, or the mean of ten patients' values, in
    another (21.0 is one patient's age in gbsg2 and a common tumour size), which discloses
    nobody."""
    arrays = load_file(str(path))
    found = []
    for name, values in _rare_values(cohort).items():
        for key, array in arrays.items():
            if not key.endswith(f".{name}") or array.dtype.kind != "f":
                continue
            if key.split(".")[1] in PROBABILITY_ARRAYS:
                continue
            width = array.dtype.itemsize
            raw = np.ascontiguousarray(array).tobytes()
            words = {raw[i : i + width] for i in range(0, len(raw), width)}
            for value in values:
                if array.dtype.type(value).tobytes() in words:
                    found.append(f"{name}={value} in {key}")
    return found


def _header(path: Path) -> dict:
    with safe_open(str(path), framework="numpy") as handle:
        return json.loads(handle.metadata()["jumeau"])


@pytest.fixture(scope="session")
def found_in_file() -> Callable[[Path, Cohort], list[str]]:
    """Rare training values (fewer than 10 patients hold them) found in a model file's arrays."""
    return _found_in_file


@pytest.fixture(scope="session")
def model_header() -> Callable[[Path], dict[str, Any]]:
    """The JSON header of a model file."""
    return _header
