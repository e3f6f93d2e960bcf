"""Privacy evidence pooled over refits on repeated seeded splits.

On a cohort of 150 patients one split decides who trains and who is held out, and the privacy
numbers move with it: the DCR share by ±0.06, a singling-out risk by ±0.08, a detection AUC by
±0.08 (measured on real halves of veteran, stagec, burn and pharmacoSmoking: the cross-validated
detection AUC of two real halves has sd 0.055–0.074 over 30 splits). A verdict taken from one
split is then a coin toss near its threshold. `jumeau run` therefore refits the generator on a
few more seeded splits of a small cohort, measures the same privacy numbers on each, and pools
them here; the released cohort and its fidelity stay those of the first split.

Pooling follows Rubin's rules (Rubin, Multiple Imputation for Nonresponse in Surveys, 1987),
which were made for exactly this shape of evidence — R analyses of the same data that differ by a
random step: the estimate is the mean over splits and its variance W̄ + (1 + 1/R)·B, the mean of
the splits' own variances plus the spread between splits. The splits reuse patients, so they are
not independent and the within-split variance is not divided by R: the interval is conservative,
as a data-protection officer would want. Each split's standard error is read off its 95 %
interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from jumeau.errors import JumeauError
from jumeau.evaluation.attacks import AttackReport, AttackResult
from jumeau.evaluation.membership import MembershipResult
from jumeau.evaluation.privacy import Z95

if TYPE_CHECKING:
    from jumeau.evaluation.evaluate import Evaluation

Estimate = tuple[float, float, float]  # (point, 95 % low, 95 % high)


def pool_estimates(estimates: Sequence[Estimate], *, bounded: bool = True) -> Estimate:
    """(mean, low, high) over splits by Rubin's rules, within [0, 1] (AUCs, shares, risks)
    unless `bounded` is False (a difference of shares)."""
    if not estimates:
        raise JumeauError("pooling needs at least one split's estimate")
    points = np.array([e[0] for e in estimates], dtype=float)
    errors = np.array([(e[2] - e[1]) / (2 * Z95) for e in estimates], dtype=float)
    within = float(np.mean(errors**2))
    between = float(points.var(ddof=1)) if len(points) > 1 else 0.0
    margin = Z95 * float(np.sqrt(within + (1 + 1 / len(points)) * between))
    mean = float(points.mean())
    if not bounded:
        return mean, mean - margin, mean + margin
    return mean, max(0.0, mean - margin), min(1.0, mean + margin)


def pool_membership(runs: Sequence[list[MembershipResult]]) -> list[MembershipResult]:
    """Each attack pooled over the splits (attacks matched by name; the first split's order)."""
    pooled = []
    for first in runs[0]:
        same = [r for results in runs for r in results if r.attack == first.attack]
        auc = pool_estimates([(r.auc, r.auc_low, r.auc_high) for r in same])
        ceiling = pool_estimates([(r.ceiling_auc, r.ceiling_low, r.ceiling_high) for r in same])
        pooled.append(
            replace(
                first,
                auc=auc[0],
                auc_low=auc[1],
                auc_high=auc[2],
                ceiling_auc=ceiling[0],
                ceiling_low=ceiling[1],
                ceiling_high=ceiling[2],
                n_members=sum(r.n_members for r in same),
                n_non_members=sum(r.n_non_members for r in same),
            )
        )
    return pooled


def pool_attacks(reports: Sequence[AttackReport]) -> AttackReport:
    """Each anonymeter attack pooled over the splits where it ran (matched by attack and what it
    attacked); an attack that ran on no split keeps the first split's reason."""
    results = []
    for first in reports[0].results:
        same = [
            r
            for report in reports
            for r in report.results
            if (r.attack, r.detail) == (first.attack, first.detail) and _complete(r)
        ]
        if not same:
            results.append(first)
            continue
        risk = pool_estimates([(r.risk, r.risk_low, r.risk_high) for r in same])  # type: ignore[misc]
        ceilings = [r for r in same if _complete_ceiling(r)]
        ceiling: Estimate | tuple[None, None, None] = (
            pool_estimates([(r.ceiling_risk, r.ceiling_low, r.ceiling_high) for r in ceilings])  # type: ignore[misc]
            if ceilings
            else (None, None, None)
        )
        results.append(
            replace(
                first,
                n_attacks=sum(r.n_attacks for r in same),
                risk=risk[0],
                risk_low=risk[1],
                risk_high=risk[2],
                attack_rate=_mean([r.attack_rate for r in same]),
                control_rate=_mean([r.control_rate for r in same]),
                baseline_rate=_mean([r.baseline_rate for r in same]),
                ceiling_risk=ceiling[0],
                ceiling_low=ceiling[1],
                ceiling_high=ceiling[2],
            )
        )
    return AttackReport(settings=reports[0].settings | {"splits": len(reports)}, results=results)


def pool_evaluations(main: Evaluation, others: Sequence[Evaluation]) -> Evaluation:
    """`main` (the released cohort's split) with its privacy evidence pooled with `others`.

    Pooled: DCR share, near-copy detection, membership inference, the anonymeter attacks and the
    similarity filter's counts (summed: the filter's test compares rates). Kept from `main`:
    fidelity, utility, exact copies (each split's copies are counted and summed, a copy on any
    split is a copy), distances shown in the histograms."""
    if not others:
        return main
    runs = [main, *others]
    pooled: dict[str, Any] = {
        "privacy_splits": len(runs),
        "privacy_split_evidence": [_split_summary(e) for e in runs],
        "exact_copies": sum(e.exact_copies for e in runs),
        "ceiling_dcr_share": float(np.mean([e.ceiling_dcr_share for e in runs])),
        "outsiders_removed": (
            sum(e.outsiders_removed[0] for e in runs),
            sum(e.outsiders_removed[1] for e in runs),
        ),
    }
    intervals = [e.dcr_share_interval for e in runs]
    if all(i is not None for i in intervals):
        share = pool_estimates(
            [(e.dcr_share, *e.dcr_share_interval) for e in runs]  # type: ignore[misc]
        )
        pooled |= {"dcr_share": share[0], "dcr_share_interval": (share[1], share[2])}
    else:
        pooled["dcr_share"] = float(np.mean([e.dcr_share for e in runs]))
    baselines = [(e.baseline_dcr_share, e.baseline_dcr_share_interval) for e in runs]
    if all(share is not None and interval is not None for share, interval in baselines):
        base = pool_estimates([(b, *i) for b, i in baselines])  # type: ignore[misc]
        pooled |= {"baseline_dcr_share": base[0], "baseline_dcr_share_interval": base[1:]}
    excesses = [(e.baseline_excess, e.baseline_excess_interval) for e in runs]
    if all(excess is not None and interval is not None for excess, interval in excesses):
        excess = pool_estimates([(x, *i) for x, i in excesses], bounded=False)  # type: ignore[misc]
        pooled["baseline_excess_interval"] = excess[1:]
    detections = [(e.detection_repeated_auc, e.detection_interval) for e in runs]
    if all(auc is not None and interval is not None for auc, interval in detections):
        auc = pool_estimates([(a, *i) for a, i in detections])  # type: ignore[misc]
        pooled |= {"detection_repeated_auc": auc[0], "detection_interval": (auc[1], auc[2])}
    if all(e.membership is not None for e in runs):
        pooled["membership"] = pool_membership([e.membership for e in runs])  # type: ignore[misc]
    if all(e.attacks is not None for e in runs):
        pooled["attacks"] = pool_attacks([e.attacks for e in runs])  # type: ignore[misc]
    filtered = [e.filtered_while_sampling for e in runs]
    if all(counts is not None for counts in filtered):
        counts = np.array(filtered, dtype=int).sum(axis=0)
        pooled["filtered_while_sampling"] = (int(counts[0]), int(counts[1]))
    return replace(main, **pooled)


def _split_summary(evaluation: Evaluation) -> dict[str, Any]:
    """One split's own privacy numbers, kept in report.json beside the pooled ones."""
    return {
        "seed": evaluation.seed,
        "n_train": evaluation.n_train,
        "n_holdout": evaluation.n_holdout,
        "dcr_share": evaluation.dcr_share,
        "independent_marginals_dcr_share": evaluation.baseline_dcr_share,
        "exact_copies": evaluation.exact_copies,
        "near_copy_detection_auc": evaluation.detection_repeated_auc,
        "membership_auc": (
            None
            if evaluation.membership is None
            else {r.attack: r.auc for r in evaluation.membership}
        ),
        "attack_risk": (
            None
            if evaluation.attacks is None
            else {f"{r.attack}: {r.detail}": r.risk for r in evaluation.attacks.results}
        ),
        "filter_removed": evaluation.filtered_while_sampling,
    }


def _complete(r: AttackResult) -> bool:
    return r.risk is not None and r.risk_low is not None and r.risk_high is not None


def _complete_ceiling(r: AttackResult) -> bool:
    return r.ceiling_risk is not None and r.ceiling_low is not None and r.ceiling_high is not None


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None
