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
import dataclasses
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from jumeau.data.cohort import Cohort
from jumeau.data.schema import CATEGORY_KINDS, NUMERIC_KINDS, ColumnKind, Role
from jumeau.errors import JumeauError
from jumeau.evaluation.features import shared_columns
from jumeau.generators.encoding import numeric_values

DEFAULT_ATTACKS = 500  # anonymeter's default
DEFAULT_REPEATS = 3
# anonymeter's singling out tries at most this many queries per query it must find
SINGLING_OUT_ATTEMPTS = 1000
CONFIDENCE = 0.95
QUASI_IDENTIFIER_PATTERN = re.compile(
    r"(^|_)(age|sex|gender|weight|height|bmi|race|ethnic\w*|zip\w*|post\w*code|birth\w*|"
    r"nationality|country|marital\w*|city|town|region|county|department|district|"
    r"residence|address|postal\w*)(_|$)",
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
    # the same attack with an independent real sample (half the holdout) as the released cohort
    ceiling_risk: float | None = None
    ceiling_low: float | None = None
    ceiling_high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class AttackSettings:
    """What the attacker knows and tries."""

    quasi_identifiers: Sequence[str] | None = None  # None: found by column name
    secrets: Sequence[str] | None = None  # None: the target or event column
    n_attacks: int = DEFAULT_ATTACKS
    seed: int = 0
    # independent draws of the equal-size sets, averaged: one draw's risk moves by ±0.05 with
    # which training patients were drawn
    repeats: int = DEFAULT_REPEATS


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
    """Singling out, linkability and inference (one per secret) with anonymeter, each beside its
    real ceiling.

    Fair sizes: anonymeter compares the attacker's success on training patients with their
    success on control (holdout) patients, and a predicate that singles out one patient among
    480 singles out nobody among 206 more often — so unequal sets alone read as risk (measured:
    a Gaussian copula on gbsg2 scored 0.24 with all 480 training patients against 206 controls,
    0.04 with equal sets; an independent real sample scored 0.15, then 0.03). Every attack
    therefore sees equally many training patients, artificial patients and controls (seeded
    subsamples as large as the smaller set), which also keeps a release of 5,000 patients from
    looking riskier than one of 500 from the same model. The ceiling is the same attack, at the
    same sizes and with as many attacks, with real holdout patients as the "artificial" cohort:
    they carry nothing of the training set, so whatever risk they show is the attack's own noise.
    Its control set is a second subsample of training patients, disjoint from the attacked ones
    (for the ceiling every set is an independent real sample, whichever split it comes from);
    the holdout then need not be halved, which gave the ceiling sets half the cohort's size and
    a different noise (TRACE: ceilings from 282 patients beside attacks on 563). When the
    training set is too small for two disjoint subsamples, the holdout is halved as before."""
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
        default_quasi_identifiers(train, columns)
        if settings.quasi_identifiers is None
        else _checked_columns(settings.quasi_identifiers, columns, "quasi-identifier")
    )
    secrets = (
        default_secrets(train, columns)
        if settings.secrets is None
        else _checked_columns(settings.secrets, columns, "secret")
    )
    if settings.repeats < 1:
        raise JumeauError(f"the attacks need at least one draw (repeats), not {settings.repeats}")
    rng = np.random.default_rng(settings.seed)
    size = min(len(train), len(holdout), len(artificial))
    # the ceiling at the attack's own sizes, its controls from training (see the docstring)
    same_size_ceiling = len(train) >= 2 * size
    ceiling_size = size if same_size_ceiling else len(holdout) - len(holdout) // 2
    with_ceiling = (same_size_ceiling and size >= 2) or len(holdout) // 2 >= 2

    whole = {
        name: _attack_frame(c, columns)
        for name, c in (("train", train), ("artificial", artificial), ("holdout", holdout))
    }

    def draw() -> tuple[pd.DataFrame, ...]:
        """One draw of equal sets: (training, artificial, control) for the attack and
        (training, real sample, control) for its ceiling."""
        if same_size_ceiling:
            order = rng.permutation(len(train))
            attacked, controls = (
                whole["train"].iloc[np.sort(part)].reset_index(drop=True)
                for part in (order[:size], order[size : 2 * size])
            )
            released, control = (_subsample(whole[n], size, rng) for n in ("artificial", "holdout"))
            return (
                attacked,
                released,
                control,
                attacked,
                _subsample(whole["holdout"], size, rng),
                controls,
            )
        halves = np.array_split(rng.permutation(len(holdout)), 2)
        sets = [_subsample(whole[name], size, rng) for name in ("train", "artificial", "holdout")]
        sets += [_subsample(whole["train"], len(halves[1]), rng)]
        sets += [whole["holdout"].iloc[np.sort(h)].reset_index(drop=True) for h in halves]
        return tuple(sets)

    draws = [draw() for _ in range(settings.repeats)]
    # Every attack at most one per patient of the sets: linkability and inference attack distinct
    # patients, and a few dozen artificial patients cannot yield 500 distinct singling-out
    # queries (anonymeter then searches for up to ten million attempts).
    n_attacks = max(1, min(settings.n_attacks, size))
    n_ceiling = max(1, min(settings.n_attacks, ceiling_size))
    report = AttackReport(
        settings={
            "quasi_identifiers": known,
            "secrets": secrets,
            "n_attacks": n_attacks,  # each attack, on the cohort (the ceiling: at most as many)
            "n_patients_per_set": size,  # training, artificial and control alike
            "n_ceiling_real_sample": ceiling_size if with_ceiling else 0,
            "repeats": settings.repeats,
            "seed": settings.seed,
            "confidence_level": CONFIDENCE,
        }
    )
    others = [c for c in columns if c not in known]
    first, second = (known, others) if known and others else _halves(columns)
    attacks: list[tuple[str, str, Any]] = [
        (
            "singling_out",
            "multivariate, 3 columns",
            lambda ori_, syn_, control_, n: SinglingOutEvaluator(
                ori=ori_,
                syn=syn_,
                control=control_,
                n_attacks=n,
                max_attempts=SINGLING_OUT_ATTEMPTS * n,
                seed=settings.seed,
            ).evaluate(mode="multivariate"),
        ),
        (
            "linkability",
            f"links {_names(first)} to {_names(second)}",
            lambda ori_, syn_, control_, n: LinkabilityEvaluator(
                ori=ori_, syn=syn_, control=control_, aux_cols=(first, second), n_attacks=n
            ).evaluate(n_jobs=1),
        ),
    ]
    for secret in secrets:
        auxiliary = [c for c in columns if c != secret]
        regression = train.schema.columns[secret].kind in NUMERIC_KINDS | {ColumnKind.DATETIME}

        def inference(
            ori_: pd.DataFrame,
            syn_: pd.DataFrame,
            control_: pd.DataFrame,
            n: int,
            secret: str = secret,
            auxiliary: list[str] = auxiliary,
            regression: bool = regression,
        ) -> Any:
            return InferenceEvaluator(
                ori=ori_,
                syn=syn_,
                control=control_,
                aux_cols=auxiliary,
                secret=secret,
                regression=regression,
                n_attacks=n,
            ).evaluate(n_jobs=1)

        attacks.append(("inference", f"guesses {secret} from {_names(auxiliary)}", inference))
    for name, detail, attack in attacks:
        runs = [
            _attack(
                name, detail, n_attacks, lambda a=attack, d=d: a(*d[:3], n_attacks), settings.seed
            )
            for d in draws
        ]
        result = _pooled(runs)
        if with_ceiling and result.risk is not None:
            ceiling = _pooled(
                [
                    _attack(
                        name,
                        detail,
                        n_ceiling,
                        lambda a=attack, d=d: a(*d[3:], n_ceiling),
                        settings.seed,
                    )
                    for d in draws
                ]
            )
            result = dataclasses.replace(
                result,
                ceiling_risk=ceiling.risk,
                ceiling_low=ceiling.risk_low,
                ceiling_high=ceiling.risk_high,
            )
        report.results.append(result)
    return report


def default_quasi_identifiers(cohort: Cohort, columns: Sequence[str]) -> list[str]:
    """What a disclosure reviewer assumes an attacker knows: demographics and places found by
    column name (age, sex, weight, postcode, city…) and every date (admission, birth, surgery:
    dates are in hospital and civil records)."""
    dates = {c for c in columns if cohort.schema.columns[c].kind == ColumnKind.DATETIME}
    named = set(quasi_identifiers(columns))
    return [c for c in columns if c in named or c in dates]


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


def _pooled(runs: list[AttackResult]) -> AttackResult:
    """The mean of repeated draws of one attack, with a 95 % interval from the larger of the
    draws' spread and anonymeter's own (binomial) interval, over √draws. A draw that failed
    makes the whole attack fail: its error is what the report shows."""
    failed = [r for r in runs if r.risk is None]
    if failed:
        return failed[0]
    z = float(ndtri(0.5 + CONFIDENCE / 2))

    def mean(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return float(np.mean(present)) if present else None

    risks = np.array([r.risk for r in runs], dtype=float)
    within = np.mean([((r.risk_high or 0.0) - (r.risk_low or 0.0)) / (2 * z) for r in runs])
    between = risks.std(ddof=1) if len(runs) > 1 else 0.0
    spread = max(float(between), float(within)) / np.sqrt(len(runs))
    risk = float(risks.mean())
    return dataclasses.replace(
        runs[0],
        risk=risk,
        risk_low=max(0.0, risk - z * spread),
        risk_high=min(1.0, risk + z * spread),
        attack_rate=mean([r.attack_rate for r in runs]),
        control_rate=mean([r.control_rate for r in runs]),
        baseline_rate=mean([r.baseline_rate for r in runs]),
    )


def _subsample(frame: pd.DataFrame, size: int, rng: np.random.Generator) -> pd.DataFrame:
    """A seeded random subset of `size` rows (the frame itself when it is that small)."""
    if size >= len(frame):
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), size, replace=False))].reset_index(drop=True)
