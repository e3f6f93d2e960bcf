"""The long (NONMEM-style) event format: what is accepted, and the clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jumeau.errors import DataError
from jumeau.twins import PKData


def _frame(**changes: list) -> pd.DataFrame:
    base = {
        "id": [1, 1, 1, 1, 2, 2, 2],
        "time": [0.0, 0.5, 2.0, 8.0, 0.0, 1.0, 6.0],
        "dv": [np.nan, 4.1, 6.0, 2.2, np.nan, 3.3, 1.9],
        "amt": [100.0, 0, 0, 0, 150.0, 0, 0],
        "evid": [1, 0, 0, 0, 1, 0, 0],
        "wt": [70.0] * 4 + [82.0] * 3,
    }
    base.update(changes)
    return pd.DataFrame(base)


def test_a_valid_study_is_read_into_subjects() -> None:
    data = PKData.from_frame(_frame())
    assert len(data) == 2 and data.ids == [1, 2] and data.n_observations == 5
    assert data.covariates == ("wt",)
    first = data.subject(1)
    np.testing.assert_allclose(first.times, [0.5, 2.0, 8.0])
    np.testing.assert_allclose(first.dose_amounts, [100.0])
    assert first.covariates == {"wt": 70.0}
    assert data.subject("2").covariates == {"wt": 82.0}
    assert list(data.covariate_table().columns) == ["ID", "wt"]
    doses = first.doses(absorption=True)
    assert doses.oral.all()  # CMT absent: the depot, absorbed by an oral model
    assert not first.doses(absorption=False).oral.any()


def test_evid_is_inferred_from_amounts_and_rate_gives_durations() -> None:
    frame = _frame().drop(columns="evid")
    frame["RATE"] = [50.0, 0, 0, 0, 0, 0, 0]
    frame["CMT"] = [2, 2, 2, 2, 1, 1, 1]
    data = PKData.from_frame(frame)
    assert data.subject(1).dose_durations.tolist() == [2.0]  # 100 at 50 per hour
    assert not data.subject(1).doses(absorption=True).oral.any()  # central: IV
    assert data.subject(2).doses(absorption=True).oral.all()


def test_mdv_rows_and_missing_dv_are_not_observations() -> None:
    frame = _frame(dv=[np.nan, 4.1, np.nan, 2.2, np.nan, 3.3, 1.9])
    frame["MDV"] = [1, 0, 0, 1, 1, 0, 0]
    assert PKData.from_frame(frame).subject(1).times.tolist() == [0.5]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"time": [0.0, 0.5, 2.0, 1.0, 0.0, 1.0, 6.0]}, "TIME goes back from 2 to 1"),
        ({"time": [0.0, 0.5, -2.0, 8.0, 0.0, 1.0, 6.0]}, "negative TIME"),
        ({"id": [1, 1, None, 1, 2, 2, 2]}, "row 3 has no ID"),
        ({"amt": [0.0, 0, 0, 0, 150.0, 0, 0]}, "without a positive AMT"),
        ({"evid": [1, 0, 0, 0, 3, 0, 0]}, "EVID 3 is not supported"),
        ({"time": [1.0, 0.5, 2.0, 8.0, 0.0, 1.0, 6.0]}, "observation at TIME 0.5"),
        ({"wt": [70.0, 71.0, 70.0, 70.0, 82.0, 82.0, 82.0]}, "changes over time"),
        ({"dv": ["a", 4.1, 6.0, 2.2, None, 3.3, 1.9]}, "DV must be a number"),
    ],
)
def test_bad_studies_are_refused_with_the_subject_and_row(changes: dict, message: str) -> None:
    frame = _frame(**changes)
    if changes.get("time", [0.0])[0] == 1.0:  # subject 1: dose at 1.0, observation at 0.5 first
        frame = frame.sort_values(["id", "time"], kind="stable").reset_index(drop=True)
    with pytest.raises(DataError, match=message):
        PKData.from_frame(frame)


def test_observations_before_a_dose_are_allowed_when_no_dose_is_needed() -> None:
    frame = _frame(amt=[0.0] * 7, evid=[0] * 7, dv=[1.0, 4.1, 6.0, 2.2, 1.0, 3.3, 1.9])
    with pytest.raises(DataError, match="has no dose"):
        PKData.from_frame(frame)
    assert PKData.from_frame(frame, needs_dose=False).n_observations == 7


def test_structural_problems_are_refused() -> None:
    with pytest.raises(DataError, match="missing column"):
        PKData.from_frame(_frame().drop(columns="time"))
    with pytest.raises(DataError, match="DV column"):
        PKData.from_frame(_frame().drop(columns="dv"))
    with pytest.raises(DataError, match="appears twice"):
        PKData.from_frame(_frame().assign(TIME=1.0))
    with pytest.raises(DataError, match="no observations"):
        PKData.from_frame(_frame(dv=[np.nan] * 7))
    with pytest.raises(DataError, match="no subject 9"):
        PKData.from_frame(_frame()).subject(9)
    with pytest.raises(DataError, match="DataFrame"):
        PKData.from_frame("study.csv")  # type: ignore[arg-type]


def test_csv_files_with_nonmem_dots_are_read(tmp_path: Path) -> None:
    path = tmp_path / "study.csv"
    _frame().to_csv(path, index=False, na_rep=".")
    assert PKData.from_csv(str(path)).n_observations == 5
    with pytest.raises(DataError, match="no such file"):
        PKData.from_csv(str(tmp_path / "absent.csv"))
