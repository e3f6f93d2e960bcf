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
from scipy.stats import fisher_exact

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.evaluation.attacks import (
    AttackReport,
    AttackSettings,
    default_quasi_identifiers,
    run_attacks,
)
from jumeau.evaluation.baseline import compare_with_baseline
from jumeau.evaluation.features import shared_columns
from jumeau.evaluation.fidelity import (
    column_shapes,
    detection_auc,
    detection_interval,
    missingness_patterns,
    pair_trends,
)
from jumeau.evaluation.kanonymity import QuasiIdentifierRarity, quasi_identifier_rarity
from jumeau.evaluation.membership import MIN_HOLDOUT, MembershipResult, membership_inference
from jumeau.evaluation.privacy import (
    SHARED_PROFILE_K,
    check_shared_profile_k,
    distance_to_closest_record,
)
from jumeau.evaluation.similarity import (
    DEFAULT_PERCENTILE,
    SimilarityFilter,
    filter_by_distances,
    outsider_removals,
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
from jumeau.evaluation.verdicts import Verdict, verdicts

__all__ = ["Evaluation", "EvaluationSettings", "Verdict", "evaluate", "fidelity_scores"]

# Cohorts smaller than this (either side of the detection test) repeat the detection test
# over subsamples and folds, and its interval is that of the repeats
SMALL_DETECTION = 300
DETECTION_REPEATS = 5


@dataclass(frozen=True)
class EvaluationSettings:
    seed: int = 0
    target: str | None = None  # None: the schema's target, or its time/event pair
    attacks: AttackSettings | None = None  # None: defaults; see jumeau.evaluation.attacks
    run_attacks: bool = True
    run_membership: bool = True
    run_utility: bool = True  # off for the extra splits of pooled privacy evidence
    filter_percentile: float = DEFAULT_PERCENTILE
    # an exact profile this many training patients share is nobody's copy (see privacy.py)
    shared_profile_k: int = SHARED_PROFILE_K
    factors: tuple[int, ...] = AUGMENTATION_FACTORS
    small_cohort_sizes: tuple[int, ...] = SMALL_COHORT_SIZES
    small_cohort_repeats: int = 3


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
    # membership-inference attacks beside their real ceilings (None: not run)
    membership: list[MembershipResult] | None = None
    # the detection test's 95 % interval (repeated on small cohorts)
    detection_interval: tuple[float, float] | None = None
    detection_repeated_auc: float | None = None
    # real outsiders (holdout patients) the filter's rule would remove, leave-one-out: (removed,
    # holdout patients) — the ceiling of the filter's removal rate
    outsiders_removed: tuple[int, int] = (0, 0)
    # artificial patients in small real groups of the quasi-identifiers, beside real outsiders
    quasi_identifier_rarity: QuasiIdentifierRarity | None = None
    # the DCR share of independent draws of each column's training values (baseline.py): what
    # learning the marginals alone costs, beside which the DCR share is judged
    baseline_dcr_share: float | None = None
    baseline_dcr_share_interval: tuple[float, float] | None = None
    # DCR share − the baseline's, with its 95 % interval from paired draws of the reference
    # sets: the memorisation verdict's evidence (None: holdout too small)
    baseline_excess_interval: tuple[float, float] | None = None
    # privacy evidence pooled over this many refits on seeded splits (see pooling.py), and each
    # split's own numbers; 1: the released cohort's split alone
    privacy_splits: int = 1
    privacy_split_evidence: list[dict[str, Any]] = field(default_factory=list)

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

    @property
    def baseline_excess(self) -> float | None:
        """How far the DCR share sits above the independent-marginals baseline's (None: no
        baseline measured)."""
        if self.baseline_dcr_share is None:
            return None
        return self.dcr_share - self.baseline_dcr_share

    @property
    def filter_excess_p_value(self) -> float:
        """One-sided Fisher exact p-value that artificial patients fall under the filter's
        threshold more often than real outsiders do (1.0: no outsider to compare with)."""
        if self.filtered_while_sampling is None:
            drawn, removed = self.similarity.n_input, self.similarity.n_removed
        else:
            drawn, removed = self.filtered_while_sampling
        outsiders_removed, outsiders = self.outsiders_removed
        if outsiders == 0 or drawn == 0:
            return 1.0
        table = [[removed, drawn - removed], [outsiders_removed, outsiders - outsiders_removed]]
        return float(fisher_exact(table, alternative="greater").pvalue)

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
                "splits": self.privacy_splits,
                "per_split": self.privacy_split_evidence,
                "dcr_share": self.dcr_share,
                "dcr_share_95": (
                    None if self.dcr_share_interval is None else list(self.dcr_share_interval)
                ),
                "ceiling_dcr_share": self.ceiling_dcr_share,
                "independent_marginals_dcr_share": self.baseline_dcr_share,
                "independent_marginals_dcr_share_95": (
                    None
                    if self.baseline_dcr_share_interval is None
                    else list(self.baseline_dcr_share_interval)
                ),
                "excess_over_independent_marginals": self.baseline_excess,
                "excess_over_independent_marginals_95": (
                    None
                    if self.baseline_excess_interval is None
                    else list(self.baseline_excess_interval)
                ),
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
                "outsiders_removed_by_filter": {
                    "removed": self.outsiders_removed[0],
                    "holdout": self.outsiders_removed[1],
                    "excess_p_value": self.filter_excess_p_value,
                },
                "near_copy_detection": {
                    "detection_auc": self.detection_repeated_auc,
                    "detection_auc_95": (
                        None if self.detection_interval is None else list(self.detection_interval)
                    ),
                },
                "quasi_identifier_k_anonymity": (
                    None
                    if self.quasi_identifier_rarity is None
                    else self.quasi_identifier_rarity.to_dict()
                ),
                "membership_inference": (
                    None if self.membership is None else [r.to_dict() for r in self.membership]
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
    baseline = timed(
        "DCR share interval, independent-marginals baseline",
        lambda: compare_with_baseline(
            train, holdout, artificial, dcr.share_closer_to_train, seed=seed
        ),
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
    outsiders = outsider_removals(
        dcr.holdout_to_train,
        percentile=settings.filter_percentile,
        shared=None if dcr.holdout_train_twins is None else dcr.holdout_train_twins >= k,
    )
    repeats = DETECTION_REPEATS if min(len(train), len(artificial)) < SMALL_DETECTION else 1
    repeated_auc, detection_low, detection_high = timed(
        "near-copy detection",
        lambda: detection_interval(train, artificial, repeats=repeats, seed=seed),
    )
    membership = None
    if settings.run_membership and len(holdout) < MIN_HOLDOUT:
        notes.append(
            f"{len(holdout)} holdout patients are too few for the membership-inference attacks "
            f"(at least {MIN_HOLDOUT})."
        )
    elif settings.run_membership:
        membership = timed(
            "membership inference",
            lambda: membership_inference(train, holdout, artificial, seed=seed),
        )
    chosen = settings.attacks.quasi_identifiers if settings.attacks else None
    rarity = quasi_identifier_rarity(
        train,
        holdout,
        artificial,
        default_quasi_identifiers(train, shared_columns(train, artificial))
        if chosen is None
        else chosen,
    )
    attacks = None
    if settings.run_attacks:
        attacks = timed(
            "privacy attacks", lambda: run_attacks(train, holdout, artificial, settings.attacks)
        )
    utility = None
    task = utility_task(train.schema, settings.target) if settings.run_utility else None
    if settings.run_utility and task is None:
        notes.append("The schema names no outcome (target, or time and event): no utility study.")
    elif task is not None:
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
                    notes=notes,
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
        dcr_share_interval=baseline.share_interval,
        baseline_dcr_share=baseline.baseline_share,
        baseline_dcr_share_interval=baseline.baseline_interval,
        baseline_excess_interval=baseline.excess_interval,
        dcr_artificial=dcr.to_all_train,
        dcr_holdout=dcr.holdout_to_train,
        similarity=similarity,
        attacks=attacks,
        utility=utility,
        timings=timings,
        notes=notes,
        membership=membership,
        detection_interval=(detection_low, detection_high),
        detection_repeated_auc=repeated_auc,
        outsiders_removed=(outsiders, len(holdout)),
        quasi_identifier_rarity=rarity,
    )
