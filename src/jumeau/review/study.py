"""Creating a blinded review study: which records, in which order, shown how.

The record set is drawn with the study seed: `real_share` of the records from the real (holdout)
patients, the rest from the artificial cohort, each part stratified on the outcome when the
schema has a categorical one (so that "has the event" cannot tell the sources apart). Values are
formatted the same way whatever their source — numbers to the precision the real data use,
categories as their level, missing values as missing — because a different number of decimals
would give the artificial records away.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jumeau.data.cohort import Cohort
from jumeau.data.schema import CATEGORY_KINDS, ColumnKind, Role, Schema
from jumeau.errors import JumeauError
from jumeau.review.store import (
    Assignment,
    Record,
    Reviewer,
    Study,
    StudyStore,
    new_token,
    now,
    token_hash,
)

MAX_RECORDS = 2000
MAX_REVIEWERS = 100
MAX_DECIMALS = 3
OTHER_GROUP = "other"


@dataclass(frozen=True)
class StudyCreated:
    database: str
    reviewer_tokens: dict[str, str]
    admin_token: str
    records: int

    def links(self, base_url: str) -> dict[str, str]:
        base = base_url.rstrip("/")
        return {name: f"{base}/login/{token}" for name, token in self.reviewer_tokens.items()}

    def admin_link(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/admin/login/{self.admin_token}"


def create_study(
    real: Cohort,
    artificial: Cohort,
    target: str | Path,
    *,
    reviewers: list[str],
    records: int = 100,
    real_share: float = 0.5,
    seed: int = 0,
    name: str = "review study",
    allow_changes: bool = False,
) -> StudyCreated:
    """Draw, shuffle and store a study in a new database (`target`: SQLite path or URL)."""
    names = [r.strip() for r in reviewers]
    if not names or any(not r for r in names) or len(set(names)) != len(names):
        raise JumeauError("give one or more reviewer names, each different and not empty")
    if len(names) > MAX_REVIEWERS:
        raise JumeauError(f"at most {MAX_REVIEWERS} reviewers per study")
    if not 0 < real_share < 1:
        raise JumeauError(f"the real share must be between 0 and 1, not {real_share}")
    if not 2 <= records <= MAX_RECORDS:
        raise JumeauError(f"a study shows between 2 and {MAX_RECORDS} records, not {records}")
    n_real = round(records * real_share)
    n_artificial = records - n_real
    for cohort, wanted, what in ((real, n_real, "real"), (artificial, n_artificial, "artificial")):
        if len(cohort) < wanted:
            raise JumeauError(
                f"{wanted} {what} records are needed and the {what} cohort has {len(cohort)}"
            )
    schema = real.schema
    columns = [c for c in schema.modelled_columns if c in artificial.data.columns]
    if not columns:
        raise JumeauError("the real and artificial cohorts share no modelled column")
    rng = np.random.default_rng(seed)
    strata = _stratum_column(schema, columns)
    chosen_real = _stratified(real.data, strata, n_real, rng)
    chosen_artificial = _stratified(artificial.data, strata, n_artificial, rng)
    decimals = {c: _decimals(real.data[c]) for c in columns if _is_number(schema, c)}
    rows = [("real", row) for _, row in real.data.iloc[chosen_real][columns].iterrows()]
    rows += [
        ("artificial", row)
        for _, row in artificial.data.iloc[chosen_artificial][columns].iterrows()
    ]
    store = StudyStore(target)
    store.create_tables()
    admin = new_token()
    tokens = {reviewer: new_token() for reviewer in names}
    with store.session() as session:
        if session.query(Study).count():
            raise JumeauError(f"{target} already holds a study; choose a new file")
        session.add(
            Study(
                name=name,
                created=now(),
                seed=seed,
                settings={
                    "schema": schema.model_dump(mode="json"),
                    "columns": columns,
                    "groups": _groups(schema, columns),
                    "allow_changes": allow_changes,
                    "real_share": real_share,
                },
                admin_token_hash=token_hash(admin),
                secret=secrets.token_hex(32),
                closed=False,
            )
        )
        # random insertion order and random ids: neither says which records are real
        order = rng.permutation(len(rows))
        ids = []
        for index in order:
            truth, row = rows[index]
            record_id = secrets.token_hex(8)
            ids.append(record_id)
            payload = {c: _display(schema, c, row[c], decimals.get(c)) for c in columns}
            session.add(Record(id=record_id, payload=payload, truth=truth))
        session.flush()
        for reviewer_name, token in tokens.items():
            reviewer = Reviewer(name=reviewer_name, token_hash=token_hash(token))
            session.add(reviewer)
            session.flush()
            for position, index in enumerate(rng.permutation(len(ids))):
                session.add(
                    Assignment(reviewer_id=reviewer.id, record_id=ids[index], position=position)
                )
    return StudyCreated(str(target), tokens, admin, len(rows))


def _stratum_column(schema: Schema, columns: list[str]) -> str | None:
    for role in (Role.TARGET, Role.EVENT):
        for name in schema.columns_with_role(role):
            if name in columns and schema.columns[name].kind in CATEGORY_KINDS:
                return name
    return None


def _stratified(
    frame: pd.DataFrame, column: str | None, k: int, rng: np.random.Generator
) -> list[int]:
    """k row positions, each level of `column` represented in proportion (largest remainders)."""
    if k == 0:
        return []
    if column is None:
        return sorted(rng.choice(len(frame), k, replace=False).tolist())
    levels = frame[column].astype(str).fillna("").to_numpy()
    values, counts = np.unique(levels, return_counts=True)
    quotas = counts / counts.sum() * k
    taken = np.floor(quotas).astype(int)
    for index in np.argsort(-(quotas - taken), kind="stable")[: k - taken.sum()]:
        taken[index] += 1
    rows: list[int] = []
    for value, count in zip(values, np.minimum(taken, counts), strict=True):
        pool = np.flatnonzero(levels == value)
        rows += rng.choice(pool, count, replace=False).tolist()
    if len(rows) < k:  # a level too small for its quota: fill from the others
        rest = np.setdiff1d(np.arange(len(frame)), rows)
        rows += rng.choice(rest, k - len(rows), replace=False).tolist()
    return sorted(rows)


def _is_number(schema: Schema, column: str) -> bool:
    return schema.columns[column].kind in (ColumnKind.CONTINUOUS, ColumnKind.INTEGER)


def _decimals(values: pd.Series) -> int:
    """The decimals the real data are written with (the most common count, at most 3)."""
    numbers = pd.to_numeric(values, errors="coerce").dropna().to_numpy(float)
    if len(numbers) == 0:
        return 0
    counts = []
    for value in numbers[:500]:
        for places in range(MAX_DECIMALS + 1):
            if math.isclose(value, round(value, places), rel_tol=0, abs_tol=1e-9):
                counts.append(places)
                break
        else:
            counts.append(MAX_DECIMALS)
    return int(np.bincount(counts).argmax())


def _display(schema: Schema, column: str, value: Any, decimals: int | None) -> str | None:
    """What the card shows: None for missing, otherwise text formatted by kind."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    kind = schema.columns[column].kind
    if kind is ColumnKind.INTEGER:
        return str(round(float(value)))
    if kind is ColumnKind.CONTINUOUS:
        places = decimals or 0
        return f"{round(float(value), places):.{places}f}"
    if kind is ColumnKind.DATETIME:
        return str(pd.Timestamp(value).date())
    return schema.columns[column].category_word(value)


def _groups(schema: Schema, columns: list[str]) -> list[dict[str, Any]]:
    """Columns under their headings, in the order headings first appear in the schema."""
    order: dict[str, list[str]] = {}
    for column in columns:
        order.setdefault(schema.columns[column].group or OTHER_GROUP, []).append(column)
    if OTHER_GROUP in order:
        order[OTHER_GROUP] = order.pop(OTHER_GROUP)
    return [{"name": group, "columns": names} for group, names in order.items()]
