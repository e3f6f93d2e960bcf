"""Inequalities between columns that no row breaks: a recurrence before death, a start before a
stop, a diagnosis date before the last visit, follow-up that ends by the study's closing date.

Such an order is a clinical rule (`rtime <= dtime`) that a generator, which learns a correlation
and not an inequality, breaks for a share of its patients; each of them is a giveaway (on the
Rotterdam breast-cancer cohort, a recurrence after death). Inference proposes the rule only when
no row breaks it and independence would break it often: were the two columns independent, a
pair drawn from their margins would break it with probability `q` (at least `MIN_BREAK_SHARE`,
so that `age <= weight` is not proposed), and n rows holding it by chance, (1 − q)^n, must fall
below `ORDER_LEVEL` divided by the number of pairs examined (Bonferroni). Rules implied by two
others (a ≤ b ≤ c gives a ≤ c) are left out. Generators then reject and redraw patients who
break a rule, like any rule the user writes.

Follow-up bounded by a closing date (administrative censoring) is the same idea on a line: a
patient included later is followed for less time, `time + k * entry <= c`, and a model that
learns a correlation gives late entrants long follow-up (on SurvSet's `dataDIVAT3` the year of
transplant against the follow-up alone made the copula's patients easy to detect). For the
time-to-event column and each other number, k is the slope of the upper envelope (the longest
follow-up per tenth of the other column), c the largest `time + k * entry`; the bound is proposed
when independence would break it often (as above), and when at least `MIN_ON_BOUND` of the
patients lie within `BOUND_BAND` of the time's range below it — those followed until the
closing date. A survival time that merely shortens with age has no such crowd on its envelope.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pandas as pd

from jumeau.data.parsing import clean_text, numbers_of, parse_dates
from jumeau.data.schema import NUMERIC_KINDS, Column, ColumnKind, Role, Rule

ORDER_LEVEL = 1e-6  # family-wise chance of proposing one order that is not there
MIN_BREAK_SHARE = 0.1  # independent margins must break the order at least this often
MIN_PAIRS = 20  # rows where both are present
ENVELOPE_BINS = 10  # tenths of the entry column, each giving its longest follow-up
MIN_ON_BOUND = 0.05  # share of patients followed until the closing date ...
BOUND_BAND = 0.05  # ... that is, within this share of the time's range below the bound


def find_order_rules(frame: pd.DataFrame, columns: dict[str, Column]) -> list[Rule]:
    """`a <= b` rules the data support beyond chance (see module docstring)."""
    groups: dict[str, dict[str, np.ndarray]] = {"number": {}, "date": {}}
    for name, column in columns.items():
        if not column.modelled:
            continue
        if column.kind in NUMERIC_KINDS:
            groups["number"][name] = numbers_of(frame[name])
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


def find_follow_up_bound(frame: pd.DataFrame, columns: dict[str, Column]) -> list[Rule]:
    """At most one `time + k * entry <= c` rule for the time-to-event column (module docstring):
    the entry column whose bound independence would break most often."""
    times = [n for n, c in columns.items() if c.role is Role.TIME and c.modelled]
    if not times:
        return []
    time = times[0]
    follow_up = numbers_of(frame[time])
    others = [n for n, c in columns.items() if n != time and c.modelled and c.kind in NUMERIC_KINDS]
    log_level = math.log(ORDER_LEVEL / max(1, len(others)))
    best: tuple[float, str, float, float] | None = None
    for name in others:
        entry = numbers_of(frame[name])
        found = _bound(follow_up, entry, log_level)
        if found is not None and (best is None or found[0] > best[0]):
            best = (found[0], name, found[1], found[2])
    if best is None:
        return []
    share, entry_name, slope, closing = best
    return [
        Rule(
            expr=f"{_reference(time)} + {slope:.4g} * {_reference(entry_name)} <= {closing:.10g}",
            description="inferred: follow-up ends by a common closing date (no row breaks it, "
            f"many lie on it, and independent columns would break it {share:.0%} of the time)",
        )
    ]


def _bound(
    time: np.ndarray, entry: np.ndarray, log_level: float
) -> tuple[float, float, float] | None:
    """(q, k, c) of a supported `time + k * entry <= c`, or None."""
    both = ~(np.isnan(time) | np.isnan(entry))
    t, x = time[both], entry[both]
    if t.size < MIN_PAIRS or np.unique(x).size < 3 or np.ptp(t) == 0:
        return None
    edges = np.unique(np.quantile(x, np.linspace(0, 1, ENVELOPE_BINS + 1)))
    tenth = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
    envelope = pd.DataFrame({"t": t, "x": x, "bin": tenth}).groupby("bin")
    longest, middle = envelope["t"].max().to_numpy(), envelope["x"].median().to_numpy()
    if longest.size < 3:
        return None
    slope = -float(np.polyfit(middle, longest, 1)[0])
    if not slope > 0:
        return None
    slope = float(f"{slope:.4g}")  # the rule as written; c from it, so that no row breaks it
    highest = float(np.max(t + slope * x))
    # written with 10 digits (relative error ≤ 5e-11): a margin of 1e-9 keeps every row within
    closing = float(f"{highest + 1e-9 * (abs(highest) + 1.0):.10g}")
    if np.mean(closing - (t + slope * x) <= BOUND_BAND * np.ptp(t)) < MIN_ON_BOUND:
        return None
    # P(T + kX > c) for T and X drawn independently: every pairing of the two margins
    shifted = np.sort(slope * x)
    share = float(np.mean(t.size - np.searchsorted(shifted, closing - t, side="right")) / t.size)
    if share < MIN_BREAK_SHARE or t.size * math.log1p(-share) > log_level:
        return None
    return share, slope, closing


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
