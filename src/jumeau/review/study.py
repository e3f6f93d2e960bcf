"""Creating a blinded review study: which records, in which order, shown how.

The record set is drawn with the study seed: `real_share` of the records from the real (holdout)
patients, the rest from the artificial cohort, both parts stratified on the outcome with the
*real* cohort's shares (so that "has the event" cannot tell the sources apart). The orders —
the database's and each reviewer's — come from an unseeded secret random source: a seed that
can be guessed would let anyone recompute which position is real. (The orders are stored, so the
study stays reproducible from its database.) Values are written the same way whatever their
source — numbers snapped to the step the real data are recorded in (whole numbers, halves,
multiples of 5, …), categories in words, missing values as missing — because a different
precision would give the artificial records away.
"""

from __future__ import annotations

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
    shares = _shares(real.data, strata)
    chosen_real = _stratified(real.data, strata, shares, n_real, rng)
    chosen_artificial = _stratified(artificial.data, strata, shares, n_artificial, rng)
    steps = {c: recording_step(real.data[c]) for c in columns if _is_number(schema, c)}
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
        # secret random insertion order and ids: neither says which records are real
        secret = np.random.default_rng(secrets.randbits(128))
        order = secret.permutation(len(rows))
        ids = []
        for index in order:
            truth, row = rows[index]
            record_id = secrets.token_hex(8)
            ids.append(record_id)
            payload = {c: _display(schema, c, row[c], steps.get(c)) for c in columns}
            session.add(Record(id=record_id, payload=payload, truth=truth))
        session.flush()
        for reviewer_name, token in tokens.items():
            reviewer = Reviewer(name=reviewer_name, token_hash=token_hash(token))
            session.add(reviewer)
            session.flush()
            for position, index in enumerate(secret.permutation(len(ids))):
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


def _shares(frame: pd.DataFrame, column: str | None) -> dict[str, float]:
    if column is None:
        return {}
    counts = frame[column].astype(str).value_counts()
    return {str(level): float(count / counts.sum()) for level, count in counts.items()}


def _stratified(
    frame: pd.DataFrame,
    column: str | None,
    shares: dict[str, float],
    k: int,
    rng: np.random.Generator,
) -> list[int]:
    """k row positions with each level of `column` in the given shares (largest remainders);
    a level too small for its quota is filled from the others."""
    if k == 0:
        return []
    if column is None or not shares:
        return sorted(rng.choice(len(frame), k, replace=False).tolist())
    levels = frame[column].astype(str).to_numpy()
    values = sorted(shares)
    quotas = np.array([shares[v] for v in values]) * k
    taken = np.floor(quotas).astype(int)
    for index in np.argsort(-(quotas - taken), kind="stable")[: k - taken.sum()]:
        taken[index] += 1
    rows: list[int] = []
    for value, quota in zip(values, taken, strict=True):
        pool = np.flatnonzero(levels == value)
        rows += rng.choice(pool, min(quota, len(pool)), replace=False).tolist()
    if len(rows) < k:
        rest = np.setdiff1d(np.arange(len(frame)), rows)
        rows += rng.choice(rest, k - len(rows), replace=False).tolist()
    return sorted(rows)


def _is_number(schema: Schema, column: str) -> bool:
    return schema.columns[column].kind in (ColumnKind.CONTINUOUS, ColumnKind.INTEGER)


STEPS = (100.0, 50.0, 10.0, 5.0, 2.0, 1.0, 0.5, 0.25, 0.2, 0.1, 0.05, 0.01, 0.001)
ON_STEP_SHARE = 0.95


def recording_step(values: pd.Series) -> float:
    """The step real values are recorded in: the largest of 100, 50, 10, 5, 2, 1, 0.5, … that at
    least 95 % of them are multiples of (blood pressure by 5, weight by 0.5, …); 0.001 at most."""
    numbers = pd.to_numeric(values, errors="coerce").dropna().to_numpy(float)
    if len(numbers) == 0:
        return 1.0
    for step in STEPS:
        ratio = numbers / step
        on_step = np.abs(ratio - np.round(ratio)) < 1e-6 * np.maximum(1.0, np.abs(ratio))
        if on_step.mean() >= ON_STEP_SHARE:
            return step
    return STEPS[-1]


def _display(schema: Schema, column: str, value: Any, step: float | None) -> str | None:
    """What the card shows: None for missing, otherwise text formatted by kind."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    kind = schema.columns[column].kind
    if kind in (ColumnKind.INTEGER, ColumnKind.CONTINUOUS):
        step = step or 1.0
        snapped = round(float(value) / step) * step + 0.0  # + 0.0 turns -0.0 into 0.0
        written = f"{step:g}"
        places = len(written.split(".")[1]) if "." in written else 0
        return f"{snapped:.{places}f}"
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
