"""The encoding layer shared by every generator: mixed clinical columns <-> a numeric matrix.

- Numbers (continuous, integer, datetime as days) become *normal scores* through their empirical
  quantiles: a skewed lab value or a bounded score becomes a standard-normal coordinate, and the
  way back never leaves the observed range (so hard bounds hold by construction). Integers are
  rounded on the way back. A column with heavy ties (a Karnofsky score in steps of 10, calories
  recorded in steps of 25: at most half as many distinct values as observations) goes back through
  the step-shaped inverse CDF, so it keeps to the values such a column takes; a column of mostly
  distinct values is interpolated, so its artificial values are new ones — except at its *atoms*,
  values that many patients share (a floor at 0, a statutory rate of 0.5): their whole cdf jump
  goes back onto them, where interpolation would smear a quarter of the patients over a range.
- Categories (binary, categorical, ordinal) become one-hot blocks; missing is one more level.
- A number that can be missing gets a two-level block (present / missing) beside it, so artificial
  patients carry realistic missingness patterns; its own coordinate is then masked out of the
  likelihood wherever it was not observed.

Why not scikit-learn's QuantileTransformer: its fitted state can only be saved by pickling, which
jumeau never does; the few lines of `np.interp` below are stored as plain arrays in safetensors.
The quantile knots are per-column marginal summaries (at most `max_knots` per column), never rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from jumeau.data.cohort import Cohort
from jumeau.data.derivation import derive
from jumeau.data.schema import CATEGORY_KINDS, ColumnKind, Schema, category_key
from jumeau.dp.heaped import heaped_rounding
from jumeau.generators.summaries import (
    ColumnSummary,
    number_summary,
    shareable_number_summary,
)

MISSING_LEVEL = "__missing__"
_EPOCH = pd.Timestamp("1970-01-01")


@dataclass(frozen=True)
class NumericBlock:
    """One coordinate holding the normal score of a numeric column."""

    column: str
    kind: ColumnKind
    index: int
    indicator: int | None  # position (in `blocks`) of the present/missing block, if any


@dataclass(frozen=True)
class CategoricalBlock:
    """A one-hot group of coordinates: the levels of a category, or present/missing."""

    column: str
    start: int
    levels: tuple[Any, ...]  # the schema's categories (plus MISSING_LEVEL), or (False, True)
    is_indicator: bool  # True: levels mean (present, missing) of a numeric column

    @property
    def width(self) -> int:
        return len(self.levels)

    @property
    def stop(self) -> int:
        return self.start + self.width


Block = NumericBlock | CategoricalBlock


class TabularEncoder:
    """Fit on a cohort, then map frames to matrices (`transform`) and back (`inverse_transform`)."""

    def __init__(self, max_knots: int = 200, *, shareable: bool = False) -> None:
        self.max_knots = max_knots
        # knots that hold no value of fewer than 10 patients (see `shareable_number_summary`)
        self.shareable = shareable
        # decimals to round each number to on the way back, and a number's digit preference
        # (`jumeau.dp.heaped.heaped_rounding`): only a DP fit releases them
        self.decimals_: dict[str, int] = {}
        self.heaping_: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ fit
    def fit(self, cohort: Cohort) -> TabularEncoder:
        schema = modelled_schema(cohort.schema)
        summaries: dict[str, ColumnSummary] = {}
        for name in schema.names:
            column = schema.columns[name]
            if column.derived is not None:  # computed from its source at decoding
                continue
            values = cohort.data[name]
            if column.kind in CATEGORY_KINDS:
                summaries[name] = ColumnSummary(has_missing=bool(values.isna().any()))
                continue
            numbers = numeric_values(values, column.kind)
            observed = numbers[~np.isnan(numbers)]
            distinct, counts = np.unique(observed, return_counts=True)
            has_missing = bool(np.isnan(numbers).any())
            if self.shareable:
                summaries[name] = shareable_number_summary(
                    distinct,
                    counts,
                    self.max_knots,
                    has_missing=has_missing,
                    lowest=_number(column.min),
                    highest=_number(column.max),
                )
            else:
                summaries[name] = number_summary(
                    distinct, counts, self.max_knots, has_missing=has_missing
                )
        return self.fit_summaries(schema, summaries)

    def fit_summaries(self, schema: Schema, summaries: dict[str, ColumnSummary]) -> TabularEncoder:
        """Lay the encoding out from per-column summaries of the modelled columns of `schema`.
        `fit` summarises a cohort; federated training merges the sites' summaries, so that every
        site encodes its patients the same way without any of them leaving."""
        self.schema_ = schema
        self.blocks_: list[Block] = []
        self.knots_: dict[str, np.ndarray] = {}
        self.levels_: dict[str, np.ndarray] = {}  # cdf level of each knot
        self.edges_: dict[str, np.ndarray] = {}  # upper cdf edge of each value (tied columns)
        self.atoms_: dict[str, np.ndarray] = {}  # value, lower and upper cdf (point masses)
        width = 0
        for name in self.schema_.names:
            column = self.schema_.columns[name]
            if column.derived is not None:
                continue
            summary = summaries[name]
            if column.kind in CATEGORY_KINDS:
                levels = tuple(column.categories or ())
                if summary.has_missing:
                    levels = (*levels, MISSING_LEVEL)
                self.blocks_.append(CategoricalBlock(name, width, levels, is_indicator=False))
                width += len(levels)
                continue
            assert summary.knots is not None and summary.levels is not None
            self.knots_[name], self.levels_[name] = summary.knots, summary.levels
            if summary.edges is not None:
                self.edges_[name] = summary.edges
            if summary.atoms is not None:
                self.atoms_[name] = summary.atoms
            indicator = None
            if summary.has_missing:
                indicator = len(self.blocks_) + 1
            self.blocks_.append(NumericBlock(name, column.kind, width, indicator))
            width += 1
            if indicator is not None:
                self.blocks_.append(CategoricalBlock(name, width, (False, True), is_indicator=True))
                width += 2
        self.width_ = width
        return self

    # ------------------------------------------------------------------ layout helpers
    @property
    def numeric_blocks(self) -> list[NumericBlock]:
        return [b for b in self.blocks_ if isinstance(b, NumericBlock)]

    @property
    def categorical_blocks(self) -> list[CategoricalBlock]:
        return [b for b in self.blocks_ if isinstance(b, CategoricalBlock)]

    @property
    def numeric_index(self) -> np.ndarray:
        return np.array([b.index for b in self.numeric_blocks], dtype=np.int64)

    @property
    def missing_positions(self) -> np.ndarray:
        """Matrix positions that stand for "missing": a category's missing level and a number's
        missing flag. An imputed value may never land on one of them."""
        positions = []
        for block in self.categorical_blocks:
            if block.is_indicator:
                positions.append(block.start + 1)
            elif MISSING_LEVEL in block.levels:
                positions.append(block.start + block.levels.index(MISSING_LEVEL))
        return np.asarray(positions, dtype=np.int64)

    # ------------------------------------------------------------------ transform
    def transform(
        self, frame: pd.DataFrame, *, unseen_missing: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Matrix (n x width, float32) and its observed mask (0 where a number was missing).

        Missing numbers are encoded as 0 (the median's normal score) and masked out. A missing
        category in a column that had none at fit time is an error, unless `unseen_missing`
        (completion of new data): its block is then left all-zero, which the per-type likelihood
        reads as "not observed" (the block contributes nothing).
        """
        n = len(frame)
        matrix = np.zeros((n, self.width_), dtype=np.float32)
        mask = np.ones((n, self.width_), dtype=np.float32)
        for block in self.blocks_:
            if isinstance(block, NumericBlock):
                numbers = numeric_values(frame[block.column], block.kind)
                missing = np.isnan(numbers)
                scores = self.to_scores(block.column, numbers)
                matrix[:, block.index] = np.where(missing, 0.0, scores)
                mask[:, block.index] = ~missing
            elif block.is_indicator:
                missing = frame[block.column].isna().to_numpy()
                matrix[np.arange(n), block.start + missing.astype(int)] = 1.0
            else:
                codes = _level_codes(frame[block.column], block.levels, unseen_missing)
                seen = codes >= 0
                matrix[np.flatnonzero(seen), block.start + codes[seen]] = 1.0
        return matrix, mask

    def to_scores(self, column: str, numbers: np.ndarray) -> np.ndarray:
        """Normal scores of raw numbers through the column's empirical quantiles."""
        knots, levels = self.knots_[column], self.levels_[column]
        with np.errstate(invalid="ignore"):
            return ndtri(np.interp(numbers, knots, levels))

    def from_scores(
        self, column: str, scores: np.ndarray, *, extrapolate: bool = False
    ) -> np.ndarray:
        """Raw numbers back from normal scores. Within the observed range always; with
        `extrapolate` (completion), scores beyond the extreme knots continue along the slope of
        the outer tenth of the distribution — values missing because they were high (missing not
        completely at random) may then lie beyond the highest observed one, though never beyond
        the column's clinical bounds. Tied columns keep to the values they take."""
        knots, levels = self.knots_[column], self.levels_[column]
        if column in self.edges_:  # tied column: step inverse, onto the values it takes
            edges = self.edges_[column]
            position = np.searchsorted(edges, ndtr(scores), side="left")
            return knots[np.minimum(position, len(knots) - 1)]
        cdf = ndtr(scores)
        numbers = np.interp(cdf, levels, knots)
        if extrapolate and knots.size > 2:
            spec = self.schema_.columns[column]
            numbers = _extend_tails(
                numbers, scores, knots, levels, _number(spec.min), _number(spec.max)
            )
        if column in self.heaping_:
            numbers = heaped_rounding(numbers, cdf, self.heaping_[column])
        if column in self.atoms_:
            numbers = onto_atoms(numbers, cdf, self.atoms_[column])
        return numbers

    # ------------------------------------------------------------------ inverse
    def inverse_transform(self, matrix: np.ndarray, *, extrapolate: bool = False) -> pd.DataFrame:
        """A frame of the modelled columns from a matrix whose categorical blocks are one-hot
        (or probabilities: the largest wins — generators sample before calling this);
        `extrapolate`: see `from_scores`."""
        matrix = np.asarray(matrix, dtype=np.float64)
        columns: dict[str, Any] = {}
        missing_of: dict[str, np.ndarray] = {}
        for block in self.categorical_blocks:
            codes = matrix[:, block.start : block.stop].argmax(axis=1)
            if block.is_indicator:
                missing_of[block.column] = codes == 1
                continue
            values = np.array(block.levels, dtype=object)[codes]
            values[values == MISSING_LEVEL] = None
            columns[block.column] = values
        for number in self.numeric_blocks:
            numbers = self.from_scores(
                number.column, matrix[:, number.index], extrapolate=extrapolate
            )
            if number.column in missing_of:
                numbers = np.where(missing_of[number.column], np.nan, numbers)
            decimals = self.decimals_.get(number.column)
            if decimals is not None:  # a DP fit's released precision (see private_sketches)
                numbers = np.round(numbers, decimals)
            columns[number.column] = _from_numbers(numbers, number.kind)
        for name in self.schema_.derived_columns:
            column = self.schema_.columns[name]
            assert column.derived is not None
            columns[name] = derive(column.derived, columns[column.derived.source], column)
        return pd.DataFrame({name: columns[name] for name in self.schema_.names})

    # ------------------------------------------------------------------ persistence
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able description and arrays (knots), for safetensors + JSON model files."""
        meta = {
            "max_knots": self.max_knots,
            "shareable": self.shareable,
            "width": self.width_,
            "blocks": [_block_to_json(b) for b in self.blocks_],
            "decimals": self.decimals_,
        }
        arrays = {f"encoder.knots.{k}": v for k, v in self.knots_.items()}
        arrays |= {f"encoder.levels.{k}": v for k, v in self.levels_.items()}
        arrays |= {f"encoder.edges.{k}": v for k, v in self.edges_.items()}
        arrays |= {f"encoder.atoms.{k}": v for k, v in self.atoms_.items()}
        arrays |= {f"encoder.heaping.{k}": v for k, v in self.heaping_.items()}
        return meta, arrays

    @classmethod
    def from_state(
        cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], schema: Schema
    ) -> TabularEncoder:
        encoder = cls(max_knots=int(meta["max_knots"]), shareable=bool(meta.get("shareable")))
        encoder.schema_ = schema
        encoder.width_ = int(meta["width"])
        encoder.blocks_ = [_block_from_json(b) for b in meta["blocks"]]
        encoder.knots_ = {
            b.column: arrays[f"encoder.knots.{b.column}"] for b in encoder.numeric_blocks
        }
        encoder.levels_ = {
            b.column: arrays[f"encoder.levels.{b.column}"] for b in encoder.numeric_blocks
        }
        encoder.edges_ = {
            b.column: arrays[f"encoder.edges.{b.column}"]
            for b in encoder.numeric_blocks
            if f"encoder.edges.{b.column}" in arrays
        }
        encoder.decimals_ = {str(k): int(v) for k, v in meta.get("decimals", {}).items()}
        encoder.atoms_ = {  # files from before atoms have none: they sample as they did
            b.column: arrays[f"encoder.atoms.{b.column}"]
            for b in encoder.numeric_blocks
            if f"encoder.atoms.{b.column}" in arrays
        }
        encoder.heaping_ = {
            b.column: arrays[f"encoder.heaping.{b.column}"]
            for b in encoder.numeric_blocks
            if f"encoder.heaping.{b.column}" in arrays
        }
        return encoder


def modelled_schema(schema: Schema) -> Schema:
    """The schema of artificial patients: modelled columns only, and the rules they can check.

    Identifiers, free text and excluded columns never appear in an artificial cohort.
    """
    keep = set(schema.modelled_columns)
    from jumeau.data.rules import parse_rule

    rules = [r for r in schema.rules if set(parse_rule(r.expr, schema).columns) <= keep]
    columns = {name: schema.columns[name] for name in schema.modelled_columns}
    return Schema(
        name=schema.name,
        description=schema.description,
        source=schema.source,
        license=schema.license,
        columns=columns,
        rules=rules,
    )


def numeric_values(values: pd.Series, kind: ColumnKind) -> np.ndarray:
    """Numbers of a numeric or datetime column as float64 (NaN for missing)."""
    if kind is ColumnKind.DATETIME:
        days = (pd.to_datetime(values) - _EPOCH) / pd.Timedelta(days=1)
        return days.to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _from_numbers(numbers: np.ndarray, kind: ColumnKind) -> Any:
    if kind is ColumnKind.INTEGER:
        rounded = np.round(numbers)
        return pd.array(np.where(np.isnan(rounded), np.nan, rounded), dtype="Float64").astype(
            "Int64"
        )
    if kind is ColumnKind.DATETIME:  # keep the time of day: round to the second, not the day
        seconds = np.round(numbers * 86400.0)
        return _EPOCH + pd.to_timedelta(seconds, unit="s")
    return numbers


def onto_atoms(numbers: np.ndarray, cdf: np.ndarray, atoms: np.ndarray) -> np.ndarray:
    """`numbers` with each cdf level inside an atom's jump replaced by the atom's value."""
    values, lower, upper = atoms[:, 0], atoms[:, 1], atoms[:, 2]
    slot = np.clip(np.searchsorted(lower, cdf, side="right") - 1, 0, None)
    inside = (cdf >= lower[slot]) & (cdf < upper[slot])
    return np.where(inside, values[slot], numbers)


def _number(bound: object) -> float | None:
    return float(bound) if isinstance(bound, (int, float)) else None


def _extend_tails(
    numbers: np.ndarray,
    scores: np.ndarray,
    knots: np.ndarray,
    levels: np.ndarray,
    lowest: float | None,
    highest: float | None,
) -> np.ndarray:
    """Linear continuation beyond the extreme knots, in score units, with the slope of the
    outer tenth of the distribution at each end; it stops at the column's clinical bounds
    (`lowest`, `highest`) where they lie beyond the observed range."""
    knot_scores = ndtri(levels)
    result = numbers.copy()
    low = max(1, int(np.searchsorted(levels, levels[0] + 0.1)))
    high = min(len(levels) - 2, int(np.searchsorted(levels, levels[-1] - 0.1)) - 1)
    below, above = scores < knot_scores[0], scores > knot_scores[-1]
    if below.any():
        slope = (knots[low] - knots[0]) / (knot_scores[low] - knot_scores[0])
        result[below] = knots[0] + slope * (scores[below] - knot_scores[0])
        if lowest is not None and lowest <= knots[0]:
            result[below] = np.maximum(result[below], lowest)
    if above.any():
        slope = (knots[-1] - knots[high]) / (knot_scores[-1] - knot_scores[high])
        result[above] = knots[-1] + slope * (scores[above] - knot_scores[-1])
        if highest is not None and highest >= knots[-1]:
            result[above] = np.minimum(result[above], highest)
    return result


def _level_codes(
    values: pd.Series, levels: tuple[Any, ...], unseen_missing: bool = False
) -> np.ndarray:
    lookup = {category_key(level): i for i, level in enumerate(levels) if level != MISSING_LEVEL}
    missing_code = levels.index(MISSING_LEVEL) if MISSING_LEVEL in levels else -1
    codes = [
        lookup[category_key(v)] if pd.notna(v) else missing_code
        for v in values.astype(object).tolist()
    ]
    result = np.asarray(codes, dtype=np.int64)
    if (result < 0).any() and not unseen_missing:
        raise ValueError("missing value in a column that had none when the encoder was fitted")
    return result


def _block_to_json(block: Block) -> dict[str, Any]:
    if isinstance(block, NumericBlock):
        return {
            "type": "numeric",
            "column": block.column,
            "kind": block.kind.value,
            "index": block.index,
            "indicator": block.indicator,
        }
    return {
        "type": "categorical",
        "column": block.column,
        "start": block.start,
        "levels": list(block.levels),
        "is_indicator": block.is_indicator,
    }


def _block_from_json(data: dict[str, Any]) -> Block:
    if data["type"] == "numeric":
        return NumericBlock(
            data["column"], ColumnKind(data["kind"]), int(data["index"]), data["indicator"]
        )
    return CategoricalBlock(
        data["column"], int(data["start"]), tuple(data["levels"]), bool(data["is_indicator"])
    )
