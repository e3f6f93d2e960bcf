"""Whatever bytes a user hands us, the answer is a Cohort or a clean JumeauError — never a crash."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jumeau import Cohort, JumeauError, load_cohort

CELLS = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(
        ["", "NA", "?", "M", "F", "yes", "no", "2020-01-31", "31/01/2020", "1,5", "<0.1"]
    ),
    st.text(max_size=8),
)


def _outcome(content: bytes, suffix: str = ".csv") -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data{suffix}"
        path.write_bytes(content)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cohort = load_cohort(path)
        except JumeauError as exc:
            assert str(exc) and "\n" not in str(exc).strip()
            return
        assert isinstance(cohort, Cohort)
        report = cohort.validate()
        assert report.n_rows == len(cohort)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes(content: bytes) -> None:
    _outcome(content)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sep=st.sampled_from([",", ";", "\t", "|"]),
    header=st.lists(st.text(min_size=0, max_size=6), min_size=1, max_size=5),
    rows=st.lists(st.lists(CELLS, min_size=0, max_size=6), min_size=0, max_size=30),
    encoding=st.sampled_from(["utf-8", "cp1252", "latin-1"]),
)
def test_random_csv_like_text(sep: str, header: list[str], rows: list[list[str]], encoding: str):
    lines = [sep.join(header)] + [sep.join(row) for row in rows]
    content = "\n".join(lines).encode(encoding, errors="replace")
    _outcome(content)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=300))
def test_random_parquet_bytes(content: bytes) -> None:
    _outcome(b"PAR1" + content, suffix=".parquet")
