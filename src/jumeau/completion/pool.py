"""Rubin's rules: one analysis per completed cohort, pooled into one answer with honest errors.

Why written here: statsmodels pools only inside its own MICE loop (`MICE.combine`, with a normal
reference and no degrees of freedom) and lifelines does not pool at all; an analyst who completed
cohorts with jumeau needs to pool a statsmodels regression, a lifelines Cox model, or any pair of
estimates and variances. The formulas are Rubin (1987) with the small-sample degrees of freedom of
Barnard & Rubin (1999) when the complete-data degrees of freedom are known (statsmodels' residual
degrees of freedom; lifelines' large-sample Cox model has none, so the large-sample ones are used).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from jumeau.errors import JumeauError


@dataclass(frozen=True)
class PooledResult:
    """Pooled estimates, one row per term (see `table`), and what they were pooled from."""

    table: pd.DataFrame
    m: int
    complete_df: float | None
    alpha: float

    @property
    def estimates(self) -> pd.Series:
        return self.table["estimate"]

    @property
    def std_errors(self) -> pd.Series:
        return self.table["std_error"]

    def summary(self) -> pd.DataFrame:
        """The columns an analyst reports: estimate, standard error, CI, p, df and FMI."""
        return self.table[["estimate", "std_error", "ci_lower", "ci_upper", "p_value", "df", "fmi"]]

    def __repr__(self) -> str:
        return f"<PooledResult of {self.m} analyses>\n{self.summary().to_string()}"


def pool(
    results: Sequence[Any], *, complete_df: float | None = None, alpha: float = 0.05
) -> PooledResult:
    """Pool the same analysis run on each of m completed cohorts.

    `results`: statsmodels results (``params``, ``cov_params()``, ``df_resid``), lifelines fitters
    (``params_``, ``variance_matrix_``), or ``(estimates, variances)`` pairs of equal-length
    sequences or Series. `complete_df`: the analysis' degrees of freedom had no value been missing
    (taken from statsmodels' ``df_resid`` when not given; infinite for lifelines and pairs).
    """
    if isinstance(results, (str, bytes)) or len(results) < 2:
        raise JumeauError("pool needs the analyses of at least 2 completed cohorts")
    if not 0 < alpha < 1:
        raise JumeauError(f"alpha must be between 0 and 1, not {alpha}")
    extracted = [_estimates_and_variances(r) for r in results]
    names = extracted[0][0].index
    for estimates, _, _ in extracted[1:]:
        if not estimates.index.equals(names):
            raise JumeauError(
                "the analyses do not have the same terms; run the same model on every completed "
                "cohort"
            )
    if complete_df is None:
        dfs = [df for _, _, df in extracted if df is not None]
        complete_df = float(min(dfs)) if dfs else None
    if complete_df is not None and not complete_df > 0:
        raise JumeauError(f"complete_df must be positive, not {complete_df}")
    q = np.vstack([e.to_numpy(dtype=float) for e, _, _ in extracted])
    u = np.vstack([v.to_numpy(dtype=float) for _, v, _ in extracted])
    if not (np.isfinite(q).all() and np.isfinite(u).all()) or (u < 0).any():
        raise JumeauError("an analysis returned a non-finite estimate or a negative variance")
    table = rubin(q, u, complete_df=complete_df, alpha=alpha)
    table.index = names
    return PooledResult(table=table, m=len(results), complete_df=complete_df, alpha=alpha)


def rubin(
    estimates: np.ndarray, variances: np.ndarray, *, complete_df: float | None, alpha: float
) -> pd.DataFrame:
    """Rubin's rules on an (m × terms) array of estimates and their squared standard errors."""
    m = estimates.shape[0]
    q_bar = estimates.mean(axis=0)
    within = variances.mean(axis=0)
    between = estimates.var(axis=0, ddof=1)
    total = within + (1 + 1 / m) * between
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = np.where(within > 0, (1 + 1 / m) * between / within, np.inf)  # relative increase
        lam = np.where(total > 0, (1 + 1 / m) * between / total, 0.0)
        df_old = np.where(lam > 0, (m - 1) / lam**2, np.inf)
    if complete_df is None or math.isinf(complete_df):
        df = df_old
    else:
        df_observed = (complete_df + 1) / (complete_df + 3) * complete_df * (1 - lam)
        with np.errstate(divide="ignore"):
            df = 1 / (1 / df_old + np.where(df_observed > 0, 1 / df_observed, np.inf))
    std_error = np.sqrt(total)
    quantile = np.where(np.isinf(df), stats.norm.ppf(1 - alpha / 2), stats.t.ppf(1 - alpha / 2, df))
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.where(std_error > 0, q_bar / std_error, np.nan)
    p_value = np.where(
        np.isinf(df), 2 * stats.norm.sf(np.abs(statistic)), 2 * stats.t.sf(np.abs(statistic), df)
    )
    fmi = np.where(np.isinf(df), lam, (riv + 2 / (df + 3)) / (riv + 1))
    return pd.DataFrame(
        {
            "estimate": q_bar,
            "within": within,
            "between": between,
            "total": total,
            "std_error": std_error,
            "df": df,
            "ci_lower": q_bar - quantile * std_error,
            "ci_upper": q_bar + quantile * std_error,
            "statistic": statistic,
            "p_value": p_value,
            "riv": riv,
            "lambda": lam,
            "fmi": fmi,
        }
    )


def _estimates_and_variances(result: Any) -> tuple[pd.Series, pd.Series, float | None]:
    if isinstance(result, tuple) and len(result) == 2:
        estimates, variances = (pd.Series(np.asarray(x, dtype=float)) for x in result)
        if isinstance(result[0], pd.Series):
            estimates.index = variances.index = result[0].index
        if len(estimates) != len(variances):
            raise JumeauError("each (estimates, variances) pair must have equal lengths")
        return estimates, variances, None
    if hasattr(result, "params_") and hasattr(result, "variance_matrix_"):  # lifelines
        params = pd.Series(result.params_, dtype=float)
        variances = pd.Series(np.diag(np.asarray(result.variance_matrix_)), index=params.index)
        return params, variances, None
    if hasattr(result, "params") and hasattr(result, "cov_params"):  # statsmodels
        params = pd.Series(np.asarray(result.params, dtype=float))
        if isinstance(result.params, pd.Series):
            params.index = result.params.index
        variances = pd.Series(np.diag(np.asarray(result.cov_params())), index=params.index)
        df = getattr(result, "df_resid", None)
        return params, variances, float(df) if df is not None and np.isfinite(df) else None
    raise JumeauError(
        f"cannot pool a {type(result).__name__}: pass statsmodels results, lifelines fitters, "
        "or (estimates, variances) pairs"
    )
