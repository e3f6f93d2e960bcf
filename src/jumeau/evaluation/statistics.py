"""Small statistics shared by the privacy measures: ROC AUCs with DeLong's variance."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from jumeau.errors import JumeauError


def delong_auc(positives: np.ndarray, negatives: np.ndarray) -> tuple[float, float]:
    """ROC AUC of scores (positives should score higher) and DeLong's variance of it (DeLong,
    DeLong & Clarke-Pearson, Biometrics 1988), from the placement values: V10ᵢ = P(positive i
    beats a negative), V01ⱼ = P(a positive beats negative j), ties counting half;
    var = var(V10)/m + var(V01)/n. scikit-learn gives the AUC but no interval; this is the
    standard closed form, a few lines of numpy."""
    positives = np.asarray(positives, dtype=float)
    negatives = np.asarray(negatives, dtype=float)
    m, n = len(positives), len(negatives)
    if m == 0 or n == 0:
        raise JumeauError("an AUC needs at least one positive and one negative")
    wins = (positives[:, None] > negatives[None, :]) + 0.5 * (
        positives[:, None] == negatives[None, :]
    )
    v10, v01 = wins.mean(axis=1), wins.mean(axis=0)
    auc = float(v10.mean())
    variance = (v10.var(ddof=1) / m if m > 1 else 0.0) + (v01.var(ddof=1) / n if n > 1 else 0.0)
    return auc, float(variance)


def mean_auc_interval(
    runs: list[tuple[float, float]], *, independent: bool, level: float = 0.95
) -> tuple[float, float, float]:
    """(mean AUC, low, high) over runs of (AUC, variance). Runs on disjoint patients are
    independent (the mean's variance is the sum over runs² ); runs that reuse patients are not,
    and the mean of their variances is the honest (conservative) one."""
    aucs = np.array([auc for auc, _ in runs])
    variances = np.array([var for _, var in runs])
    variance = variances.sum() / len(runs) ** 2 if independent else variances.mean()
    auc = float(aucs.mean())
    margin = float(ndtri((1 + level) / 2)) * float(np.sqrt(variance))
    return auc, max(0.0, auc - margin), min(1.0, auc + margin)
