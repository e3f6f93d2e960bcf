"""The report's distribution panels draw whatever numbers a cohort holds (issue 31, item 7: a
column near the float limit ended `jumeau run` in `bins must increase monotonically`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jumeau import Cohort
from jumeau.report.plots import distributions


def _cohort(values: np.ndarray) -> Cohort:
    frame = pd.DataFrame({"huge": values, "age": np.arange(values.size) % 50 + 30})
    return Cohort.from_frame(frame)


def test_a_column_spanning_the_widest_range_a_cohort_accepts_is_drawn_without_error() -> None:
    """A cohort refuses values beyond ±1e150 (their squares overflow, tests/data/test_loading);
    up to that the panels are drawn."""
    values = np.r_[np.full(50, -1e150), np.full(50, 1e150), np.linspace(-1.0, 1.0, 100)]
    real = _cohort(values)
    png = distributions(real, _cohort(values[::-1].copy()))
    assert png.startswith(b"\x89PNG")


def test_an_ordinary_column_still_gets_its_histogram() -> None:
    values = np.random.default_rng(0).normal(130.0, 15.0, 200)
    assert distributions(_cohort(values), _cohort(values + 1.0)).startswith(b"\x89PNG")
