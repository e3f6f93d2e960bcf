"""Courses of visits <-> padded arrays, through the tabular encoding layer.

A patient's course is: the time of the first visit, then for each visit its measurements and the
gap to the next visit, and at the end the follow-up after the last visit and the terminal event.
Each of these parts is a small table encoded by the same `TabularEncoder` as every tabular model
(normal scores through empirical quantiles, one-hot categories, missingness flags), so that:

- a gap can never be negative or zero (its quantile map starts at the smallest observed gap),
  scheduled visits (0, 2, 6, 12 months) stay on schedule (tied columns decode through the step
  inverse), and measurements stay within their observed range;
- the per-type likelihood of the neural generators (`MixedLikelihood`) serves every part.

The arrays are padded to the longest course; `exists` marks real visits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from jumeau.data.cohort import Cohort
from jumeau.data.longitudinal import CourseColumns, LongitudinalCohort, sub_schema
from jumeau.data.schema import Column, ColumnKind, Schema
from jumeau.generators.encoding import TabularEncoder

GAP, START, TAIL = "gap", "start", "tail"


@dataclass
class CourseArrays:
    """Encoded courses of `n` patients padded to `steps` visits."""

    visits: np.ndarray  # n × steps × visit width
    visit_mask: np.ndarray  # same shape: 0 where a number was missing or the visit is padding
    times: np.ndarray  # n × steps × 1: normal score of the start (step 0) or of the gap
    elapsed: np.ndarray  # n × steps × 1: visit time / time scale
    exists: np.ndarray  # n × steps
    last: np.ndarray  # n × steps: 1 at each patient's last visit
    end: np.ndarray  # n × end width (tail after the last visit, event)
    end_mask: np.ndarray


class CourseEncoder:
    """Fit on a long-format cohort; encode its courses; decode generated ones."""

    def fit(self, cohort: LongitudinalCohort) -> CourseEncoder:
        self.columns_ = cohort.columns
        self.schema_ = cohort.schema
        columns, frame = cohort.columns, cohort.data
        self.visit_encoder_ = TabularEncoder().fit(
            Cohort.from_typed(
                frame[list(columns.varying)].reset_index(drop=True),
                sub_schema(cohort.schema, columns.varying),
                source="visits",
            )
        )
        times = frame[columns.time].to_numpy(dtype=float)
        first = _first_of_patient(frame[columns.id])
        starts, gaps = times[first], np.diff(times)[~first[1:]]
        self.start_constant_: float | None = float(starts[0]) if np.ptp(starts) == 0 else None
        self.start_encoder_ = (
            None if self.start_constant_ is not None else _time_encoder(START, starts)
        )
        self.gap_encoder_ = _time_encoder(GAP, gaps) if gaps.size else None
        self.max_visits_ = int(cohort.visit_counts.max())
        self.time_scale_ = float(np.quantile(times, 0.9)) or 1.0
        self.end_encoder_ = self._fit_end(cohort)
        return self

    def _fit_end(self, cohort: LongitudinalCohort) -> TabularEncoder | None:
        columns = self.columns_
        parts: dict[str, Any] = {}
        schema_columns: dict[str, Column] = {}
        patients = cohort.patients
        if columns.followup is not None:
            parts[TAIL] = _tails(cohort)
            schema_columns[TAIL] = Column(kind=ColumnKind.CONTINUOUS, min=0)
        if columns.event is not None:
            parts[columns.event] = patients[columns.event].to_numpy()
            schema_columns[columns.event] = cohort.schema.columns[columns.event].model_copy(
                update={"varies": False}
            )
        if not parts:
            return None
        schema = Schema(columns=schema_columns)
        return TabularEncoder().fit(Cohort.from_typed(pd.DataFrame(parts), schema, source="end"))

    # ------------------------------------------------------------------ layout
    @property
    def visit_width(self) -> int:
        return self.visit_encoder_.width_

    @property
    def end_width(self) -> int:
        return self.end_encoder_.width_ if self.end_encoder_ is not None else 0

    # ------------------------------------------------------------------ encode
    def transform(self, cohort: LongitudinalCohort) -> CourseArrays:
        columns, frame = self.columns_, cohort.data
        first = _first_of_patient(frame[columns.id])
        patient = np.cumsum(first) - 1
        step = np.arange(len(frame)) - np.flatnonzero(first)[patient]
        n, steps = int(patient[-1]) + 1, int(step.max()) + 1
        visits, visit_mask = self.visit_encoder_.transform(frame[list(columns.varying)])
        times = frame[columns.time].to_numpy(dtype=float)
        gaps = np.diff(times, prepend=0.0)
        time_scores = np.zeros(len(frame), dtype=np.float32)
        if self.start_encoder_ is not None:
            time_scores[first] = self.start_encoder_.to_scores(START, times[first])
        if self.gap_encoder_ is not None and (~first).any():
            time_scores[~first] = self.gap_encoder_.to_scores(GAP, gaps[~first])
        arrays = CourseArrays(
            visits=np.zeros((n, steps, self.visit_width), np.float32),
            visit_mask=np.zeros((n, steps, self.visit_width), np.float32),
            times=np.zeros((n, steps, 1), np.float32),
            elapsed=np.zeros((n, steps, 1), np.float32),
            exists=np.zeros((n, steps), np.float32),
            last=np.zeros((n, steps), np.float32),
            end=np.zeros((n, self.end_width), np.float32),
            end_mask=np.ones((n, self.end_width), np.float32),
        )
        arrays.visits[patient, step] = visits
        arrays.visit_mask[patient, step] = visit_mask
        arrays.times[patient, step, 0] = np.clip(time_scores, -6, 6)
        arrays.elapsed[patient, step, 0] = times / self.time_scale_
        arrays.exists[patient, step] = 1.0
        last = np.r_[first[1:], True]
        arrays.last[patient[last], step[last]] = 1.0
        if self.end_encoder_ is not None:
            end_frame = self._end_frame(cohort)
            arrays.end, arrays.end_mask = self.end_encoder_.transform(end_frame)
        return arrays

    def _end_frame(self, cohort: LongitudinalCohort) -> pd.DataFrame:
        parts: dict[str, Any] = {}
        if self.columns_.followup is not None:
            parts[TAIL] = _tails(cohort)
        if self.columns_.event is not None:
            parts[self.columns_.event] = cohort.patients[self.columns_.event].to_numpy()
        return pd.DataFrame(parts)

    # ------------------------------------------------------------------ decode
    def start_times(self, scores: np.ndarray) -> np.ndarray:
        if self.start_encoder_ is None:
            return np.full(len(scores), self.start_constant_ or 0.0)
        return self.start_encoder_.from_scores(START, scores)

    def gap_times(self, scores: np.ndarray) -> np.ndarray:
        if self.gap_encoder_ is None:  # no patient had two visits: courses are single visits
            return np.ones(len(scores))
        return self.gap_encoder_.from_scores(GAP, scores)

    def time_scores(self, values: np.ndarray, *, first: bool) -> np.ndarray:
        """Canonical scores of decoded times (what training saw for such a value)."""
        encoder, name = (self.start_encoder_, START) if first else (self.gap_encoder_, GAP)
        if encoder is None:
            return np.zeros(len(values), np.float32)
        return np.clip(encoder.to_scores(name, values), -6, 6).astype(np.float32)

    def assemble(
        self,
        ids: np.ndarray,
        static: pd.DataFrame,
        visit_frames: list[pd.DataFrame],
        visit_times: list[np.ndarray],
        counts: np.ndarray,
        end_matrix: np.ndarray | None,
    ) -> pd.DataFrame:
        """The long frame of generated courses, in the input's column order and types."""
        columns = self.columns_
        patient = np.repeat(np.arange(len(ids)), counts)
        step = np.arange(patient.size) - np.repeat(np.cumsum(counts) - counts, counts)
        values = pd.concat(visit_frames, ignore_index=True)
        stacked_times = np.stack(visit_times, axis=1)  # n × steps
        frame: dict[str, Any] = {columns.id: ids[patient]}
        frame[columns.time] = stacked_times[patient, step]
        rows = step * len(ids) + patient  # one frame per step, each with a row for every patient
        for name in columns.varying:
            frame[name] = values[name].to_numpy()[rows]
        for name in columns.static:
            frame[name] = static[name].to_numpy()[patient]
        if end_matrix is not None and self.end_encoder_ is not None:
            end = self.end_encoder_.inverse_transform(end_matrix)
            last_time = stacked_times[np.arange(len(ids)), counts - 1]
            if columns.followup is not None:
                followup = last_time + end[TAIL].to_numpy(float)
                if self.schema_.columns[columns.followup].kind is ColumnKind.INTEGER:
                    followup = np.ceil(followup - 1e-9)  # whole units, never before the last visit
                frame[columns.followup] = followup[patient]
            if columns.event is not None:
                frame[columns.event] = end[columns.event].to_numpy()[patient]
        result = pd.DataFrame(frame)
        return result[[n for n in self.schema_.names if n in result.columns]]

    # ------------------------------------------------------------------ persistence
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta: dict[str, Any] = {
            "start_constant": self.start_constant_,
            "max_visits": self.max_visits_,
            "time_scale": self.time_scale_,
        }
        arrays: dict[str, np.ndarray] = {}
        for part, encoder in self._encoders().items():
            if encoder is None:
                meta[part] = None
                continue
            part_meta, part_arrays = encoder.state()
            meta[part] = {"encoder": part_meta, "schema": encoder.schema_.model_dump(mode="json")}
            arrays |= {f"{part}.{k}": v for k, v in part_arrays.items()}
        return meta, arrays

    @classmethod
    def from_state(
        cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], schema: Schema
    ) -> CourseEncoder:
        course = cls()
        course.schema_ = schema
        course.columns_ = CourseColumns.of(schema)
        course.start_constant_ = meta["start_constant"]
        course.max_visits_ = int(meta["max_visits"])
        course.time_scale_ = float(meta["time_scale"])
        for part in ("visit", "start", "gap", "end"):
            found = meta[part]
            encoder = None
            if found is not None:
                prefix = f"{part}."
                own = {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
                encoder = TabularEncoder.from_state(
                    found["encoder"], own, Schema.model_validate(found["schema"])
                )
            setattr(course, f"{part}_encoder_", encoder)
        return course

    def _encoders(self) -> dict[str, TabularEncoder | None]:
        return {
            "visit": self.visit_encoder_,
            "start": self.start_encoder_,
            "gap": self.gap_encoder_,
            "end": self.end_encoder_,
        }


def _first_of_patient(ids: pd.Series) -> np.ndarray:
    values = ids.to_numpy()
    first = np.ones(len(values), dtype=bool)
    first[1:] = values[1:] != values[:-1]
    return first


def _tails(cohort: LongitudinalCohort) -> np.ndarray:
    """Follow-up after the last visit, per patient (≥ 0 by the data layer's checks)."""
    columns, frame = cohort.columns, cohort.data
    grouped = frame.groupby(columns.id, sort=False, observed=True)
    last = grouped[columns.time].max().to_numpy(dtype=float)
    end = grouped[columns.followup].first().to_numpy(dtype=float)
    return np.maximum(end - last, 0.0)


def _time_encoder(name: str, values: np.ndarray) -> TabularEncoder:
    schema = Schema(columns={name: Column(kind=ColumnKind.CONTINUOUS, min=0)})
    frame = pd.DataFrame({name: values.astype(float)})
    return TabularEncoder().fit(Cohort.from_typed(frame, schema, source=name))
