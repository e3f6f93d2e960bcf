"""Longitudinal artificial patients from a mechanistic model: trajectories of virtual patients
drawn from a fitted digital-twin population (`jumeau.twins`), in the same long format as the
data-driven generators, so that one evaluation serves both.

Each virtual patient takes one posterior draw of the population (typical values, between-patient
variability, error scales) and fresh between-patient effects (`PopulationFit.fresh_patients`, as
`virtual_population` does); the model predicts the observed quantity at the patient's visits and
the fitted residual error is added, as on a real measurement (a concentration or a tumour size
below zero is reported as 0, as an assay would). By default every virtual patient borrows a
randomly chosen real patient of the fitted study as a template: its sampling times (so that the
visit process is a real one), its doses and its covariates (so that a dose in mg/kg stays tied to
the weight); `times=`, `regimen=` and `covariates=` replace those parts.

Units follow the twins' conventions: times in hours, doses in mg unless a regimen names another
unit, concentrations of the PK models in dose unit per litre.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from jumeau.data.cohort import Cohort
from jumeau.data.longitudinal import LongitudinalCohort, sub_schema
from jumeau.data.schema import Column, ColumnKind, Role, Schema, VisitLayout
from jumeau.errors import JumeauError
from jumeau.generators.base import Generator, check_seed
from jumeau.twins.calibrate import PopulationFit
from jumeau.twins.events import PKData, Subject
from jumeau.twins.models import MechanisticModel, PaddedDoses
from jumeau.twins.population import covariate_effects, covariate_table
from jumeau.twins.regimen import DoseEvents, Regimen
from jumeau.twins.twin import regimen_events

ID, TIME, DOSE = "ID", "TIME", "DOSE"
DOSE_UNIT = "mg"  # the twins' convention (Regimen's default unit, the bundled studies)
NON_NEGATIVE = ("concentration", "tumour size")  # observed quantities that cannot be below 0


def twin_trajectories(
    fit: PopulationFit,
    n: int,
    *,
    times: Sequence[float] | np.ndarray | None = None,
    regimen: Regimen | str | DoseEvents | None = None,
    covariates: Generator | Cohort | pd.DataFrame | None = None,
    seed: int = 0,
) -> LongitudinalCohort:
    """`n` virtual patients' observed courses as a long-format cohort: `ID`, `TIME` (hours), the
    covariates, `DOSE` (each patient's first dose) and the observed quantity (marked `varies`).

    `times`: the same visit hours for everyone (default: each patient's template's sampling
    times); `regimen`: the same dosing for everyone (default: the template's doses);
    `covariates`: a generator or a table to draw them from, as in `virtual_population`
    (default: the template's). A fit read back by `load_fit` holds no patient, so it needs
    `times`, a `regimen` (unless its model runs without doses) and, for a weight effect,
    `covariates`."""
    if not isinstance(fit, PopulationFit):
        raise JumeauError(
            "twin_trajectories needs a population fit (fit_population or load_fit), "
            f"not {type(fit).__name__}"
        )
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise JumeauError(
            f"n must be a whole number ≥ 2 (a cohort has several patients), not {n!r}"
        )
    n, seed = int(n), check_seed(seed)
    model = fit.model
    grid = None if times is None else _visit_times(times)
    shared = None if regimen is None else regimen_events(regimen, model)[0]
    rng = np.random.default_rng(seed)
    templates = _templates(fit, n, rng, grid is None)
    if grid is None:
        assert templates is not None
        visits = [np.unique(subject.times) for subject in templates]
    else:
        visits = [grid] * n
    doses = _doses(model, templates, shared, n)
    table, schema = _covariate_table(fit, covariates, templates, n, rng, seed)
    fresh = fit.fresh_patients(rng, n, 1, *covariate_effects(fit, table))
    table, baseline = _baseline(table, schema, model)
    params = {name: value[:, 0] for name, value in fresh.params.items()}
    padded = _padded(visits)
    with torch.no_grad():
        predicted = model.predict(params, PaddedDoses.stack(doses), torch.as_tensor(padded))
    predicted_values = predicted.numpy()
    noise = np.sqrt(fresh.residual_variance(predicted_values))
    values = predicted_values + noise * rng.standard_normal(predicted_values.shape)
    observed = np.concatenate([row[: len(t)] for row, t in zip(values, visits, strict=True)])
    if not np.isfinite(observed).all():
        raise JumeauError(
            f"{model.name} gave non-finite values for some virtual patients (a draw far in the "
            "posterior's tail); refit with more data or a tighter model"
        )
    if model.observed in NON_NEGATIVE:
        observed = np.maximum(observed, 0.0)
    width = max(5, len(str(n)))
    ids = [f"T{i + 1:0{width}d}" for i in range(n)]
    source = f"jumeau:twins:{model.name}:seed={seed}"
    unit = _dose_unit(regimen)
    frame = _long_frame(ids, visits, table, doses, observed, model)
    return LongitudinalCohort(
        frame, _schema(model, baseline, unit, source), source=source, artificial=True
    )


def observed_trajectories(fit: PopulationFit, data: PKData | None = None) -> LongitudinalCohort:
    """The fitted study itself (`data`, default the fit's) in `twin_trajectories`' format: the
    real side of the comparison. Replicate measurements at one time are averaged."""
    if not isinstance(fit, PopulationFit):
        raise JumeauError(f"expected a population fit, not {type(fit).__name__}")
    study = fit.data if data is None else data
    if not isinstance(study, PKData):
        raise JumeauError("this fit holds no patient record (read by load_fit): pass data=")
    subjects = [s for s in study if len(s.times)]
    visits, measured = [], []
    for subject in subjects:
        unique, where = np.unique(subject.times, return_inverse=True)
        visits.append(unique)
        measured.append(np.bincount(where, subject.values) / np.bincount(where))
    names = list(study.covariates)
    table = pd.DataFrame([s.covariates for s in subjects], columns=names)
    inferred = Schema.infer(study.covariate_table()[names]) if names else None
    table, baseline = _baseline(table, inferred, fit.model)
    doses = [s.doses(absorption=fit.model.absorption) for s in subjects]
    ids = [str(s.id) for s in subjects]
    frame = _long_frame(ids, visits, table, doses, np.concatenate(measured), fit.model)
    schema = _schema(fit.model, baseline, DOSE_UNIT, study.source)
    return LongitudinalCohort(frame, schema, source=study.source)


# ---------------------------------------------------------------------- parts
def _visit_times(times: Sequence[float] | np.ndarray) -> np.ndarray:
    try:
        grid = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError):
        raise JumeauError("times must be a list of hours ≥ 0") from None
    if grid.ndim != 1 or not len(grid) or not np.isfinite(grid).all() or (grid < 0).any():
        raise JumeauError("times must be a non-empty list of hours ≥ 0")
    return np.unique(grid)


def _templates(
    fit: PopulationFit, n: int, rng: np.random.Generator, need_times: bool
) -> list[Subject] | None:
    """A real patient of the fitted study for each virtual one (None for a fit without data)."""
    if fit.data is None:
        if need_times:
            raise JumeauError(
                "this fit holds no patient record (read by load_fit): give the visit times= "
                "(hours), and a regimen="
            )
        return None
    pool = [s for s in fit.data if len(s.times) or not need_times]
    return [pool[i] for i in rng.integers(len(pool), size=n)]


def _doses(
    model: MechanisticModel, templates: list[Subject] | None, shared: DoseEvents | None, n: int
) -> list[DoseEvents]:
    if shared is not None:
        return [shared] * n
    if templates is not None:
        return [s.doses(absorption=model.absorption) for s in templates]
    if model.needs_dose:
        raise JumeauError(
            f"this fit holds no patient record (read by load_fit) and {model.name} needs doses: "
            "give a regimen= ('320 mg q12h x6')"
        )
    empty = np.zeros(0)
    return [DoseEvents(empty, empty, empty, np.zeros(0, dtype=bool))] * n


def _covariate_table(
    fit: PopulationFit,
    source: Generator | Cohort | pd.DataFrame | None,
    templates: list[Subject] | None,
    n: int,
    rng: np.random.Generator,
    seed: int,
) -> tuple[pd.DataFrame, Schema | None]:
    """The virtual patients' covariates and the schema that describes them."""
    if source is None:
        if templates is None or fit.data is None or not fit.data.covariates:
            return pd.DataFrame(index=range(n)), None
        names = list(fit.data.covariates)
        table = pd.DataFrame([s.covariates for s in templates], columns=names)
        return table, Schema.infer(fit.data.covariate_table()[names])
    if isinstance(source, pd.DataFrame):
        source = Cohort.from_frame(source)
    if not isinstance(source, (Generator, Cohort)):
        raise JumeauError(
            f"covariates must be a generator, a Cohort or a DataFrame, not {type(source).__name__}"
        )
    schema = source.schema
    table = covariate_table(source, n, rng, seed).reset_index(drop=True)
    return table, schema


def _baseline(
    table: pd.DataFrame, schema: Schema | None, model: MechanisticModel
) -> tuple[pd.DataFrame, Schema | None]:
    """The covariates the output keeps (modelled ones whose names do not clash with the
    output's own columns) and their schema, rules among them included."""
    taken = {ID, TIME, _measure(model)}
    kept = [
        name
        for name, column in (schema.columns.items() if schema is not None else ())
        if column.modelled and name not in taken and name in table.columns
    ]
    if schema is None or not kept:
        return table[[]], None
    return table[kept], sub_schema(schema, kept)


def _padded(visits: list[np.ndarray]) -> np.ndarray:
    """Patients × visits, short courses padded with their last time (predicted, then dropped)."""
    width = max(len(t) for t in visits)
    return np.stack([np.pad(t, (0, width - len(t)), mode="edge") for t in visits])


def _dose_unit(regimen: Regimen | str | DoseEvents | None) -> str:
    if isinstance(regimen, str):
        regimen = Regimen.parse(regimen)
    return regimen.unit if isinstance(regimen, Regimen) else DOSE_UNIT


def _measure(model: MechanisticModel) -> str:
    return model.observed.strip().replace(" ", "_") or "value"


def _long_frame(
    ids: list[str],
    visits: list[np.ndarray],
    table: pd.DataFrame,
    doses: list[DoseEvents],
    values: np.ndarray,
    model: MechanisticModel,
) -> pd.DataFrame:
    counts = np.array([len(t) for t in visits])
    patient = np.repeat(np.arange(len(ids)), counts)
    measure = _measure(model)
    frame: dict[str, Any] = {ID: np.asarray(ids, dtype=object)[patient]}
    frame[TIME] = np.concatenate(visits)
    for name in table.columns:
        frame[str(name)] = table[name].to_numpy()[patient]
    if DOSE not in frame:
        first = np.array([float(d.amounts[0]) if len(d) else 0.0 for d in doses])
        frame[DOSE] = first[patient]
    frame[measure] = values
    return pd.DataFrame(frame)


def _schema(
    model: MechanisticModel, baseline: Schema | None, dose_unit: str, source: str
) -> Schema:
    measure = _measure(model)
    columns: dict[str, Column] = {
        ID: Column(kind=ColumnKind.IDENTIFIER, role=Role.IDENTIFIER, label="patient"),
        TIME: Column(
            kind=ColumnKind.CONTINUOUS,
            unit="h",
            min=0,
            missing_allowed=False,
            label="time since the start of the study",
        ),
    }
    if baseline is not None:  # fixed per patient, and neither a follow-up nor an event
        for name, column in baseline.columns.items():
            columns[name] = column.model_copy(update={"role": Role.FEATURE, "varies": False})
    if DOSE not in columns:
        columns[DOSE] = Column(
            kind=ColumnKind.CONTINUOUS,
            unit=dose_unit,
            min=0,
            missing_allowed=False,
            label="first dose",
            description="amount of the patient's first dose (0: untreated)",
        )
    bounded = model.observed in NON_NEGATIVE
    columns[measure] = Column(
        kind=ColumnKind.CONTINUOUS,
        unit=_measure_unit(model, dose_unit),
        min=0 if bounded else None,
        label=model.observed,
        description=f"{model.observed} as measured (model {model.name}, with residual error)",
        varies=True,
    )
    return Schema(
        name=f"twins:{model.name}",
        source=source,
        columns=columns,
        rules=[] if baseline is None else baseline.rules,
        visits=VisitLayout(id=ID, time=TIME),
    )


def _measure_unit(model: MechanisticModel, dose_unit: str) -> str | None:
    """Dose unit per litre for a PK model (its volumes in L); unknown otherwise."""
    volumes = {p.name: p.unit for p in model.parameters if p.name in ("V", "V1")}
    if model.observed == "concentration" and volumes and set(volumes.values()) == {"L"}:
        return f"{dose_unit}/L"
    return None
