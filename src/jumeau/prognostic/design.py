"""From patients to the numbers a score model reads, with a layout fixed at fit time.

The layout (which columns, which category levels, the medians and scales) is learned on the
training cohort and stored in the score file as JSON, so the hospital's validation patients are
encoded exactly as the training ones were, whatever levels happen to occur in either cohort.
Categories become 0/1 columns for every level but the first (the reference); the gradient
boosting model keeps missing values as NaN (it routes them itself), the linear reference models
see the training medians of every column (for a category's 0/1 columns, its most common level).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from jumeau.data.schema import CATEGORY_KINDS, ColumnKind, Schema
from jumeau.evaluation.features import category_codes
from jumeau.generators.encoding import numeric_values


@dataclass
class Design:
    """The encoding of the chosen variables (see module docstring)."""

    variables: list[str]
    kinds: dict[str, str]
    levels: dict[str, list[str]] = field(default_factory=dict)  # categories, schema order
    medians: list[float] = field(default_factory=list)  # per feature column
    means: list[float] = field(default_factory=list)
    scales: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, frame: pd.DataFrame, schema: Schema, variables: list[str]) -> Design:
        kinds = {v: schema.columns[v].kind.value for v in variables}
        levels = {
            v: [str(c) for c in schema.columns[v].categories or []]
            for v in variables
            if schema.columns[v].kind in CATEGORY_KINDS
        }
        design = cls(list(variables), kinds, levels)
        raw = design.matrix(frame)
        with np.errstate(all="ignore"):
            medians = np.nan_to_num(np.nanmedian(raw, axis=0)) if len(raw) else np.zeros(0)
        filled = np.where(np.isnan(raw), medians, raw)
        design.medians = medians.tolist()
        design.means = filled.mean(0).tolist() if len(raw) else [0.0] * raw.shape[1]
        spread = filled.std(0) if len(raw) else np.ones(raw.shape[1])
        design.scales = np.where(spread > 0, spread, 1.0).tolist()  # a constant column stays 0
        return design

    @property
    def feature_names(self) -> list[str]:
        names = []
        for variable in self.variables:
            if variable in self.levels:
                names += [f"{variable}={level}" for level in self.levels[variable][1:]]
            else:
                names.append(variable)
        return names

    @property
    def feature_variables(self) -> list[str]:
        """The variable each feature column comes from."""
        owners = []
        for variable in self.variables:
            width = len(self.levels[variable]) - 1 if variable in self.levels else 1
            owners += [variable] * width
        return owners

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Features with missing values as NaN (a missing category: NaN in all its columns)."""
        parts: list[np.ndarray] = []
        for variable in self.variables:
            if variable in self.levels:
                codes = category_codes(frame[variable], self.levels[variable])
                for index in range(1, len(self.levels[variable])):
                    parts.append(np.where(codes < 0, np.nan, (codes == index).astype(float)))
            else:
                parts.append(numeric_values(frame[variable], ColumnKind(self.kinds[variable])))
        return np.column_stack(parts) if parts else np.zeros((len(frame), 0))

    def standardised(self, frame: pd.DataFrame) -> np.ndarray:
        return self.standardise(self.matrix(frame))

    def standardise(self, features: np.ndarray) -> np.ndarray:
        """Missing values filled with the training medians, then centred and scaled (for the
        linear models)."""
        filled = np.where(np.isnan(features), np.asarray(self.medians), features)
        return (filled - np.asarray(self.means)) / np.asarray(self.scales)

    def to_dict(self) -> dict[str, Any]:
        return {
            "variables": self.variables,
            "kinds": self.kinds,
            "levels": self.levels,
            "medians": self.medians,
            "means": self.means,
            "scales": self.scales,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Design:
        return cls(**values)
