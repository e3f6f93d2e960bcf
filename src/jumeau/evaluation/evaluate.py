"""Everything the validation report says about an artificial cohort, as plain numbers.

Every score of the artificial cohort sits beside the same score of the real holdout (patients the
generator never saw): the honest ceiling an independent real sample reaches. No plotting here;
`jumeau.report` renders this object, and `to_dict()` is the report's JSON.

The fidelity score, documented in the report as well:

    fidelity = (column shapes + pair trends + detection score) / 3,
    detection score = 1 − 2·|detection AUC − 0.5|

each term in [0, 1], 1 for a cohort indistinguishable from the training patients.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.evaluation.attacks import AttackReport, AttackSettings, run_attacks
from jumeau.evaluation.fidelity import (
    column_shapes,
    detection_auc,
    missingness_patterns,
    pair_trends,
)
from jumeau.evaluation.privacy import (
    SHARED_PROFILE_K,
    check_shared_profile_k,
    dcr_share_standard_error,
    distance_to_closest_record,
    normal_interval,
)
from jumeau.evaluation.similarity import (
    DEFAULT_PERCENTILE,
    SimilarityFilter,
    filter_by_distances,
)
from jumeau.evaluation.summary import ceiling_distance_to_closest_record
from jumeau.evaluation.utility import (
    AUGMENTATION_FACTORS,
    SMALL_COHORT_SIZES,
    FitAndSample,
    UtilityReport,
    evaluate_utility,
    small_cohort_augmentation,
    utility_task,
)

# Thresholds of the plain-language verdicts (shown in the report beside each verdict).
FIDELITY_MARGIN = 0.05  # fidelity score within this of the ceiling
DETECTION_GAP = 0.10  # |AUC − 0.5| at most this
NEAR_COPY_AUC = 0.45  # an AUC below this points to near-copies
DCR_SHARE_MAX = 0.55
FILTER_PASS_MIN = 0.99
ATTACK_RISK_MAX = 0.10
UTILITY_MARGIN = 0.05  # TSTR within this of TRTR
RULE_VALIDITY_MIN = 0.99


@dataclass(frozen=True)
class EvaluationSettings:
    seed: int = 0
    target: str | None = None  # None: the schema's target, or its time/event pair
    attacks: AttackSettings | None = None  # None: defaults; see jumeau.evaluation.attacks
    run_attacks: bool = True
    filter_percentile: float = DEFAULT_PERCENTILE
    # an exact profile this many training patients share is nobody's copy (see privacy.py)
    shared_profile_k: int = SHARED_PROFILE_K
    factors: tuple[int, ...] = AUGMENTATION_FACTORS
    small_cohort_sizes: tuple[int, ...] = SMALL_COHORT_SIZES
    small_cohort_repeats: int = 3


@dataclass(frozen=True)
class Verdict:
    """One line of the report's summary: what was measured, against what, and what it means."""

    topic: str
    value: str
    threshold: str
    ok: bool | None  # None: not measured
    text: str


@dataclass
class FidelityScores:
    column_shapes: dict[str, float]
    pair_trends: float
    detection_auc: float
    rule_validity: float
    missingness_patterns: float | None = None  # None: no column misses a value

    @property
    def mean_shapes(self) -> float:
        return float(np.mean(list(self.column_shapes.values()))) if self.column_shapes else 1.0

    @property
    def detection_score(self) -> float:
        return 1.0 - 2.0 * abs(self.detection_auc - 0.5)

    @property
    def score(self) -> float:
        return (self.mean_shapes + self.pair_trends + self.detection_score) / 3.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "column_shapes": self.column_shapes,
            "column_shapes_mean": self.mean_shapes,
            "pair_trends_mean": self.pair_trends,
            "detection_auc": self.detection_auc,
            "detection_score": self.detection_score,
            "rule_validity": self.rule_validity,
            "missingness_patterns": self.missingness_patterns,
            "fidelity_score": self.score,
        }


@dataclass
class Evaluation:
    """The numbers behind a validation report."""

    n_train: int
    n_holdout: int
    n_artificial: int
    seed: int
    fidelity: FidelityScores
    ceiling: FidelityScores  # the real holdout scored in the same way
    dcr_share: float
    ceiling_dcr_share: float
    exact_copies: int
    # identical to a profile several training patients share, and the share of real holdout
    # patients with a training twin: how often exact matches happen between real patients
    shared_profile_matches: int
    holdout_twin_share: float
    dcr_artificial: np.ndarray  # per artificial patient: Gower distance to the closest train one
    dcr_holdout: np.ndarray  # per holdout patient: the same
    similarity: SimilarityFilter
    attacks: AttackReport | None
    utility: UtilityReport | None
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Set by `jumeau run`: the filter already ran while sampling (drawn, removed), so the
    # cohort evaluated here passes it by construction; the verdict reports the sampling's rate.
    filtered_while_sampling: tuple[int, int] | None = None
    shared_profile_k: int = SHARED_PROFILE_K
    # 95 % interval of the DCR share over its reference sets (None: holdout too small)
    dcr_share_interval: tuple[float, float] | None = None

    @property
    def verdicts(self) -> list[Verdict]:
        return verdicts(self)

    @property
    def sampling_pass_rate(self) -> float:
        """Share of drawn patients that passed the similarity filter (while sampling, if it ran
        then; else on the evaluated cohort)."""
        if self.filtered_while_sampling is None:
            return self.similarity.pass_rate
        drawn, removed = self.filtered_while_sampling
        return 1.0 - removed / drawn if drawn else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sizes": {
                "train": self.n_train,
                "holdout": self.n_holdout,
                "artificial": self.n_artificial,
            },
            "seed": self.seed,
            "fidelity": {"artificial": self.fidelity.to_dict(), "ceiling": self.ceiling.to_dict()},
            "privacy": {
                "dcr_share": self.dcr_share,
                "dcr_share_95": (
                    None if self.dcr_share_interval is None else list(self.dcr_share_interval)
                ),
                "ceiling_dcr_share": self.ceiling_dcr_share,
                "exact_copies": self.exact_copies,
                "shared_profile_matches": self.shared_profile_matches,
                "shared_profile_k": self.shared_profile_k,
                "holdout_twin_share": self.holdout_twin_share,
                "dcr_artificial_quantiles": _quantiles(self.dcr_artificial),
                "dcr_holdout_quantiles": _quantiles(self.dcr_holdout),
                "similarity_filter": self.similarity.to_dict(),
                "similarity_filter_while_sampling": (
                    None
                    if self.filtered_while_sampling is None
                    else {
                        "drawn": self.filtered_while_sampling[0],
                        "removed": self.filtered_while_sampling[1],
                        "pass_rate": self.sampling_pass_rate,
                    }
                ),
                "attacks": self.attacks.to_dict() if self.attacks else None,
            },
            "utility": self.utility.to_dict() if self.utility else None,
            "verdicts": [v.__dict__ for v in self.verdicts],
            "timings_s": self.timings,
            "notes": self.notes,
            "fidelity_formula": "(column shapes + pair trends + (1 - 2|AUC - 0.5|)) / 3",
        }


def _quantiles(values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {}
    points = (0, 1, 5, 25, 50, 75, 95)
    return {f"p{p}": float(np.percentile(values, p)) for p in points}


def fidelity_scores(train: Cohort, other: Cohort, seed: int) -> FidelityScores:
    pairs = list(pair_trends(train, other).values())
    return FidelityScores(
        column_shapes=column_shapes(train, other),
        pair_trends=float(np.mean(pairs)) if pairs else 1.0,
        detection_auc=detection_auc(train, other, seed=seed),
        rule_validity=other.validate().share_valid,
        missingness_patterns=missingness_patterns(train, other),
    )


def evaluate(
    train: Cohort,
    holdout: Cohort,
    artificial: Cohort,
    settings: EvaluationSettings | None = None,
    *,
    fit_and_sample: FitAndSample | None = None,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Fidelity, privacy and utility of `artificial` against `train`, beside the holdout's.

    `fit_and_sample(real, n, seed)` refits the generator on few patients for the small-cohort
    augmentation study; without it that study is skipped (an external tool's cohort)."""
    settings = settings or EvaluationSettings()
    k = check_shared_profile_k(settings.shared_profile_k)
    if len(artificial) == 0:
        raise JumeauError("the artificial cohort is empty: there is nothing to evaluate")
    if len(train) < 2 or len(holdout) < 2:
        raise JumeauError("the evaluation needs at least two training and two holdout patients")
    seed = settings.seed
    say = progress or (lambda _text: None)
    timings: dict[str, float] = {}
    notes: list[str] = []

    def timed(name: str, job: Callable[[], Any]) -> Any:
        say(name)
        start = time.perf_counter()
        result = job()
        timings[name] = time.perf_counter() - start
        return result

    fidelity = timed("fidelity", lambda: fidelity_scores(train, artificial, seed))
    ceiling = timed("fidelity ceiling", lambda: fidelity_scores(train, holdout, seed))
    dcr = timed(
        "distances",
        lambda: distance_to_closest_record(
            train, holdout, artificial, seed=seed, shared_profile_k=k
        ),
    )
    ceiling_dcr = ceiling_distance_to_closest_record(train, holdout, seed=seed)
    share_error = timed(
        "DCR share interval",
        lambda: dcr_share_standard_error(train, holdout, artificial, seed=seed),
    )
    interval = (
        None if np.isnan(share_error) else normal_interval(dcr.share_closer_to_train, share_error)
    )
    similarity = timed(
        "similarity filter",  # from the distances just computed: nothing is measured twice
        lambda: filter_by_distances(
            artificial,
            dcr.to_all_train,
            dcr.holdout_to_train,
            percentile=settings.filter_percentile,
            shared=dcr.shared,
        ),
    )
    attacks = None
    if settings.run_attacks:
        attacks = timed(
            "privacy attacks", lambda: run_attacks(train, holdout, artificial, settings.attacks)
        )
    utility = None
    task = utility_task(train.schema, settings.target)
    if task is None:
        notes.append("The schema names no outcome (target, or time and event): no utility study.")
    else:
        utility = timed(
            "utility",
            lambda: evaluate_utility(
                task, train, holdout, artificial, factors=settings.factors, seed=seed
            ),
        )
        if fit_and_sample is None:
            notes.append("No generator to refit: the small-cohort augmentation study is skipped.")
        else:
            utility.small_cohorts = timed(
                "small cohorts (refits the generator)",
                lambda: small_cohort_augmentation(
                    task,
                    train,
                    holdout,
                    fit_and_sample,
                    sizes=settings.small_cohort_sizes,
                    repeats=settings.small_cohort_repeats,
                    factors=settings.factors,
                    seed=seed,
                    progress=say,
                ),
            )
    return Evaluation(
        n_train=len(train),
        n_holdout=len(holdout),
        n_artificial=len(artificial),
        seed=seed,
        fidelity=fidelity,
        ceiling=ceiling,
        dcr_share=dcr.share_closer_to_train,
        ceiling_dcr_share=ceiling_dcr.share_closer_to_train,
        exact_copies=dcr.exact_copies,
        shared_profile_matches=dcr.shared_profile_matches,
        holdout_twin_share=float((dcr.holdout_to_train == 0).mean()),
        shared_profile_k=k,
        dcr_share_interval=interval,
        dcr_artificial=dcr.to_all_train,
        dcr_holdout=dcr.holdout_to_train,
        similarity=similarity,
        attacks=attacks,
        utility=utility,
        timings=timings,
        notes=notes,
    )


# ---------------------------------------------------------------------- verdicts
def verdicts(result: Evaluation) -> list[Verdict]:
    """The one-screen summary, each line with its threshold."""
    f, c = result.fidelity, result.ceiling
    lines = [
        Verdict(
            "fidelity",
            f"{f.score:.3f} (independent real sample: {c.score:.3f})",
            f"within {FIDELITY_MARGIN} of the real sample",
            f.score >= c.score - FIDELITY_MARGIN,
            "The artificial patients resemble the real ones about as well as other real patients "
            "do."
            if f.score >= c.score - FIDELITY_MARGIN
            else "The artificial patients are measurably less like the real ones than other real "
            "patients are; see the per-variable plots.",
        ),
        Verdict(
            "detection",
            f"AUC {f.detection_auc:.3f} (real sample: {c.detection_auc:.3f})",
            f"|AUC − 0.5| ≤ {DETECTION_GAP}",
            abs(f.detection_auc - 0.5) <= DETECTION_GAP,
            "A classifier can hardly tell artificial from real patients."
            if abs(f.detection_auc - 0.5) <= DETECTION_GAP
            else "A classifier tells artificial from real patients apart.",
        ),
        Verdict(
            "rule validity",
            f"{f.rule_validity:.1%} (real sample: {c.rule_validity:.1%})",
            f"≥ {RULE_VALIDITY_MIN:.0%}",
            f.rule_validity >= RULE_VALIDITY_MIN,
            "Artificial patients respect the data dictionary's bounds and clinical rules."
            if f.rule_validity >= RULE_VALIDITY_MIN
            else "Some artificial patients break a bound or clinical rule.",
        ),
        _privacy_verdict(result),
        _near_copy_verdict(result),
        _filter_verdict(result),
    ]
    lines.extend(_attack_verdicts(result.attacks))
    lines.append(_utility_verdict(result.utility))
    return lines


def _filter_verdict(result: Evaluation) -> Verdict:
    rate = result.sampling_pass_rate
    if result.filtered_while_sampling is None:
        removed, drawn = result.similarity.n_removed, result.similarity.n_input
        what = "would be removed before sharing"
    else:
        drawn, removed = result.filtered_while_sampling
        what = "were removed while sampling and replaced"
    return Verdict(
        "similarity filter",
        f"{rate:.2%} passed ({removed} of {drawn} drawn)",
        f"≥ {FILTER_PASS_MIN:.0%}",
        rate >= FILTER_PASS_MIN,
        f"{removed} artificial patient(s) were closer to a training patient than real outsiders "
        f"come, and {what}.",
    )


def _privacy_verdict(result: Evaluation) -> Verdict:
    ok = result.dcr_share <= DCR_SHARE_MAX and result.exact_copies == 0
    interval = result.dcr_share_interval
    shown = "" if interval is None else f"; 95 % interval {interval[0]:.0%}–{interval[1]:.0%}"
    text = (
        "Artificial patients are no closer to the training patients than to unseen ones."
        if ok
        else "Artificial patients sit closer to the training patients than to unseen ones; "
        "see the distance histograms."
    )
    if interval is not None:
        text += _uncertainty_note(result, interval)
    return Verdict(
        "memorisation",
        f"DCR share {result.dcr_share:.1%}{shown} (real sample: {result.ceiling_dcr_share:.1%}), "
        f"{result.exact_copies} exact copies" + _shared_note(result),
        f"DCR share ≤ {DCR_SHARE_MAX:.0%}, no exact copy",
        ok,
        text,
    )


def _uncertainty_note(result: Evaluation, interval: tuple[float, float]) -> str:
    """Small holdouts make the DCR share a coin toss near its limit: say so, in both directions."""
    low, high = interval
    patients = f"With {result.n_holdout} holdout patients the share is uncertain"
    if result.dcr_share > DCR_SHARE_MAX and low <= 0.5:
        return (
            f" {patients}: its interval reaches 50 %, so chance alone could explain it; a larger "
            "holdout or a few seeds would tell."
        )
    if result.dcr_share <= DCR_SHARE_MAX and high > DCR_SHARE_MAX:
        return f" {patients}: its interval reaches above {DCR_SHARE_MAX:.0%}."
    return ""


def _shared_note(result: Evaluation) -> str:
    if result.shared_profile_matches == 0:
        return ""
    share = result.shared_profile_matches / result.n_artificial if result.n_artificial else 0.0
    return (
        f" ({share:.0%} share a profile with several training patients, as "
        f"{result.holdout_twin_share:.0%} of real holdout patients do)"
    )


def _near_copy_verdict(result: Evaluation) -> Verdict:
    """A detection AUC clearly below 0.5 is a warning, not a success: cross-validated
    classifiers anti-predict when artificial patients (nearly) duplicate real ones, in full or
    on several columns at once."""
    auc = result.fidelity.detection_auc
    ok = auc >= NEAR_COPY_AUC
    return Verdict(
        "near-copy signal",
        f"detection AUC {auc:.3f}",
        f"AUC ≥ {NEAR_COPY_AUC}",
        ok,
        "No sign of near-copies in the detection test."
        if ok
        else "The detection AUC is below 0.45: artificial patients may duplicate real ones on "
        "several columns at once; look at the distance histograms and the attacks.",
    )


def _attack_verdicts(attacks: AttackReport | None) -> list[Verdict]:
    if attacks is None:
        return [Verdict("attacks", "not run", "", None, "The privacy attacks were not run.")]
    lines = []
    for r in attacks.results:
        name = r.attack.replace("_", " ")
        if r.risk is None:
            lines.append(Verdict(name, "not computed", "", None, r.error or ""))
            continue
        ok = r.risk <= ATTACK_RISK_MAX
        lines.append(
            Verdict(
                name,
                f"risk {r.risk:.3f} [{r.risk_low:.3f}, {r.risk_high:.3f}]",
                f"≤ {ATTACK_RISK_MAX}",
                ok,
                f"{r.detail}: "
                + (
                    "no more success on training patients than on unseen ones."
                    if ok
                    else "the attacker succeeds more often on training patients than on "
                    "unseen ones."
                ),
            )
        )
    return lines


def _utility_verdict(utility: UtilityReport | None) -> Verdict:
    if utility is None or utility.trtr.error or utility.tstr.error:
        reason = "no outcome" if utility is None else (utility.trtr.error or utility.tstr.error)
        return Verdict("utility", "not measured", "", None, str(reason))
    metric = utility.task.metrics[-1]  # roc_auc, r2 or c_index
    model = utility.task.models[0]
    trtr = utility.trtr.scores[metric][model]
    tstr = utility.tstr.scores[metric][model]
    ok = tstr >= trtr - UTILITY_MARGIN
    return Verdict(
        "utility",
        f"{metric} trained on artificial {tstr:.3f} vs on real {trtr:.3f} ({model})",
        f"within {UTILITY_MARGIN} of real",
        ok,
        "A model trained on artificial patients predicts unseen real patients about as well."
        if ok
        else "A model trained on artificial patients predicts unseen real patients less well.",
    )
