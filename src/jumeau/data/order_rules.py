"""Order between two columns that no row breaks: a recurrence before death, a start before a
stop, a diagnosis date before the last visit.

Such an order is a clinical rule (`rtime <= dtime`) that a generator, which learns a correlation
and not an inequality, breaks for a share of its patients; each of them is a giveaway (on the
Rotterdam breast-cancer cohort, a recurrence after death). Inference proposes the rule only when
no row breaks it and independence would break it often: were the two columns independent, a
pair drawn from their margins would break it with probability `q` (at least `MIN_BREAK_SHARE`,
so that `age <= weight` is not proposed), and n rows holding it by chance, (1 − q)^n, must fall
below `ORDER_LEVEL` divided by the number of pairs examined (Bonferroni). Rules implied by two
others (a ≤ b ≤ c gives a ≤ c) are left out. Generators then reject and redraw patients who
break a rule, like any rule the user writes.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pandas as pd

from jumeau.data.parsing import clean_text, parse_dates, parse_numbers
from jumeau.data.schema import NUMERIC_KINDS, Column, ColumnKind, Rule

ORDER_LEVEL = 1e-6  # family-wise chance of proposing one order that is not there
MIN_BREAK_SHARE = 0.1  # independent margins must break the order at least this often
MIN_PAIRS = 20  # rows where both are present


def find_order_rules(frame: pd.DataFrame, columns: dict[str, Column]) -> list[Rule]:
    """`a <= b` rules the data support beyond chance (see module docstring)."""
    groups: dict[str, dict[str, np.ndarray]] = {"number": {}, "date": {}}
    for name, column in columns.items():
        if not column.modelled:
            continue
        if column.kind in NUMERIC_KINDS:
            groups["number"][name] = parse_numbers(clean_text(frame[name]))[0].to_numpy(float)
        elif column.kind is ColumnKind.DATETIME:
            groups["date"][name] = _days(frame[name], column)
    n_pairs = max(1, sum(len(g) * (len(g) - 1) for g in groups.values()))
    log_level = math.log(ORDER_LEVEL / n_pairs)
    ordered: list[tuple[str, str, float]] = []
    for values in groups.values():
        for low, high in itertools.permutations(values, 2):
            share = _break_share(values[low], values[high], log_level)
            if share is not None:
                ordered.append((low, high, share))
    pairs = {(low, high) for low, high, _ in ordered}
    implied = {
        (a, c) for a, b in pairs for b2, c in pairs if b == b2 and a != c and (a, c) in pairs
    }
    return [
        Rule(
            expr=f"{_reference(low)} <= {_reference(high)}",
            description=f"inferred: no row breaks it, while independent columns would break it "
            f"{share:.0%} of the time",
        )
        for low, high, share in ordered
        if (low, high) not in implied
    ]


def _break_share(low: np.ndarray, high: np.ndarray, log_level: float) -> float | None:
    """q when `low <= high` holds in every row and could not by chance; None otherwise."""
    both = ~(np.isnan(low) | np.isnan(high))
    n = int(both.sum())
    if n < MIN_PAIRS:
        return None
    x, y = low[both], high[both]
    if np.any(x > y) or np.all(x == y):  # broken, or the same column twice
        return None
    # P(X > Y) for X, Y drawn independently from the two margins
    share = float(np.mean(np.searchsorted(np.sort(y), x, side="left")) / n)
    if share < MIN_BREAK_SHARE or n * math.log1p(-share) > log_level:
        return None
    return share


def _reference(name: str) -> str:
    """The column as the rule language reads it (backquoted unless a plain name)."""
    plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name) and name.lower() not in _WORDS
    return name if plain else f"`{name}`"


_WORDS = {"and", "or", "not", "in", "is", "missing", "present", "true", "false"}


def _days(values: pd.Series, column: Column) -> np.ndarray:
    typed = pd.api.types.is_datetime64_any_dtype(values.dtype)
    dates = parse_dates(values if typed else clean_text(values), column.format)[0]
    return ((dates - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)).to_numpy(float)
