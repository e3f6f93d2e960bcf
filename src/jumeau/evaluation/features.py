"""Cohorts as plain numeric features for classifiers and distances (shared by the metrics)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from jumeau.data.cohort import Cohort
from jumeau.data.schema import CATEGORY_KINDS, Schema
from jumeau.generators.encoding import numeric_values


def shared_columns(real: Cohort, other: Cohort) -> list[str]:
    """Modelled columns present in both cohorts, in the real schema's order."""
    return [c for c in real.schema.modelled_columns if c in other.data.columns]


def category_codes(values: pd.Series, categories: list) -> np.ndarray:
    """Integer codes in schema order; -1 for missing."""
    series = values.astype(object)
    lookup = {str(c): i for i, c in enumerate(categories)}
    return np.array(
        [lookup.get(str(v), -1) if pd.notna(v) else -1 for v in series.tolist()], dtype=np.int64
    )


def feature_matrix(frame: pd.DataFrame, schema: Schema, columns: list[str]) -> np.ndarray:
    """Numbers as numbers (NaN kept), categories as integer codes (NaN for missing)."""
    features = []
    for name in columns:
        column = schema.columns[name]
        if column.kind in CATEGORY_KINDS:
            codes = category_codes(frame[name], list(column.categories or [])).astype(float)
            features.append(np.where(codes < 0, np.nan, codes))
        else:
            features.append(numeric_values(frame[name], column.kind))
    return np.column_stack(features) if features else np.zeros((len(frame), 0))


def one_thread() -> threadpool_limits:
    """Run scikit-learn's gradient boosting on one OpenMP thread. Its OpenMP workers spin while
    waiting: on a machine whose cores are busy with other work, two of them fighting over two
    cores made one detection fit take minutes instead of half a second. Small cohorts gain
    little from threads anyway."""
    return threadpool_limits(limits=1, user_api="openmp")
