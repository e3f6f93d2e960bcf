"""Long-format cohorts: one row per visit, with static baseline columns and an optional end.

A patient's course is a series of visits (time since baseline, measurements taken at that visit)
plus baseline columns that do not change, and, when the study followed patients to an event, the
end of follow-up and the event indicator (the schema's `time` and `event` roles). The structural
checks below are the ones a trialist would do by hand before trusting such a table: no visit
before baseline, one row per (patient, time), baseline columns constant within a patient, the
end of follow-up not before the last visit. Errors name columns, counts and row positions — never
values.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jumeau.data.cohort import Cohort
from jumeau.data.loading import frame_sha256, read_table
from jumeau.data.schema import ColumnKind, Role, Schema, VisitLayout, unknown_column_message
from jumeau.errors import DataError, JumeauWarning, SchemaError

MIN_PATIENTS_TO_MODEL = 20
EXAMPLES = 5


@dataclass(frozen=True)
class CourseColumns:
    """Which column plays which part in a long-format cohort."""

    id: str
    time: str
    static: tuple[str, ...]  # modelled baseline columns (constant within a patient)
    varying: tuple[str, ...]  # measured at each visit
    followup: str | None  # end of follow-up (role time), constant within a patient
    event: str | None  # terminal event indicator (role event), constant within a patient

    @property
    def per_patient(self) -> tuple[str, ...]:
        """Columns that hold one value per patient."""
        end = tuple(c for c in (self.followup, self.event) if c is not None)
        return (*self.static, *end)

    @classmethod
    def of(cls, schema: Schema) -> CourseColumns:
        layout = schema.visits
        if layout is None:
            raise SchemaError(
                "this schema has no `visits:` section: it describes one row per patient, not a "
                "long-format cohort (add `visits: {id: ..., time: ...}` and mark measured "
                "columns `varies: true`)"
            )
        followup = next(iter(schema.columns_with_role(Role.TIME)), None)
        event = next(iter(schema.columns_with_role(Role.EVENT)), None)
        taken = {layout.id, layout.time, followup, event}
        modelled = [n for n in schema.modelled_columns if n not in taken]
        varying = tuple(n for n in modelled if schema.columns[n].varies)
        if not varying:
            raise SchemaError(
                "no column is marked `varies: true`: a longitudinal model needs at least one "
                "measurement taken at each visit"
            )
        static = tuple(n for n in modelled if not schema.columns[n].varies)
        return cls(layout.id, layout.time, static, varying, followup, event)


class LongitudinalCohort:
    """Visits of many patients, checked and sorted by (patient, time).

    `visits` is the row-per-visit :class:`Cohort` (types coerced by the schema); `patients` is the
    row-per-patient table of baseline and end columns, in the order patients first appear.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        schema: Schema,
        *,
        source: str | None = None,
        sha256: str | None = None,
        artificial: bool = False,
    ) -> None:
        self.columns = CourseColumns.of(schema)
        source = source or "<DataFrame>"
        missing = [n for n in schema.names if n not in data.columns]
        if missing:
            raise DataError(f"{source}: columns named in the schema are absent: {missing}")
        self.sha256 = sha256 or frame_sha256(data)
        visits = Cohort(data, schema, source=source, sha256=self.sha256, artificial=artificial)
        frame = _sorted_visits(visits.data, self.columns, source)
        _check_structure(frame, self.columns, source)
        self.visits = Cohort.from_typed(frame, schema, source=source, artificial=artificial)
        self.visits.sha256 = self.sha256
        self.schema = schema
        self.source = source
        self.artificial = artificial

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        id: str,
        time: str,
        varying: Sequence[str] | None = None,
        followup: str | None = None,
        event: str | None = None,
        schema: Schema | None = None,
        name: str | None = None,
        source: str | None = None,
        sha256: str | None = None,
    ) -> LongitudinalCohort:
        """A long-format cohort from a DataFrame: the schema is inferred (or taken as given)
        and marked with the layout. Columns that change within some patient are the varying
        ones unless `varying` lists them."""
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(frame).__name__}")
        frame = frame.rename(columns=str)
        for role, column in (("id", id), ("time", time), ("followup", followup), ("event", event)):
            if column is not None and column not in frame.columns:
                raise DataError(f"--{role}: {unknown_column_message(column, list(frame.columns))}")
        base = schema if schema is not None else Schema.infer(frame, name=name)
        marked = mark_longitudinal(
            base, frame, id=id, time=time, varying=varying, followup=followup, event=event
        )
        return cls(frame, marked, source=source, sha256=sha256)

    # ------------------------------------------------------------------ access
    @property
    def data(self) -> pd.DataFrame:
        return self.visits.data

    @property
    def n_patients(self) -> int:
        return int(self.data[self.columns.id].nunique())

    def __len__(self) -> int:
        """Number of patients (the unit a generator learns from), not of visits."""
        return self.n_patients

    def __repr__(self) -> str:
        kind = "artificial" if self.artificial else "real"
        return (
            f"LongitudinalCohort({self.n_patients} {kind} patients, {len(self.data)} visits, "
            f"{len(self.columns.static)} static and {len(self.columns.varying)} varying columns)"
        )

    @property
    def patients(self) -> pd.DataFrame:
        """One row per patient: id, then baseline and end-of-follow-up columns."""
        keep = [self.columns.id, *self.columns.per_patient]
        return self.data[keep].drop_duplicates(self.columns.id).reset_index(drop=True)

    @property
    def visit_counts(self) -> np.ndarray:
        return self.data.groupby(self.columns.id, sort=False, observed=True).size().to_numpy()

    def static_schema(self) -> Schema:
        """The schema of the baseline table (static columns and the rules among them)."""
        return sub_schema(self.schema, self.columns.static)

    def static_cohort(self) -> Cohort:
        """Baseline columns, one row per patient: what a tabular generator learns."""
        frame = self.patients[list(self.columns.static)]
        cohort = Cohort.from_typed(frame, self.static_schema(), source=f"{self.source}:baseline")
        cohort.sha256 = frame_sha256(frame)
        return cohort

    def subset_patients(self, positions: Sequence[int] | np.ndarray) -> LongitudinalCohort:
        """The cohort of some patients (positions in `patients`), with every visit of each."""
        ids = self.patients[self.columns.id].to_numpy()[np.asarray(positions, dtype=np.int64)]
        rows = self.data[self.columns.id].isin(ids).to_numpy()
        return LongitudinalCohort(
            self.data[rows].reset_index(drop=True),
            self.schema,
            source=self.source,
            artificial=self.artificial,
        )

    @property
    def provenance(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sha256": self.sha256,
            "patients": self.n_patients,
            "visits": len(self.data),
        }

    def to_csv(self, path: str | Path) -> Path:
        return self.visits.to_csv(path)


def load_longitudinal(
    path: str | Path,
    *,
    id: str | None = None,
    time: str | None = None,
    schema: Schema | str | Path | None = None,
    varying: Sequence[str] | None = None,
    followup: str | None = None,
    event: str | None = None,
) -> LongitudinalCohort:
    """A long-format CSV or Parquet file; the layout comes from the schema's `visits:` section or
    from `id` and `time` (then the schema is inferred and varying columns detected)."""
    table = read_table(path)
    resolved = Schema.from_yaml(schema) if isinstance(schema, (str, Path)) else schema
    if resolved is not None and resolved.visits is not None and id is None and time is None:
        return LongitudinalCohort(table.frame, resolved, source=table.source, sha256=table.sha256)
    if id is None or time is None:
        raise DataError(
            f"{table.source}: a long-format cohort needs the patient column and the visit-time "
            "column: pass --id and --time, or a schema with a `visits:` section"
        )
    return LongitudinalCohort.from_frame(
        table.frame,
        id=id,
        time=time,
        varying=varying,
        followup=followup,
        event=event,
        schema=resolved,
        name=Path(path).stem,
        source=table.source,
        sha256=table.sha256,
    )


def mark_longitudinal(
    schema: Schema,
    frame: pd.DataFrame,
    *,
    id: str,
    time: str,
    varying: Sequence[str] | None,
    followup: str | None,
    event: str | None,
) -> Schema:
    """A copy of `schema` with the visit layout, roles and `varies` marks set."""
    columns = {name: column.model_copy() for name, column in schema.columns.items()}
    for name in (id, time, followup, event):
        if name is not None and name not in columns:
            raise SchemaError(unknown_column_message(name, list(columns)))
    id_column = columns[id]
    if id_column.kind is not ColumnKind.IDENTIFIER or id_column.role is not Role.IDENTIFIER:
        columns[id] = id_column.model_copy(
            update={"kind": ColumnKind.IDENTIFIER, "role": Role.IDENTIFIER, "categories": None,
                    "category_labels": None, "min": None, "max": None}
        )  # fmt: skip
    for name, column in columns.items():
        if column.role in (Role.TIME, Role.EVENT) and name not in (followup, event):
            columns[name] = column.model_copy(update={"role": Role.FEATURE})
    if followup is not None:
        columns[followup] = columns[followup].model_copy(update={"role": Role.TIME})
    if event is not None:
        columns[event] = columns[event].model_copy(update={"role": Role.EVENT})
    fixed = {id, time, followup, event}
    if varying is None:
        grouped = frame.groupby(frame[id], sort=False, observed=True)
        candidates = [n for n in columns if n not in fixed and columns[n].modelled]
        varying = [n for n in candidates if (grouped[n].nunique(dropna=False) > 1).any()]
    for name in varying:
        if name not in columns:
            raise SchemaError(f"--varying: {unknown_column_message(name, list(columns))}")
        if name in fixed:
            raise SchemaError(f"'{name}' is the id, time, follow-up or event column, not a measure")
    chosen = set(varying)
    for name, column in columns.items():
        # the longitudinal model learns every column; derivations are for cross-sectional ones
        columns[name] = column.model_copy(update={"varies": name in chosen, "derived": None})
    document = schema.model_dump()
    document["columns"] = {n: c.model_dump() for n, c in columns.items()}
    document["visits"] = VisitLayout(id=id, time=time).model_dump()
    return Schema.model_validate(document)


def sub_schema(schema: Schema, names: Sequence[str]) -> Schema:
    """The schema restricted to `names`, with the rules that only involve them."""
    from jumeau.data.rules import parse_rule

    keep = set(names)
    rules = [r for r in schema.rules if set(parse_rule(r.expr, schema).columns) <= keep]
    columns = {n: schema.columns[n].model_copy(update={"varies": False}) for n in names}
    if not columns:
        raise SchemaError("no static column: the baseline table would be empty")
    return Schema(name=schema.name, source=schema.source, license=schema.license,
                  columns=columns, rules=rules)  # fmt: skip


# ---------------------------------------------------------------------- checks
def _sorted_visits(frame: pd.DataFrame, columns: CourseColumns, source: str) -> pd.DataFrame:
    ids, times = frame[columns.id], frame[columns.time]
    for name, values in ((columns.id, ids), (columns.time, times)):
        if values.isna().any():
            raise DataError(
                f"{source}: column '{name}' is empty in {int(values.isna().sum())} row(s), "
                f"e.g. rows {_rows(values.isna().to_numpy())}; every visit needs a patient and "
                "a time"
            )
    early = (times < 0).to_numpy()
    if early.any():
        raise DataError(
            f"{source}: {int(early.sum())} visit(s) before baseline (negative '{columns.time}'), "
            f"e.g. rows {_rows(early)}; times are counted from each patient's baseline"
        )
    first_seen = pd.Series(pd.factorize(ids)[0], index=frame.index)
    order = np.lexsort((times.to_numpy(dtype=float), first_seen.to_numpy()))
    if (order != np.arange(len(frame))).any():
        warnings.warn(
            f"{source}: visits were not sorted by patient and '{columns.time}'; sorted them",
            JumeauWarning,
            stacklevel=3,
        )
        frame = frame.iloc[order].reset_index(drop=True)
    return frame


def _check_structure(frame: pd.DataFrame, columns: CourseColumns, source: str) -> None:
    duplicated = frame.duplicated([columns.id, columns.time], keep=False).to_numpy()
    if duplicated.any():
        raise DataError(
            f"{source}: {int(duplicated.sum())} rows share a (patient, '{columns.time}') pair, "
            f"e.g. rows {_rows(duplicated)}; keep one row per visit (merge or drop duplicates)"
        )
    grouped = frame.groupby(columns.id, sort=False, observed=True)
    for name in columns.per_patient:
        changing = grouped[name].nunique(dropna=False) > 1
        if changing.any():
            raise DataError(
                f"{source}: '{name}' is a baseline/end column but changes within "
                f"{int(changing.sum())} patient(s); mark it `varies: true` (or list it in "
                "--varying) if it is measured at each visit, or fix the data"
            )
    if columns.followup is not None:
        last = grouped[columns.time].transform("max").to_numpy(dtype=float)
        end = pd.to_numeric(frame[columns.followup], errors="coerce").to_numpy(dtype=float)
        early_end = end < last - 1e-9
        if early_end.any():
            raise DataError(
                f"{source}: end of follow-up '{columns.followup}' comes before the last visit "
                f"in {int(early_end.sum())} row(s), e.g. rows {_rows(early_end)}"
            )
    sizes = grouped.size()
    if len(sizes) < 2:
        raise DataError(f"{source}: only {len(sizes)} patient(s); a cohort needs several")


def _rows(mask: np.ndarray) -> str:
    return ", ".join(str(i) for i in np.flatnonzero(mask)[:EXAMPLES])
