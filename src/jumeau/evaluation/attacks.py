"""Privacy attacks on an artificial cohort: anonymeter's singling out, linkability and inference.

The three criteria of the EDPB opinion on anonymisation, measured by anonymeter (Giomi et al.,
PoPETs 2023), which the CNIL cites; jumeau only chooses sensible defaults and reports. Each
attack runs against the training patients (those the generator saw) with the holdout patients as
control: the risk is the attacker's success on training patients *beyond* their success on real
patients the generator never saw, so what any model of the population would reveal does not
count as a leak.

Defaults: linkability links the quasi-identifiers (age, sex, weight, height… found by column
name; the user can say which) to the remaining columns (two halves of the columns when none is
recognised); inference guesses the outcome (the schema's target or event column; the user can
name other secrets) from every other column, the worst case anonymeter's authors recommend.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from jumeau.data.cohort import Cohort
from jumeau.data.schema import CATEGORY_KINDS, NUMERIC_KINDS, ColumnKind, Role
from jumeau.errors import JumeauError
from jumeau.evaluation.features import shared_columns
from jumeau.generators.encoding import numeric_values

DEFAULT_ATTACKS = 500  # anonymeter's default
CONFIDENCE = 0.95
QUASI_IDENTIFIER_PATTERN = re.compile(
    r"(^|_)(age|sex|gender|weight|height|bmi|race|ethnic\w*|zip\w*|post\w*code|birth\w*|"
    r"nationality|country|marital\w*)(_|$)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AttackResult:
    """One attack: the privacy risk with its confidence interval, and the success rates."""

    attack: str  # singling_out, linkability or inference
    detail: str  # what was attacked (the secret, the column sets)
    n_attacks: int
    risk: float | None = None
    risk_low: float | None = None
    risk_high: float | None = None
    attack_rate: float | None = None  # success on training patients
    control_rate: float | None = None  # success on holdout patients (what is learned anyway)
    baseline_rate: float | None = None  # a random guesser
    error: str | None = None  # why the attack could not run, if it could not

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class AttackSettings:
    """What the attacker knows and tries."""

    quasi_identifiers: Sequence[str] | None = None  # None: found by column name
    secrets: Sequence[str] | None = None  # None: the target or event column
    n_attacks: int = DEFAULT_ATTACKS
    seed: int = 0


@dataclass
class AttackReport:
    settings: dict[str, Any]
    results: list[AttackResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "results": [r.to_dict() for r in self.results]}


def quasi_identifiers(columns: Sequence[str]) -> list[str]:
    """Columns whose names say they describe who a patient is (age, sex, weight…)."""
    return [c for c in columns if QUASI_IDENTIFIER_PATTERN.search(c)]


def run_attacks(
    train: Cohort,
    holdout: Cohort,
    artificial: Cohort,
    settings: AttackSettings | None = None,
) -> AttackReport:
    """Singling out, linkability and inference (one per secret) with anonymeter."""
    settings = settings or AttackSettings()
    try:
        from anonymeter.evaluators import (
            InferenceEvaluator,
            LinkabilityEvaluator,
            SinglingOutEvaluator,
        )
    except ImportError as exc:
        raise JumeauError(
            'the privacy attacks need anonymeter: pip install "jumeau[privacy]"'
        ) from exc
    columns = shared_columns(train, artificial)
    known = (
        quasi_identifiers(columns)
        if settings.quasi_identifiers is None
        else _checked_columns(settings.quasi_identifiers, columns, "quasi-identifier")
    )
    secrets = (
        default_secrets(train, columns)
        if settings.secrets is None
        else _checked_columns(settings.secrets, columns, "secret")
    )
    ori, syn, control = (_attack_frame(c, columns) for c in (train, artificial, holdout))
    # Linkability and inference attack distinct patients of each set: at most that many attacks.
    # Singling-out queries are built from the artificial cohort and are not so bounded.
    n_attacks = max(1, min(settings.n_attacks, len(ori), len(control)))
    report = AttackReport(
        settings={
            "quasi_identifiers": known,
            "secrets": secrets,
            "n_attacks": n_attacks,  # linkability and inference
            "n_attacks_singling_out": settings.n_attacks,
            "seed": settings.seed,
            "confidence_level": CONFIDENCE,
        }
    )
    others = [c for c in columns if c not in known]

    def singling_out() -> Any:
        evaluator = SinglingOutEvaluator(
            ori=ori, syn=syn, control=control, n_attacks=settings.n_attacks, seed=settings.seed
        )
        return evaluator.evaluate(mode="multivariate")

    report.results.append(
        _attack(
            "singling_out",
            "multivariate, 3 columns",
            settings.n_attacks,
            singling_out,
            settings.seed,
        )
    )

    first, second = (known, others) if known and others else _halves(columns)

    def linkability() -> Any:
        evaluator = LinkabilityEvaluator(
            ori=ori, syn=syn, control=control, aux_cols=(first, second), n_attacks=n_attacks
        )
        return evaluator.evaluate(n_jobs=1)

    detail = f"links {_names(first)} to {_names(second)}"
    report.results.append(_attack("linkability", detail, n_attacks, linkability, settings.seed))

    for secret in secrets:
        auxiliary = [c for c in columns if c != secret]
        regression = train.schema.columns[secret].kind in NUMERIC_KINDS | {ColumnKind.DATETIME}

        def inference(
            secret: str = secret, auxiliary: list[str] = auxiliary, regression: bool = regression
        ) -> Any:
            evaluator = InferenceEvaluator(
                ori=ori,
                syn=syn,
                control=control,
                aux_cols=auxiliary,
                secret=secret,
                regression=regression,
                n_attacks=n_attacks,
            )
            return evaluator.evaluate(n_jobs=1)

        detail = f"guesses {secret} from {_names(auxiliary)}"
        report.results.append(_attack("inference", detail, n_attacks, inference, settings.seed))
    return report


def default_secrets(cohort: Cohort, columns: Sequence[str]) -> list[str]:
    """The outcome an attacker would most want: the target, else the event indicator."""
    for role in (Role.TARGET, Role.EVENT):
        found = [c for c in cohort.schema.columns_with_role(role) if c in columns]
        if found:
            return found[:1]
    return []


def _checked_columns(chosen: Sequence[str], columns: Sequence[str], what: str) -> list[str]:
    unknown = [c for c in chosen if c not in columns]
    if unknown:
        raise JumeauError(
            f"unknown {what} column(s) {', '.join(unknown)}; choose from {', '.join(columns)}"
        )
    return list(chosen)


def _halves(columns: Sequence[str]) -> tuple[list[str], list[str]]:
    middle = len(columns) // 2
    return list(columns[:middle]), list(columns[middle:])


def _names(columns: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


def _attack_frame(cohort: Cohort, columns: Sequence[str]) -> pd.DataFrame:
    """Numbers as floats and categories as text: the two kinds anonymeter tells apart."""
    frame = pd.DataFrame(index=range(len(cohort)))
    for name in columns:
        column = cohort.schema.columns[name]
        values = cohort.data[name].reset_index(drop=True)
        if column.kind in CATEGORY_KINDS:
            frame[name] = values.astype(object).map(lambda v: str(v) if pd.notna(v) else None)
        else:
            frame[name] = numeric_values(values, column.kind)
    return frame


@contextlib.contextmanager
def numpy_global_seed(seed: int) -> Iterator[None]:
    """anonymeter draws its targets from numpy's global RNG: seed it, then restore it."""
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        np.random.set_state(state)


def _attack(name: str, detail: str, n_attacks: int, run: Any, seed: int) -> AttackResult:
    """Run one evaluator; a failure becomes a result that says why (the report shows it)."""
    try:
        with numpy_global_seed(seed), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            evaluator = run()
            risk = evaluator.risk(confidence_level=CONFIDENCE)
            results = evaluator.results(confidence_level=CONFIDENCE)
    except Exception as exc:  # anonymeter's own errors are many and untyped
        message = str(exc).strip().splitlines()
        return AttackResult(
            name, detail, n_attacks, error=f"{type(exc).__name__}: {message[0] if message else ''}"
        )
    control = results.control_rate
    return AttackResult(
        attack=name,
        detail=detail,
        n_attacks=n_attacks,
        risk=float(risk.value),
        risk_low=float(risk.ci[0]),
        risk_high=float(risk.ci[1]),
        attack_rate=float(results.attack_rate.value),
        control_rate=float(control.value) if control is not None else None,
        baseline_rate=float(results.baseline_rate.value),
    )
