"""Real long-format cohorts (one row per visit) that ship inside PyPI packages.

Each source is a counting-process table (one row per interval with constant covariates, an event
flag on the last); a visit is the start of an interval, the end of follow-up is the end of the last
one, and the event is the last interval's flag. `stanford` comes with lifelines (MIT, always
installed); `csl` and `aids` come with SurvSet, which is GPL-3 and therefore an optional extra
(`pip install jumeau[gpl]`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from importlib import resources

import pandas as pd

from jumeau.data.datasets import DatasetInfo
from jumeau.data.loading import frame_sha256
from jumeau.data.longitudinal import LongitudinalCohort
from jumeau.data.schema import Schema
from jumeau.errors import DataError


def _from_intervals(
    frame: pd.DataFrame, *, id: str, start: str, stop: str, event: str, keep: dict[str, str]
) -> pd.DataFrame:
    """Counting-process intervals -> visits with the patient's end of follow-up and event."""
    ids = frame[id].astype(object)
    frame = frame.assign(**{id: pd.to_numeric(ids, errors="coerce").fillna(-1).astype(int)})
    frame = frame.sort_values([id, start], kind="stable")
    last = frame.groupby(id, sort=False).tail(1).set_index(id)
    visits = pd.DataFrame({"patient": frame[id].to_numpy()})
    for source, target in keep.items():
        values = frame[source]
        visits[target] = (
            values.astype(object).to_numpy() if values.dtype == "category" else (values.to_numpy())
        )
    visits["followup"] = visits["patient"].map(last[stop]).to_numpy()
    visits["death"] = visits["patient"].map(last[event]).astype(int).to_numpy()
    return visits


def _survset(name: str) -> pd.DataFrame:
    try:
        from SurvSet.data import SurvLoader
    except ImportError:
        raise DataError(
            f"the '{name}' dataset ships with SurvSet (GPL-3), an optional extra: "
            "pip install 'jumeau[gpl]'"
        ) from None
    return SurvLoader().load_dataset(name)["df"]


def _csl() -> pd.DataFrame:
    frame = _survset("csl")
    frame["fac_sex"] = frame["fac_sex"].astype(int).map({0: "female", 1: "male"})
    frame["fac_treat"] = frame["fac_treat"].astype(int).map({0: "placebo", 1: "prednisone"})
    keep = {"time": "years", "num_prot": "prothrombin", "num_age": "age", "fac_sex": "sex",
            "fac_treat": "treatment"}  # fmt: skip
    return _from_intervals(frame, id="pid", start="time", stop="time2", event="event", keep=keep)


def _aids() -> pd.DataFrame:
    frame = _survset("aids")
    keep = {"time": "months", "num_CD4": "sqrt_cd4", "fac_drug": "drug", "fac_gender": "gender",
            "fac_prevOI": "prior_aids", "fac_AZT": "azt"}  # fmt: skip
    visits = _from_intervals(frame, id="pid", start="time", stop="time2", event="event", keep=keep)
    visits["months"] = visits["months"].astype(float)
    return visits


def _stanford() -> pd.DataFrame:
    from lifelines.datasets import load_stanford_heart_transplants

    frame = load_stanford_heart_transplants()
    keep = {"start": "day", "transplant": "transplant", "age": "age", "year": "year",
            "surgery": "surgery"}  # fmt: skip
    return _from_intervals(frame, id="id", start="start", stop="stop", event="event", keep=keep)


_LOADERS: dict[str, tuple[Callable[[], pd.DataFrame], DatasetInfo]] = {
    "csl": (
        _csl,
        DatasetInfo("csl", 446, "liver cirrhosis trial: prothrombin at irregular visits, death",
                    "SurvSet (GPL, optional)", "death"),
    ),
    "aids": (
        _aids,
        DatasetInfo("aids", 467, "HIV ddI/ddC trial: CD4 at 0-18 months, death",
                    "SurvSet (GPL, optional)", "death"),
    ),
    "stanford": (
        _stanford,
        DatasetInfo("stanford", 103, "heart transplant candidates: transplant status, death",
                    "lifelines", "death"),
    ),
}  # fmt: skip


def list_longitudinal_datasets() -> list[DatasetInfo]:
    return [info for _, info in _LOADERS.values()]


def load_longitudinal_dataset(name: str) -> LongitudinalCohort:
    """A bundled real long-format cohort, with its hand-written schema."""
    if name not in _LOADERS:
        close = difflib.get_close_matches(name, list(_LOADERS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise DataError(
            f"unknown longitudinal dataset '{name}'; available: {', '.join(_LOADERS)}{hint}"
        )
    loader, _ = _LOADERS[name]
    frame = loader()
    text = resources.files("jumeau.data.datasets").joinpath("schemas", f"{name}.yaml")
    schema = Schema.from_yaml_text(text.read_text("utf-8"), origin=f"{name}.yaml")
    return LongitudinalCohort(frame, schema, source=f"jumeau:{name}", sha256=frame_sha256(frame))
