"""Derived columns: finding them in data, computing them, checking them.

Clinical exports often hold a column and a coarser copy of it: the age and the age group, a
drive's model and its brand, a diagnosis code and its chapter, a label and its numeric code. A
generator that models both learns the relation only approximately, and every artificial patient
in the wrong age group for their age gives the whole cohort away (on SurvSet's `zinc` and
`rdata`, the age group alone made the copula's patients easy to detect). Declared in the data
dictionary (`derived:`), such a column is computed from its source instead of being modelled.

Inference proposes a derivation only when the data could hardly show it by chance: the chance,
were the two columns independent, that every group of the source holds a single value of the
candidate (or that the candidate's levels occupy disjoint ranges of a numeric source) must fall
below `DERIVATION_LEVEL` divided by the number of pairs examined (Bonferroni).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import gammaln, logsumexp

from jumeau.data.parsing import clean_text, numbers_of
from jumeau.data.schema import (
    CATEGORY_KINDS,
    NUMERIC_KINDS,
    Category,
    Column,
    Derivation,
    Role,
    category_key,
)

DERIVATION_LEVEL = 1e-6  # family-wise chance of proposing one derivation that is not there


def derive(
    derivation: Derivation, source_values: pd.Series | np.ndarray, target: Column
) -> np.ndarray:
    """The derived column's values (objects: its categories, None where missing)."""
    by_key = _categories_by_key(target)
    series = pd.Series(np.asarray(source_values, dtype=object))
    result = np.full(len(series), None, dtype=object)
    present = series.notna().to_numpy()
    if derivation.map is not None:
        codes, uniques = pd.factorize(series[present])
        table = np.array(
            [by_key.get(category_key(derivation.map.get(category_key(u)))) for u in uniques]
            + [None],
            dtype=object,
        )
        result[present] = table[codes]
        return result
    numbers = pd.to_numeric(series[present]).to_numpy(dtype=float)
    levels = np.array([by_key[category_key(v)] for v in derivation.levels or ()], dtype=object)
    result[present] = levels[np.searchsorted(np.asarray(derivation.cuts), numbers, side="right")]
    return result


def contradictions(
    derivation: Derivation, source_values: pd.Series, target_values: pd.Series, target: Column
) -> np.ndarray:
    """Rows where both are present and the value differs from what the source gives. A value
    known while its source is not (a recorded age group, an unrecorded age) breaks nothing: it
    is what completion fills in, and its source is then drawn to agree with it."""
    expected = pd.Series(derive(derivation, source_values, target)).map(_key)
    actual = pd.Series(np.asarray(target_values, dtype=object)).map(_key)
    return (expected.notna() & actual.notna() & (expected != actual)).to_numpy()


def find_derivations(frame: pd.DataFrame, columns: dict[str, Column]) -> dict[str, Derivation]:
    """Derivations the data supports beyond chance (see module docstring), one per derived
    column, each from a column that is not derived itself."""
    keys = {
        name: _canonical(frame[name])
        for name, column in columns.items()
        if column.modelled and column.kind in CATEGORY_KINDS
    }
    numbers = {
        name: numbers_of(frame[name])
        for name, column in columns.items()
        if column.modelled and column.kind in NUMERIC_KINDS
    }
    # the event indicator stays modelled: where every censoring falls at one horizon it is a
    # function of the time, but the outcome of the analysis keeps its own dependence on
    # treatment and covariates that way (deriving it made the copula's patients easier to
    # detect on SurvSet's pharmacoSmoking and cost, 3 seeds each)
    targets = [
        name
        for name, key in keys.items()
        if key.nunique() >= 2 and columns[name].role is not Role.EVENT
    ]
    sources = list(keys) + list(numbers)
    n_pairs = max(1, len(targets) * (len(sources) - 1))
    log_level = math.log(DERIVATION_LEVEL / n_pairs)
    found: dict[tuple[str, str], Derivation] = {}
    for target in targets:
        for source in sources:
            if source == target:
                continue
            if source in keys:
                derivation = _category_map(keys[source], keys[target], log_level, source)
            else:
                derivation = _bands(numbers[source], keys[target], log_level, source)
            if derivation is not None:
                found[(source, target)] = derivation
    order = {name: position for position, name in enumerate(columns)}

    def dominated(name: str) -> bool:  # determined by another column (the earlier of two twins)
        return any(
            t == name and ((name, s) not in found or order[s] < order[name]) for s, t in found
        )

    derived = {name for name in targets if dominated(name)}
    result: dict[str, Derivation] = {}
    for target in targets:
        if target not in derived:
            continue
        roots = [s for s, t in found if t == target and s not in derived]
        if not roots:
            continue
        # the coarsest categorical source reads most naturally (brand from model, not from
        # serial number); a numeric source otherwise
        source = min(roots, key=lambda s: (s not in keys, keys[s].nunique() if s in keys else 0,
                                           order[s]))  # fmt: skip
        result[target] = _typed(found[(source, target)], columns[target])
    return result


# ---------------------------------------------------------------------- tests of determination
def _category_map(
    source: pd.Series, target: pd.Series, log_level: float, name: str
) -> Derivation | None:
    """The map, when every source category holds one target value (missing with missing)."""
    if not _missing_together(source, target):
        return None
    present = source.notna()
    pairs = pd.DataFrame({"s": source[present], "t": target[present]})
    per_source = pairs.groupby("s", sort=False)["t"]
    if (per_source.nunique() > 1).any():
        return None
    shares = pairs["t"].value_counts(normalize=True).to_numpy()
    sizes = per_source.size().to_numpy()
    # P(every source group holds one value | independence) = Π_groups Σ_values share^size
    log_chance = float(logsumexp(sizes[:, None] * np.log(shares)[None, :], axis=1).sum())
    if log_chance > log_level:
        return None
    return Derivation(source=name, map=dict(per_source.first().items()))


def _bands(
    numbers: np.ndarray, target: pd.Series, log_level: float, name: str
) -> Derivation | None:
    """Cuts, when the target's levels occupy disjoint ranges of the numeric source."""
    if not _missing_together(pd.Series(numbers), target):
        return None
    present = ~np.isnan(numbers)
    values, labels = numbers[present], target.to_numpy(dtype=object)[present]
    frame = pd.DataFrame({"x": values, "t": labels})
    ranges = frame.groupby("t", sort=False)["x"].agg(["min", "max", "size"]).sort_values("min")
    lows, highs = ranges["min"].to_numpy(), ranges["max"].to_numpy()
    if not np.all(highs[:-1] < lows[1:]):
        return None
    # P(disjoint ranges | labels shuffled) ≤ k! Π n_t! / n!  (ties only lower it)
    sizes = ranges["size"].to_numpy(dtype=float)
    log_chance = float(
        gammaln(len(sizes) + 1) + gammaln(sizes + 1).sum() - gammaln(sizes.sum() + 1)
    )
    if log_chance > log_level:
        return None
    cuts = [float(c) for c in (highs[:-1] + lows[1:]) / 2]
    return Derivation(source=name, cuts=cuts, levels=list(ranges.index))


def _missing_together(source: pd.Series, target: pd.Series) -> bool:
    return bool(
        (source.isna().to_numpy() == target.isna().to_numpy()).all() and source.notna().any()
    )


def _canonical(values: pd.Series) -> pd.Series:
    """Canonical text of each value ("1" for 1, 1.0 and " 1"), NaN where missing."""
    cleaned = clean_text(values).reset_index(drop=True)
    return cleaned.map(_key)


def _key(value: object) -> str | None:
    return None if pd.isna(value) else category_key(value)


def _categories_by_key(column: Column) -> dict[str, Category]:
    return {category_key(c): c for c in column.categories or []}


def _typed(derivation: Derivation, target: Column) -> Derivation:
    """The derivation with the target's own category values (canonical text found them)."""
    by_key = _categories_by_key(target)
    if derivation.map is not None:
        return derivation.model_copy(
            update={"map": {k: by_key[category_key(v)] for k, v in derivation.map.items()}}
        )
    return derivation.model_copy(
        update={"levels": [by_key[category_key(v)] for v in derivation.levels or ()]}
    )
