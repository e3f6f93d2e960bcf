"""Evaluation of artificial long-format cohorts against real ones, beside the honest ceiling.

A course of visits can go wrong in ways a row-by-row comparison never sees: the wrong number of
visits or spacing between them (the visit process), the right values at the wrong time (per
window), the right values in the wrong order (per-patient slopes, within-patient
autocorrelation), or the right marginals with the wrong split of variability between and within
patients (the mixed model a statistician would fit, in `mixed_model`). Each is measured here as
a distance between the real training cohort and the artificial one. Whole courses are also
summarised as one row of features per patient (`trajectory_features`), so that the tabular
detection classifier and the distance-based privacy metrics of `jumeau.evaluation` apply to
patients rather than to visits.

Every number is also computed for the real holdout against the same training cohort (the
*ceiling*): an independent real sample is not at distance 0 either, and an artificial cohort
cannot be expected to beat it. Results hold aggregates only — never a real record.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from jumeau.data.cohort import Cohort
from jumeau.data.longitudinal import LongitudinalCohort, sub_schema
from jumeau.data.schema import CATEGORY_KINDS, Column, ColumnKind, Role, Schema
from jumeau.errors import DataError
from jumeau.evaluation.features import category_codes
from jumeau.evaluation.fidelity import column_shapes, detection_auc
from jumeau.evaluation.privacy import (
    DistanceToClosestRecord,
    GowerSpace,
    distance_to_closest_record,
)
from jumeau.evaluation.similarity import (
    DEFAULT_PERCENTILE,
    SimilarityFilter,
    filter_by_distances,
)
from jumeau.evaluation.summary import ceiling_distance_to_closest_record
from jumeau.generators.encoding import numeric_values
from jumeau.longitudinal.mixed_model import MixedModelComparison, json_ready, mixed_model_comparison

DEFAULT_WINDOWS = 5
DETECTION_FOLDS = 5
ARTIFICIAL, CEILING = "artificial", "ceiling (real holdout)"
N_VISITS, FOLLOWUP_LENGTH, MEAN_GAP = "n_visits", "followup_length", "mean_gap"
NUMERIC_SUMMARIES = ("first", "last", "mean", "sd", "slope", "intercept")


# ---------------------------------------------------------------------- trajectory features
def trajectory_features(cohort: LongitudinalCohort) -> pd.DataFrame:
    """One row per patient (in `cohort.patients` order) summarising the whole course.

    Columns: the static columns (as in the patient table); `n_visits`; `followup_length` (the
    follow-up column if there is one, else the last visit time); the event column if there is
    one; `mean_gap` between consecutive visits (0 with one visit); per numeric varying column
    `<name>_first/_last/_mean/_sd/_slope/_intercept` (ordinary least squares over the visits
    where it was measured; sd and slope are 0 with one measurement, all NaN with none); per
    categorical varying column `<name>_share_<level>` (share of measured visits at each level,
    only the non-reference level of a binary column) and `<name>_changes` (changes between
    consecutive measured visits). These rows are what whole-course detection and distances
    compare: two cohorts can match visit by visit yet differ in how patients' courses run.
    """
    columns, data, schema = cohort.columns, cohort.data, cohort.schema
    patients = cohort.patients
    n = len(patients)
    g = _patient_codes(cohort)
    times = _times(cohort)
    features = patients[list(columns.static)].reset_index(drop=True).copy()
    derived: dict[str, Any] = {}
    counts = np.bincount(g, minlength=n)
    first_time = pd.Series(times).groupby(g).min().reindex(range(n)).to_numpy()
    last_time = pd.Series(times).groupby(g).max().reindex(range(n)).to_numpy()
    derived[N_VISITS] = counts.astype(float)
    derived[FOLLOWUP_LENGTH] = _followup(cohort, last_time)
    if columns.event is not None:
        derived[columns.event] = patients[columns.event].reset_index(drop=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        derived[MEAN_GAP] = np.where(counts > 1, (last_time - first_time) / (counts - 1), 0.0)
    for name in columns.varying:
        column = schema.columns[name]
        if column.kind in CATEGORY_KINDS:
            for key, values in _categorical_summaries(data[name], column, g, n).items():
                derived[f"{name}_{key}"] = values
        else:
            stats = _numeric_summaries(g, times, numeric_values(data[name], column.kind), n)
            for key in NUMERIC_SUMMARIES:
                derived[f"{name}_{key}"] = stats[key].to_numpy()
    clash = [name for name in derived if name in features.columns and name != columns.event]
    if clash:
        raise DataError(
            f"static column(s) {clash} have the names of trajectory features; rename them"
        )
    for name, values in derived.items():
        features[name] = values
    return features


def trajectory_cohort(cohort: LongitudinalCohort) -> Cohort:
    """`trajectory_features` as a one-row-per-patient :class:`Cohort` (static and event columns
    keep their schema entries, the derived features are continuous), ready for the tabular
    metrics of `jumeau.evaluation`."""
    features = trajectory_features(cohort)
    columns: dict[str, Column] = {}
    for name in features.columns:
        if name in cohort.columns.static or name == cohort.columns.event:
            columns[name] = cohort.schema.columns[name].model_copy(
                update={"varies": False, "role": Role.FEATURE}
            )
        else:
            columns[name] = Column(kind=ColumnKind.CONTINUOUS)
    schema = Schema(name=f"{cohort.schema.name or 'cohort'} trajectories", columns=columns)
    return Cohort.from_typed(
        features, schema, source=f"{cohort.source}:trajectories", artificial=cohort.artificial
    )


# ---------------------------------------------------------------------- visit process
@dataclass(frozen=True)
class VisitProcessFidelity:
    """How far the artificial visit process is from the real one (0: identical)."""

    visit_count_tvd: float  # total variation distance between numbers of visits per patient
    gap_ks: float  # KS statistic between gaps of consecutive visits (all patients pooled)
    followup_ks: float  # KS statistic between follow-up lengths
    event_share_real: float  # share of patients with the event (NaN without an event column)
    event_share_artificial: float
    event_share_diff: float  # TVD of the event column (|difference of shares| for a binary one)
    mean_visits_real: float
    mean_visits_artificial: float

    def as_dict(self) -> dict[str, Any]:
        return json_ready(
            {
                "visit_count_tvd": self.visit_count_tvd,
                "gap_ks": self.gap_ks,
                "followup_ks": self.followup_ks,
                "event_share_real": self.event_share_real,
                "event_share_artificial": self.event_share_artificial,
                "event_share_diff": self.event_share_diff,
                "mean_visits_real": self.mean_visits_real,
                "mean_visits_artificial": self.mean_visits_artificial,
            }
        )


def visit_process_fidelity(
    real: LongitudinalCohort, artificial: LongitudinalCohort
) -> VisitProcessFidelity:
    """Distances between the real and artificial visit processes: how many visits, how far
    apart, how long patients are followed and how many reach the event. A generator can get
    every measurement right and still invent a follow-up schedule no study ever had."""
    real_counts, art_counts = real.visit_counts, artificial.visit_counts
    event = real.columns.event
    if event is None or artificial.columns.event != event:
        shares = (math.nan, math.nan, math.nan)
    else:
        categories = list(real.schema.columns[event].categories or [])
        real_codes = _event_codes(real, categories)
        art_codes = _event_codes(artificial, categories)
        shares = (
            _share_with_event(real_codes),
            _share_with_event(art_codes),
            _tvd(real_codes, art_codes),
        )
    return VisitProcessFidelity(
        visit_count_tvd=_tvd(real_counts, art_counts),
        gap_ks=_ks(_gaps(real), _gaps(artificial)),
        followup_ks=_ks(_followup(real), _followup(artificial)),
        event_share_real=shares[0],
        event_share_artificial=shares[1],
        event_share_diff=shares[2],
        mean_visits_real=float(np.mean(real_counts)),
        mean_visits_artificial=float(np.mean(art_counts)) if len(art_counts) else math.nan,
    )


# ---------------------------------------------------------------------- per-window marginals
@dataclass(frozen=True)
class WindowFidelity:
    """Per visit-time window and varying column: a distance between real and artificial values.

    `table` columns: window (0, 1, ...), label, start (exclusive; -inf for the first), end
    (inclusive; inf for the last), column, statistic ('ks' or 'tvd'), value (1 − the
    `column_shapes` score of the window, i.e. the KS statistic or TVD with a gap in the share of
    missing values folded in; 1 when the artificial cohort has no visit in the window), n_real,
    n_artificial (visits in the window).
    """

    edges: tuple[float, ...]  # upper (inclusive) ends of all windows but the last
    table: pd.DataFrame

    @property
    def mean(self) -> float:
        return float(self.table["value"].mean()) if len(self.table) else math.nan

    def as_dict(self) -> dict[str, Any]:
        return json_ready(
            {
                "edges": list(self.edges),
                "mean": self.mean,
                "rows": self.table.to_dict(orient="records"),
            }
        )


def visit_windows(real: LongitudinalCohort, n_windows: int = DEFAULT_WINDOWS) -> np.ndarray:
    """Window edges from quantiles of the real visit times: window k holds the times in
    (edge[k-1], edge[k]]. Edges are observed times, duplicates are merged and an edge at the
    last time is dropped, so with a fixed schedule (0, 2, 6, 12, 18 months) every window holds
    whole scheduled visits and none is empty of real visits."""
    if n_windows < 1:
        raise DataError(f"n_windows must be at least 1, not {n_windows}")
    times = _times(real)
    levels = np.linspace(0.0, 1.0, n_windows + 1)[1:-1]
    edges = np.unique(np.quantile(times, levels, method="inverted_cdf")) if len(levels) else []
    return np.asarray([e for e in edges if e < times.max()], dtype=float)


def window_fidelity(
    real: LongitudinalCohort,
    artificial: LongitudinalCohort,
    *,
    n_windows: int = DEFAULT_WINDOWS,
) -> WindowFidelity:
    """KS (numbers) or TVD (categories) between real and artificial values of each varying
    column within each window of visit times (windows from the real times, `visit_windows`):
    a cohort whose values are right overall but drift at the wrong time is caught here."""
    edges = visit_windows(real, n_windows)
    varying = [c for c in real.columns.varying if c in artificial.data.columns]
    schema = sub_schema(real.schema, varying)
    real_window = np.searchsorted(edges, _times(real), side="left")
    art_window = np.searchsorted(edges, _times(artificial), side="left")
    rows = []
    for k in range(len(edges) + 1):
        start = float(edges[k - 1]) if k > 0 else -math.inf
        end = float(edges[k]) if k < len(edges) else math.inf
        real_rows, art_rows = real_window == k, art_window == k
        real_part = Cohort.from_typed(
            real.data.loc[real_rows, varying].reset_index(drop=True), schema, source="window"
        )
        art_part = Cohort.from_typed(
            artificial.data.loc[art_rows, varying].reset_index(drop=True), schema, source="window"
        )
        scores = column_shapes(real_part, art_part) if art_rows.any() else {}
        for name in varying:
            categorical = schema.columns[name].kind in CATEGORY_KINDS
            rows.append(
                {
                    "window": k,
                    "label": _window_label(start, end),
                    "start": start,
                    "end": end,
                    "column": name,
                    "statistic": "tvd" if categorical else "ks",
                    "value": 1.0 - scores[name] if name in scores else 1.0,
                    "n_real": int(real_rows.sum()),
                    "n_artificial": int(art_rows.sum()),
                }
            )
    return WindowFidelity(tuple(float(e) for e in edges), pd.DataFrame(rows))


# ---------------------------------------------------------------------- shapes of courses
@dataclass(frozen=True)
class MeasureShape:
    """Shapes of the courses of one numeric measure, real vs artificial."""

    measure: str
    slope_ks: float  # KS statistic between per-patient OLS slopes (patients with ≥ 2 values)
    intercept_ks: float  # ... between per-patient intercepts (value at time 0)
    autocorrelation_real: float  # lag-1 within-patient autocorrelation (pooled, ≥ 3 values)
    autocorrelation_artificial: float
    n_real: int  # patients with ≥ 2 measured values
    n_artificial: int

    @property
    def autocorrelation_diff(self) -> float:
        return abs(self.autocorrelation_real - self.autocorrelation_artificial)

    def as_dict(self) -> dict[str, Any]:
        return json_ready(
            {
                "measure": self.measure,
                "slope_ks": self.slope_ks,
                "intercept_ks": self.intercept_ks,
                "autocorrelation_real": self.autocorrelation_real,
                "autocorrelation_artificial": self.autocorrelation_artificial,
                "autocorrelation_diff": self.autocorrelation_diff,
                "n_real": self.n_real,
                "n_artificial": self.n_artificial,
            }
        )


def trajectory_shapes(
    real: LongitudinalCohort, artificial: LongitudinalCohort
) -> tuple[MeasureShape, ...]:
    """Per numeric varying column: how patients' own courses run (slopes, intercepts) and how
    strongly one visit predicts the next (lag-1 autocorrelation). Independent draws per visit
    match every window yet have no within-patient autocorrelation; this is where they fail."""
    shapes = []
    for name in _numeric_varying(real):
        if name not in artificial.data.columns:
            continue
        real_stats = _measure_summaries(real, name)
        art_stats = _measure_summaries(artificial, name)
        real_rows, art_rows = real_stats["count"] >= 2, art_stats["count"] >= 2
        shapes.append(
            MeasureShape(
                measure=name,
                slope_ks=_ks(real_stats["slope"][real_rows], art_stats["slope"][art_rows]),
                intercept_ks=_ks(
                    real_stats["intercept"][real_rows], art_stats["intercept"][art_rows]
                ),
                autocorrelation_real=lag1_autocorrelation(real, name),
                autocorrelation_artificial=lag1_autocorrelation(artificial, name),
                n_real=int(real_rows.sum()),
                n_artificial=int(art_rows.sum()),
            )
        )
    return tuple(shapes)


def lag1_autocorrelation(cohort: LongitudinalCohort, measure: str) -> float:
    """Lag-1 autocorrelation of a measure within patients: deviations from each patient's own
    mean, consecutive measured visits, pooled over patients with at least 3 measured values
    (NaN when there are none). Centring on the patient's mean removes between-patient
    differences, so this is about the order of values within a course. (It is biased down by
    about 1/(visits − 1) — equally for real and artificial cohorts with the same visit counts.)"""
    column = cohort.schema.columns[measure]
    values = numeric_values(cohort.data[measure], column.kind)
    observed = ~np.isnan(values)
    frame = pd.DataFrame({"g": _patient_codes(cohort)[observed], "y": values[observed]})
    counts = frame.groupby("g")["y"].transform("size")
    frame = frame[counts.to_numpy() >= 3]
    if frame.empty:
        return math.nan
    deviation = frame["y"] - frame.groupby("g")["y"].transform("mean")
    previous = deviation.groupby(frame["g"]).shift()
    denominator = float((deviation**2).sum())
    if denominator <= 0:
        return math.nan
    return float((deviation * previous).sum() / denominator)


# ---------------------------------------------------------------------- whole courses
def trajectory_detection_auc(
    real: LongitudinalCohort, artificial: LongitudinalCohort, *, seed: int = 0
) -> float:
    """Held-out ROC AUC of the tabular detection classifier (`detection_auc`, stratified
    cross-validation) on whole-course features: 0.5 when patients cannot be told apart."""
    return _detection(trajectory_cohort(real), trajectory_cohort(artificial), seed)


def trajectory_dcr(
    train: LongitudinalCohort,
    holdout: LongitudinalCohort,
    artificial: LongitudinalCohort,
    *,
    seed: int = 0,
) -> DistanceToClosestRecord:
    """Distances to the closest record on whole-course features (Gower: each feature scaled by
    its range in the training patients). `share_closer_to_train` is the DCR share: ≈ 0.5 when
    artificial courses are no closer to training patients than to unseen real ones."""
    features = [trajectory_cohort(c) for c in (train, holdout, artificial)]
    return distance_to_closest_record(*features, seed=seed)


@dataclass(frozen=True)
class TrajectoryFilter:
    """The similarity filter on whole courses: the artificial cohort it kept, and the tabular
    filter's own account (threshold, counts, exact copies) computed on course features."""

    kept: LongitudinalCohort
    account: SimilarityFilter

    @property
    def n_removed(self) -> int:
        return self.account.n_removed

    @property
    def n_exact_copies(self) -> int:
        return self.account.n_exact_copies

    def as_dict(self) -> dict[str, Any]:
        return json_ready(self.account.to_dict())


def trajectory_filter(
    artificial: LongitudinalCohort,
    train: LongitudinalCohort,
    holdout: LongitudinalCohort,
    *,
    percentile: float = DEFAULT_PERCENTILE,
) -> TrajectoryFilter:
    """The tabular similarity filter (`filter_by_distances`, same threshold rule) applied to
    whole-course features: an artificial patient whose course is closer to a training patient's
    than the `percentile`-th percentile of holdout → train distances is removed with all its
    visits."""
    space = GowerSpace(trajectory_cohort(train), trajectory_cohort(artificial))
    to_train = space.closest(space.features(trajectory_cohort(artificial)), space.train)
    holdout_to_train = space.closest(space.features(trajectory_cohort(holdout)), space.train)
    positions = _position_cohort(len(artificial))
    result = filter_by_distances(positions, to_train, holdout_to_train, percentile=percentile)
    kept = result.kept.data["position"].to_numpy(dtype=np.int64)
    if len(kept) < 2:
        raise DataError(
            f"the similarity filter removed {result.n_removed} of {result.n_input} artificial "
            "patients; fewer than 2 are left to form a cohort"
        )
    return TrajectoryFilter(kept=artificial.subset_patients(kept), account=result)


def filter_close_trajectories(
    artificial: LongitudinalCohort,
    train: LongitudinalCohort,
    holdout: LongitudinalCohort,
    *,
    percentile: float = DEFAULT_PERCENTILE,
) -> LongitudinalCohort:
    """The artificial cohort without the patients whose whole course is too close to a training
    patient's (see `trajectory_filter`, which also says how many were removed and why)."""
    return trajectory_filter(artificial, train, holdout, percentile=percentile).kept


# ---------------------------------------------------------------------- all together
def split_patients(
    cohort: LongitudinalCohort, *, share: float = 0.3, seed: int = 0
) -> tuple[LongitudinalCohort, LongitudinalCohort]:
    """Seeded random split of patients (with all their visits) into training and holdout."""
    order = np.random.default_rng(seed).permutation(len(cohort))
    n_holdout = min(max(2, round(share * len(cohort))), len(cohort) - 2)
    return cohort.subset_patients(order[n_holdout:]), cohort.subset_patients(order[:n_holdout])


@dataclass(frozen=True)
class LongitudinalScores:
    """All distances of one cohort (artificial, or the real holdout for the ceiling) from the
    training cohort."""

    n_patients: int
    visit_process: VisitProcessFidelity
    windows: WindowFidelity
    shapes: tuple[MeasureShape, ...]
    mixed_models: tuple[MixedModelComparison, ...]
    detection_auc: float  # on trajectory features; 0.5: indistinguishable
    dcr_share: float  # on trajectory features; ≈ 0.5 for a model that learned the distribution
    exact_copies: int  # courses identical to a training patient's on every feature

    def headline(self) -> dict[str, Any]:
        """The few numbers of the summary table (distances: lower is better)."""
        inside = sum(m.n_inside_real_ci for m in self.mixed_models)
        total = sum(len(m.fixed_effects) for m in self.mixed_models)
        return {
            "window_ks_mean": self.windows.mean,
            "visit_count_tvd": self.visit_process.visit_count_tvd,
            "gap_ks": self.visit_process.gap_ks,
            "followup_ks": self.visit_process.followup_ks,
            "event_share_diff": self.visit_process.event_share_diff,
            "slope_ks": _mean([s.slope_ks for s in self.shapes]),
            "autocorrelation_diff": _mean([s.autocorrelation_diff for s in self.shapes]),
            "fixed_effects_inside_ci": f"{inside}/{total}",
            "detection_auc": self.detection_auc,
            "dcr_share": self.dcr_share,
        }

    def as_dict(self) -> dict[str, Any]:
        return json_ready(
            {
                "n_patients": self.n_patients,
                "headline": self.headline(),
                "visit_process": self.visit_process.as_dict(),
                "windows": self.windows.as_dict(),
                "shapes": [s.as_dict() for s in self.shapes],
                "mixed_models": [m.as_dict() for m in self.mixed_models],
                "detection_auc": self.detection_auc,
                "dcr_share": self.dcr_share,
                "exact_copies": self.exact_copies,
            }
        )


@dataclass(frozen=True)
class LongitudinalEvaluation:
    """The artificial cohort's scores and the ceiling (real holdout) scored in the same way."""

    n_train: int
    n_holdout: int
    n_artificial: int
    seed: int
    artificial: LongitudinalScores
    ceiling: LongitudinalScores
    similarity: dict[str, Any]  # the trajectory similarity filter on the artificial cohort
    notes: tuple[str, ...]

    def summary_table(self) -> pd.DataFrame:
        """Headline numbers, one row for the artificial cohort and one for the ceiling."""
        return pd.DataFrame(
            [self.artificial.headline(), self.ceiling.headline()], index=[ARTIFICIAL, CEILING]
        )

    def to_frame(self) -> pd.DataFrame:
        return self.summary_table()

    def as_dict(self) -> dict[str, Any]:
        return json_ready(
            {
                "sizes": {
                    "train": self.n_train,
                    "holdout": self.n_holdout,
                    "artificial": self.n_artificial,
                },
                "seed": self.seed,
                "artificial": self.artificial.as_dict(),
                "ceiling": self.ceiling.as_dict(),
                "similarity": self.similarity,
                "notes": list(self.notes),
            }
        )


def evaluate_longitudinal(
    train: LongitudinalCohort,
    holdout: LongitudinalCohort,
    artificial: LongitudinalCohort,
    *,
    seed: int = 0,
    n_windows: int = DEFAULT_WINDOWS,
    covariates: Sequence[str] | None = None,
) -> LongitudinalEvaluation:
    """Every longitudinal metric for `artificial` against `train`, and the same for `holdout`
    (the ceiling: what an independent real sample reaches). Mixed models are fitted for each
    numeric varying column with `covariates` (default: all static columns) as fixed effects.
    For the ceiling's DCR share the holdout is split in two, as in the tabular summary."""
    for other, label in ((holdout, "holdout"), (artificial, "artificial")):
        missing = [c for c in train.schema.names if c not in other.data.columns]
        if missing:
            raise DataError(f"the {label} cohort lacks columns of the training cohort: {missing}")
    chosen = tuple(train.columns.static if covariates is None else covariates)
    train_features = trajectory_cohort(train)
    holdout_features = trajectory_cohort(holdout)
    art_features = trajectory_cohort(artificial)
    dcr = distance_to_closest_record(train_features, holdout_features, art_features, seed=seed)
    ceiling_dcr = ceiling_distance_to_closest_record(train_features, holdout_features, seed=seed)
    similarity = filter_by_distances(
        _position_cohort(len(artificial)), dcr.to_all_train, dcr.holdout_to_train
    )
    notes: list[str] = []
    scores = {}
    for label, other, features, distances in (
        (ARTIFICIAL, artificial, art_features, dcr),
        (CEILING, holdout, holdout_features, ceiling_dcr),
    ):
        models = tuple(
            mixed_model_comparison(train, other, name, chosen) for name in _numeric_varying(train)
        )
        notes.extend(f"{label}, {m.measure}: {note}" for m in models for note in m.notes)
        scores[label] = LongitudinalScores(
            n_patients=len(other),
            visit_process=visit_process_fidelity(train, other),
            windows=window_fidelity(train, other, n_windows=n_windows),
            shapes=trajectory_shapes(train, other),
            mixed_models=models,
            detection_auc=_detection(train_features, features, seed),
            dcr_share=distances.share_closer_to_train,
            exact_copies=distances.exact_copies,
        )
    return LongitudinalEvaluation(
        n_train=len(train),
        n_holdout=len(holdout),
        n_artificial=len(artificial),
        seed=seed,
        artificial=scores[ARTIFICIAL],
        ceiling=scores[CEILING],
        similarity=similarity.to_dict(),
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------- helpers
def _patient_codes(cohort: LongitudinalCohort) -> np.ndarray:
    """Per visit: the position of its patient in `cohort.patients` (order of first visit)."""
    return pd.factorize(cohort.data[cohort.columns.id])[0]


def _times(cohort: LongitudinalCohort) -> np.ndarray:
    name = cohort.columns.time
    return numeric_values(cohort.data[name], cohort.schema.columns[name].kind)


def _numeric_varying(cohort: LongitudinalCohort) -> list[str]:
    return [
        c for c in cohort.columns.varying if cohort.schema.columns[c].kind not in CATEGORY_KINDS
    ]


def _followup(cohort: LongitudinalCohort, last_time: np.ndarray | None = None) -> np.ndarray:
    """Per patient: the follow-up column, else the time of the last visit."""
    columns = cohort.columns
    if columns.followup is not None:
        column = cohort.schema.columns[columns.followup]
        return numeric_values(cohort.patients[columns.followup], column.kind)
    if last_time is not None:
        return last_time
    g = _patient_codes(cohort)
    return pd.Series(_times(cohort)).groupby(g).max().to_numpy()


def _gaps(cohort: LongitudinalCohort) -> np.ndarray:
    """Times between consecutive visits of the same patient, all patients pooled."""
    gaps = pd.Series(_times(cohort)).groupby(_patient_codes(cohort)).diff()
    return gaps.dropna().to_numpy()


def _event_codes(cohort: LongitudinalCohort, categories: list) -> np.ndarray:
    event = cohort.columns.event
    assert event is not None
    return category_codes(cohort.patients[event], categories)


def _share_with_event(codes: np.ndarray) -> float:
    """Share of patients not at the reference (first) level, among those with a value."""
    present = codes[codes >= 0]
    return float((present >= 1).mean()) if len(present) else math.nan


def _numeric_summaries(
    g: np.ndarray, times: np.ndarray, values: np.ndarray, n: int
) -> pd.DataFrame:
    """Per patient: first, last, mean, sd, OLS slope and intercept over measured visits."""
    observed = ~np.isnan(values)
    frame = pd.DataFrame({"g": g[observed], "t": times[observed], "y": values[observed]})
    grouped = frame.groupby("g", sort=True)
    count = grouped.size()
    dt = frame["t"] - grouped["t"].transform("mean")
    dy = frame["y"] - grouped["y"].transform("mean")
    sxx = (dt * dt).groupby(frame["g"]).sum()
    sxy = (dt * dy).groupby(frame["g"]).sum()
    slope = (sxy / sxx.where(sxx > 0)).fillna(0.0)
    mean_y, mean_t = grouped["y"].mean(), grouped["t"].mean()
    stats = pd.DataFrame(
        {
            "first": grouped["y"].first(),
            "last": grouped["y"].last(),
            "mean": mean_y,
            "sd": grouped["y"].std(ddof=1).fillna(0.0),
            "slope": slope,
            "intercept": mean_y - slope * mean_t,
            "count": count,
        }
    ).reindex(range(n))
    stats["count"] = stats["count"].fillna(0).astype(int)
    return stats


def _measure_summaries(cohort: LongitudinalCohort, name: str) -> pd.DataFrame:
    values = numeric_values(cohort.data[name], cohort.schema.columns[name].kind)
    return _numeric_summaries(_patient_codes(cohort), _times(cohort), values, len(cohort))


def _categorical_summaries(
    values: pd.Series, column: Column, g: np.ndarray, n: int
) -> dict[str, np.ndarray]:
    """Per patient: share of measured visits at each level (the non-reference one for a binary
    column) and the number of changes between consecutive measured visits."""
    categories = list(column.categories or sorted({str(v) for v in values.dropna()}))
    codes = category_codes(values, categories)
    observed = codes >= 0
    frame = pd.DataFrame({"g": g[observed], "c": codes[observed]})
    binary = column.kind is ColumnKind.BINARY and len(categories) == 2
    levels = list(enumerate(categories))[1:] if binary else list(enumerate(categories))
    result: dict[str, np.ndarray] = {}
    for code, level in levels:
        share = (frame["c"] == code).groupby(frame["g"]).mean()
        result[f"share_{level}"] = share.reindex(range(n)).to_numpy(dtype=float)
    previous = frame.groupby("g")["c"].shift()
    changed = (frame["c"] != previous) & previous.notna()
    changes = changed.groupby(frame["g"]).sum().reindex(range(n))
    result["changes"] = changes.to_numpy(dtype=float)
    return result


def _detection(real: Cohort, other: Cohort, seed: int) -> float:
    """`detection_auc` on feature cohorts; NaN when a side is too small to cross-validate."""
    if min(len(real), len(other)) < DETECTION_FOLDS:
        return math.nan
    return detection_auc(real, other, folds=DETECTION_FOLDS, seed=seed)


def _position_cohort(n: int) -> Cohort:
    """A cohort holding only row positions, so that the tabular filter's choice maps back to
    patients."""
    schema = Schema(columns={"position": Column(kind=ColumnKind.INTEGER)})
    return Cohort.from_typed(
        pd.DataFrame({"position": np.arange(n, dtype=np.int64)}), schema, source="positions"
    )


def _ks(x: np.ndarray | pd.Series, y: np.ndarray | pd.Series) -> float:
    """Two-sample KS statistic on the non-missing values; 0 when both are empty, 1 when one is."""
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) == 0 or len(b) == 0:
        return 0.0 if len(a) == len(b) else 1.0
    return float(ks_2samp(a, b, method="asymp").statistic)


def _tvd(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation distance between the empirical distributions of two discrete samples."""
    if len(a) == 0 or len(b) == 0:
        return 0.0 if len(a) == len(b) else 1.0
    levels = np.union1d(a, b)
    pa = (np.asarray(a)[:, None] == levels).mean(axis=0)
    pb = (np.asarray(b)[:, None] == levels).mean(axis=0)
    return 0.5 * float(np.abs(pa - pb).sum())


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _window_label(start: float, end: float) -> str:
    if np.isinf(start) and np.isinf(end):
        return "all visits"
    if np.isinf(start):
        return f"≤ {end:.3g}"
    if np.isinf(end):
        return f"> {start:.3g}"
    return f"({start:.3g}, {end:.3g}]"
