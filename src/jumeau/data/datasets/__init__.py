"""Real public clinical datasets that ship inside PyPI packages, with hand-written schemas.

Nothing is downloaded: each loader reads data already installed with scikit-learn or lifelines
(both permissively licensed and dependencies of jumeau). The schemas (units, roles, clinical rules)
are package data beside this file.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import pandas as pd

from jumeau.data.cohort import Cohort
from jumeau.data.loading import frame_sha256
from jumeau.data.schema import Schema
from jumeau.errors import DataError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    rows: int
    summary: str
    package: str
    target: str


def _breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: str(c).replace(" ", "_"))
    labels = {0: "malignant", 1: "benign"}  # scikit-learn's coding, see its DESCR
    frame["diagnosis"] = frame.pop("target").map(labels)
    return frame


def _gbsg2() -> pd.DataFrame:
    from lifelines.datasets import load_gbsg2

    return load_gbsg2()


def _lung() -> pd.DataFrame:
    from lifelines.datasets import load_lung

    frame = load_lung().rename(columns=lambda c: str(c).replace(".", "_"))
    frame["sex"] = frame["sex"].map({1: "male", 2: "female"})
    return frame


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(scaled=False, as_frame=True).frame
    names = {"s1": "tc", "s2": "ldl", "s3": "hdl", "s4": "tch", "s5": "ltg", "s6": "glu"}
    return frame.rename(columns={**names, "target": "progression"})


_LOADERS: dict[str, tuple[Callable[[], pd.DataFrame], DatasetInfo]] = {
    "breast_cancer": (
        _breast_cancer,
        DatasetInfo("breast_cancer", 569, "breast masses: 30 nucleus image features + diagnosis",
                    "scikit-learn", "diagnosis"),
    ),
    "gbsg2": (
        _gbsg2,
        DatasetInfo("gbsg2", 686, "node-positive breast cancer trial, mixed types, "
                    "recurrence-free survival", "lifelines", "cens"),
    ),
    "lung": (
        _lung,
        DatasetInfo("lung", 228, "advanced lung cancer: survival, performance scores, "
                    "missing values", "lifelines", "status"),
    ),
    "diabetes": (
        _diabetes,
        DatasetInfo("diabetes", 442, "diabetes: baseline labs and one-year progression",
                    "scikit-learn", "progression"),
    ),
}  # fmt: skip


def list_datasets() -> list[DatasetInfo]:
    """The bundled datasets, in a stable order."""
    return [info for _, info in _LOADERS.values()]


def dataset_schema(name: str) -> Schema:
    """The hand-written data dictionary of a bundled dataset."""
    _check_name(name)
    text = resources.files(__name__).joinpath("schemas", f"{name}.yaml").read_text("utf-8")
    return Schema.from_yaml_text(text, origin=f"{name}.yaml")


def load_dataset(name: str) -> Cohort:
    """A bundled real dataset as a Cohort, with its schema (units, roles, rules)."""
    _check_name(name)
    loader, _ = _LOADERS[name]
    frame = loader()
    return Cohort(frame, dataset_schema(name), source=f"jumeau:{name}", sha256=frame_sha256(frame))


def _check_name(name: str) -> None:
    if name not in _LOADERS:
        close = difflib.get_close_matches(name, list(_LOADERS), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "see `jumeau datasets`"
        raise DataError(f"unknown dataset '{name}'; available: {', '.join(_LOADERS)}; {hint}")
