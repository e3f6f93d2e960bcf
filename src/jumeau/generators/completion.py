"""Multiple imputation with a fitted generator: the frame-level part every model shares.

Each model draws p(missing | observed) its own way (`Generator._impute_matrix`: Gibbs sampling on
the copula's latent Gaussian, importance resampling through the VAE's encoder). What is common
lives here: only the cells that were missing change (observed values are copied, never
re-encoded), every completed row is checked against the bounds and clinical rules again and
redrawn when an imputed value breaks one, and the work is summarised in a `CompletionReport`
that holds counts only — no value, no row.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jumeau.data.cohort import Cohort
from jumeau.data.derivation import derive
from jumeau.errors import DataError, JumeauError, JumeauWarning

if TYPE_CHECKING:
    from jumeau.generators.base import Generator

MAX_COPIES = 1000
CANDIDATES_PER_ATTEMPT = 8  # fresh draws per bad row and redraw attempt


@dataclass
class CompletionReport:
    """What `complete` did: rows and cells filled, redraws for bounds and rules, diagnostics."""

    model: str
    seed: int
    m: int
    rows: int
    rows_completed: int
    cells_by_column: dict[str, int] = field(default_factory=dict)
    redrawn: int = 0  # (row, copy) pairs drawn again because an imputed value broke a check
    unresolved: int = 0  # pairs still breaking a check after every attempt (kept, with a warning)
    diagnostics: dict[str, float] = field(default_factory=dict)

    @property
    def cells_completed(self) -> int:
        return sum(self.cells_by_column.values())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"cells_completed": self.cells_completed}


def check_completion_request(m: int, max_attempts: int) -> None:
    """Refuse a bad m or max_attempts before anything is fitted (a fit can take minutes)."""
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 1 <= m <= MAX_COPIES:
        raise JumeauError(f"m (completed copies) must be a whole number from 1 to {MAX_COPIES}")
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 0:
        raise JumeauError("max_attempts must be a whole number ≥ 0")


def complete_cohort(
    generator: Generator, cohort: Cohort, m: int, seed: int, max_attempts: int
) -> tuple[list[Cohort], CompletionReport]:
    """`m` completed copies of `cohort` and the report (see module docstring)."""
    if not isinstance(cohort, Cohort):
        raise JumeauError(
            f"complete expects a jumeau Cohort, got {type(cohort).__name__}; "
            "use jumeau.Cohort.from_frame(df) or jumeau.load_cohort(path)"
        )
    check_completion_request(m, max_attempts)
    names = generator.schema_.names
    absent = [name for name in names if name not in cohort.data.columns]
    if absent:
        raise DataError(
            f"{cohort.source}: the cohort lacks column(s) the model was fitted on: "
            f"{', '.join(absent)}"
        )
    modelled = Cohort(
        cohort.data[names].reset_index(drop=True), generator.schema_, source=cohort.source
    ).data
    missing = modelled.isna().to_numpy()
    rows = np.flatnonzero(missing.any(axis=1))
    report = CompletionReport(
        model=generator.name,
        seed=seed,
        m=int(m),
        rows=len(modelled),
        rows_completed=int(rows.size),
        cells_by_column={
            name: int(count)
            for name, count in zip(names, missing.sum(axis=0), strict=True)
            if count
        },
    )
    rng = np.random.default_rng(seed)
    frames = [cohort.data.copy() for _ in range(m)]
    if rows.size:
        incomplete = modelled.iloc[rows].reset_index(drop=True)
        matrix, mask = generator.encoder_.transform(incomplete, unseen_missing=True)
        # a row whose observed values already break a bound or rule cannot be mended by drawing
        # its missing ones: it is not redrawn (its holes are what completion is for)
        checkable = _valid_rows(incomplete, generator, holes_allowed=True)
        draws, diagnostics = generator._impute_matrix(matrix, mask, int(m), rng)
        report.diagnostics = diagnostics
        # the m copies are stacked and checked together, so that each redraw attempt serves
        # every copy at once
        count = len(incomplete)
        source_row = np.tile(np.arange(count), m)
        stacked = incomplete.iloc[source_row].reset_index(drop=True)
        filled = _fill(stacked, draws.reshape(m * count, -1), generator)
        bad = np.flatnonzero(checkable[source_row] & ~_valid_rows(filled, generator))
        for _ in range(max_attempts):
            if not bad.size:
                break
            report.redrawn += int(bad.size)
            # rejection sampling: several fresh candidates per bad row, the first valid one kept
            # (a draw from the model's conditional restricted to valid rows)
            repeated = np.repeat(source_row[bad], CANDIDATES_PER_ATTEMPT)
            again, _ = generator._impute_matrix(matrix[repeated], mask[repeated], 1, rng)
            candidates = _fill(
                incomplete.iloc[repeated].reset_index(drop=True), again[0], generator
            )
            valid = _valid_rows(candidates, generator).reshape(bad.size, -1)
            picked = np.arange(bad.size) * CANDIDATES_PER_ATTEMPT + valid.argmax(axis=1)
            chosen = candidates.iloc[picked].reset_index(drop=True)
            filled = _put(filled, bad, chosen, names)  # typed once, at the end
            bad = bad[~valid.any(axis=1)]
        report.unresolved = int(bad.size)
        for copy in range(m):
            part = filled.iloc[copy * count : (copy + 1) * count].reset_index(drop=True)
            frames[copy] = _put(frames[copy], rows, part, names)
    if report.unresolved:
        warnings.warn(
            f"{report.unresolved} completed row(s) (over {m} copies) still break a bound or rule "
            f"after {max_attempts} redraws; the model finds those rules hard to meet from the "
            "observed values",
            JumeauWarning,
            stacklevel=3,
        )
    completed = [
        Cohort(
            frame,
            cohort.schema,
            source=f"{cohort.source} (completed {copy + 1}/{m} by {generator.name}, seed {seed})",
        )
        for copy, frame in enumerate(frames)
    ]
    return completed, report


def _fill(incomplete: pd.DataFrame, draw: np.ndarray, generator: Generator) -> pd.DataFrame:
    """`incomplete` with its missing cells taken from the decoded draw."""
    present = draw.copy()
    for block in generator.encoder_.categorical_blocks:
        if block.is_indicator:  # decode the number itself, not "missing"
            present[:, block.start] = 1.0
            present[:, block.start + 1] = 0.0
    decoded = generator.encoder_.inverse_transform(present, extrapolate=True)
    filled = incomplete.copy()
    derived = generator.schema_.derived_columns
    for name in incomplete.columns:
        holes = incomplete[name].isna().to_numpy()
        if holes.any() and name not in derived:
            column = filled[name].astype(object)
            column[holes] = decoded[name].astype(object).to_numpy()[holes]
            filled[name] = column
    for name in derived:
        # from the row's own source value, observed or drawn (the decoded draw's derived value
        # came from the draw's source, which replaces only a missing one); a derived value
        # observed with a missing source stays, and the validity check redraws the source
        # until the two agree
        holes = incomplete[name].isna().to_numpy()
        spec = generator.schema_.columns[name]
        if holes.any() and spec.derived is not None:
            column = filled[name].astype(object).to_numpy()
            column[holes] = derive(spec.derived, filled[spec.derived.source], spec)[holes]
            filled[name] = column
    return Cohort(filled, generator.schema_, source="completion", artificial=True).data


def _put(
    frame: pd.DataFrame, rows: np.ndarray, values: pd.DataFrame, names: list[str]
) -> pd.DataFrame:
    """`frame` with `values` written into `rows` of columns `names`, as objects: the final
    Cohort restores the types once."""
    result = frame.copy()
    for name in names:
        column = result[name].astype(object).to_numpy()
        column[rows] = values[name].astype(object).to_numpy()
        result[name] = column
    return result


def _valid_rows(
    frame: pd.DataFrame, generator: Generator, *, holes_allowed: bool = False
) -> np.ndarray:
    schema = generator.schema_
    if holes_allowed:
        columns = {
            name: column.model_copy(update={"missing_allowed": True})
            for name, column in schema.columns.items()
        }
        schema = schema.model_copy(update={"columns": columns})
    return Cohort.from_typed(frame, schema, source="completion").validate().valid_rows
