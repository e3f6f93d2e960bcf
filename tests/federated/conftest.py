"""Sites cut from real cohorts: by a clinical column (sites that differ), or at random."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from jumeau.data.cohort import Cohort
from jumeau.federated.messages import Reply
from jumeau.federated.site import Site

NUMBERS = ["age", "tsize", "pnodes", "progrec", "estrec", "time"]


def _assert_no_patient_in(replies: list[Reply], sites: list[Site]) -> None:
    """No reply array is shaped by the number of patients (one entry per patient: rows, codes,
    scores), and none holds the numbers of one patient one after the other (a row)."""
    by_name = {site.name: site for site in sites}
    assert replies
    for reply in replies:
        rows = len(by_name[reply.site].frame)
        patients = by_name[reply.site].frame[NUMBERS].astype(float).to_numpy()
        for name, array in reply.arrays.items():
            assert rows not in array.shape, (reply.site, name, array.shape)
            values = np.asarray(array, dtype=float).ravel()
            if values.size < len(NUMBERS):
                continue
            windows = np.lib.stride_tricks.sliding_window_view(values, len(NUMBERS))
            written = {tuple(w) for w in np.round(windows, 6)}
            for patient in np.round(patients, 6):
                assert tuple(patient) not in written, (reply.site, name)


Inspector = Callable[[list[Reply], list[Site]], None]


def _sites_by(cohort: Cohort, column: str) -> list[Site]:
    levels = cohort.schema.columns[column].categories or []
    frame = cohort.data
    return [
        Site(frame[frame[column] == level].reset_index(drop=True), f"{column}={level}")
        for level in levels
    ]


@pytest.fixture(scope="session")
def grade_sites(gbsg2: Cohort) -> list[Site]:
    """gbsg2 in three hospitals by tumour grade (81, 444 and 161 patients)."""
    return _sites_by(gbsg2, "tgrade")


@pytest.fixture(scope="session")
def random_sites(gbsg2: Cohort) -> list[Site]:
    order = np.random.default_rng(0).permutation(len(gbsg2))
    return [Site(gbsg2.subset(np.sort(order[i::3])), f"random-{i}") for i in range(3)]


@pytest.fixture(scope="session")
def sites_by() -> Callable[[Cohort, str], list[Site]]:
    return _sites_by


@pytest.fixture(scope="session")
def no_patient_in() -> Inspector:
    """Asserts that site replies carry no patient (see `_assert_no_patient_in`)."""
    return _assert_no_patient_in
