"""k-anonymity of the quasi-identifiers: does the artificial cohort reproduce the rare
combinations of age, sex, place or dates that single real patients out?

A disclosure reviewer groups patients by their quasi-identifiers, generalised as a release would
be (ages in 5-year bands, dates by year, other numbers in training quintiles) and looks at the
small groups: fewer than k patients (k = 5, the small-cell rule of health statistics offices)
share that combination, so whoever knows it nearly knows who. Artificial patients are nobody,
but one that lands in such a small real group points at the few real people in it. The measure
is the share of artificial patients whose combination is held by 1 to k − 1 training patients,
beside the same share among real outsiders (holdout patients): an independent real sample lands
in small groups too. It is context for a data-protection officer, not a test of the model: a
copy of the training patients lands in small groups exactly as often as they do, and a smooth
model lands there more often than outsiders by filling rare combinations (a copula on diabetes:
62 % vs 50 %). Copies and leaks are judged by the attacks and the distances.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact

from jumeau.data.cohort import Cohort
from jumeau.data.schema import CATEGORY_KINDS, ColumnKind
from jumeau.generators.encoding import numeric_values

SMALL_GROUP_K = 5
AGE_BAND_YEARS = 5
_AGE = re.compile(r"(^|_)age(_|$)", re.IGNORECASE)


@dataclass(frozen=True)
class QuasiIdentifierRarity:
    """How often artificial patients, and real outsiders, fall in a small real group."""

    quasi_identifiers: list[str]
    k: int
    artificial_in_small_groups: int
    n_artificial: int
    outsiders_in_small_groups: int
    n_outsiders: int
    training_in_small_groups: float  # share of training patients in groups under k
    excess_p_value: float  # one-sided Fisher exact: artificial above outsiders

    @property
    def artificial_share(self) -> float:
        return self.artificial_in_small_groups / self.n_artificial if self.n_artificial else 0.0

    @property
    def outsider_share(self) -> float:
        return self.outsiders_in_small_groups / self.n_outsiders if self.n_outsiders else 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self) | {
            "artificial_share": self.artificial_share,
            "outsider_share": self.outsider_share,
        }


def quasi_identifier_rarity(
    train: Cohort,
    holdout: Cohort,
    artificial: Cohort,
    quasi_identifiers: Sequence[str],
    *,
    k: int = SMALL_GROUP_K,
) -> QuasiIdentifierRarity | None:
    """The small-group shares over `quasi_identifiers` (None when there are none)."""
    columns = [c for c in quasi_identifiers if c in artificial.data.columns]
    if not columns:
        return None
    keys = {
        name: _generalised(cohort, columns, train)
        for name, cohort in (("train", train), ("holdout", holdout), ("artificial", artificial))
    }
    groups = Counter(keys["train"])
    small = {key for key, count in groups.items() if count < k}

    def in_small(rows: list[tuple]) -> int:
        return sum(key in small for key in rows)

    art, out = in_small(keys["artificial"]), in_small(keys["holdout"])
    n_art, n_out = len(keys["artificial"]), len(keys["holdout"])
    table = [[art, n_art - art], [out, n_out - out]]
    p_value = float(fisher_exact(table, alternative="greater").pvalue) if n_out and n_art else 1.0
    return QuasiIdentifierRarity(
        quasi_identifiers=columns,
        k=k,
        artificial_in_small_groups=art,
        n_artificial=n_art,
        outsiders_in_small_groups=out,
        n_outsiders=n_out,
        training_in_small_groups=in_small(keys["train"]) / len(train) if len(train) else 0.0,
        excess_p_value=p_value,
    )


def _generalised(cohort: Cohort, columns: list[str], train: Cohort) -> list[tuple]:
    """Each patient's quasi-identifiers as a release would show them."""
    parts = []
    for name in columns:
        column = train.schema.columns[name]
        values = cohort.data[name]
        if column.kind in CATEGORY_KINDS:
            parts.append(values.astype(object).map(lambda v: None if pd.isna(v) else str(v)))
            continue
        numbers = numeric_values(values, column.kind)
        if column.kind == ColumnKind.DATETIME:  # days since 1970 → calendar year
            bands = np.floor(1970 + numbers / 365.25)
        elif _AGE.search(name):
            bands = np.floor(numbers / AGE_BAND_YEARS) * AGE_BAND_YEARS
        else:
            reference = numeric_values(train.data[name], column.kind)
            edges = np.nanquantile(reference, [0.2, 0.4, 0.6, 0.8]) if len(reference) else []
            bands = np.where(np.isnan(numbers), np.nan, np.searchsorted(edges, numbers))
        parts.append(pd.Series(bands).map(lambda v: None if pd.isna(v) else float(v)))
    return list(zip(*(list(p) for p in parts), strict=True))
