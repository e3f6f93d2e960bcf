"""The analyses a trial statistician would pre-specify, one trial at a time.

* ``unadjusted``: the difference between arms (OLS on arm indicators, i.e. a two-sample
  comparison; a Cox model on the arm for a time to event).
* ``ancova``: the same regression adjusted for baseline covariates.
* ``procova``: ANCOVA with each patient's prognostic score — the prediction of their control
  outcome by a model trained on historical data — as an extra covariate (Schuler et al. 2021; EMA
  qualification opinion, 2022).

Continuous and responder endpoints use OLS with HC2 heteroscedasticity-robust standard errors
(statsmodels) and t quantiles, which keep the test valid when the prognostic model is wrong or
the variance differs between arms. HC2 rather than HC3: in a randomised trial HC2 is unbiased
for the variance of the difference in means (Lin, Ann Appl Stat 2013; Imbens & Kolesár 2016),
while HC3 is conservative in small trials (measured: type-I error 3.1 % instead of 5 % in
2,000 null trials of 40 xenografts). A responder endpoint is then analysed on the
risk-difference scale (the linear-probability ANCOVA the FDA's 2023 covariate-adjustment
guidance accepts). A time to event uses lifelines' Cox model; its adjusted hazard ratio is
conditional, which differs from the marginal one even without confounding
(non-collapsibility), so its "bias" against a marginal truth is not an error of the method —
the docs say so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from jumeau.errors import JumeauError

ROBUST_COVARIANCE = "HC2"


@dataclass(frozen=True)
class Estimate:
    """One treated arm against control, by one analysis."""

    comparison: str
    analysis: str
    estimate: float
    se: float
    lower: float
    upper: float
    p_value: float
    n: int

    def rejects(self, alpha: float) -> bool:
        return bool(self.p_value < alpha)

    @classmethod
    def with_interval(
        cls,
        comparison: str,
        analysis: str,
        estimate: float,
        se: float,
        quantile: float,
        p_value: float,
        n: int,
    ) -> Estimate:
        """An estimate with its interval estimate ± quantile · se."""
        return cls(
            comparison,
            analysis,
            estimate,
            se,
            estimate - quantile * se,
            estimate + quantile * se,
            p_value,
            n,
        )


def as_numbers(series: pd.Series) -> np.ndarray:
    """A column's numbers as float64, NaN where there is none — categories of numbers (an event
    column coded 0/1) included, which `pd.to_numeric` alone refuses."""
    return pd.to_numeric(series.astype("object"), errors="coerce").to_numpy(dtype=float)


def required_numbers(series: pd.Series, name: str) -> np.ndarray:
    """:func:`as_numbers`, refusing a column with no number at all (a wrong column named)."""
    values = as_numbers(series)
    if np.isnan(values).all():
        raise JumeauError(f"the column {name!r} holds no numbers")
    return values


def covariate_matrix(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, list[str]]:
    """Numbers as they are, categories as indicators (first level dropped), missing numbers
    filled with the column mean: under randomisation, simple imputation of *baseline* covariates
    keeps the treatment estimate unbiased (EMA guideline on adjustment for baseline covariates)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise JumeauError(f"covariate(s) not in the trial data: {', '.join(missing)}")
    parts: list[np.ndarray] = []
    names: list[str] = []
    for name in columns:
        series = frame[name]
        if isinstance(series.dtype, pd.CategoricalDtype) or series.dtype == object:
            levels = (
                list(series.cat.categories)
                if isinstance(series.dtype, pd.CategoricalDtype)
                else sorted(series.dropna().unique(), key=str)
            )
            for level in levels[1:]:
                parts.append((series == level).fillna(False).to_numpy(dtype=float))
                names.append(f"{name}={level}")
            continue
        values = as_numbers(series)
        if np.isnan(values).all():
            raise JumeauError(f"covariate {name!r} has no numeric value")
        values = np.where(np.isnan(values), np.nanmean(values), values)
        parts.append(values)
        names.append(name)
    matrix = np.column_stack(parts) if parts else np.empty((len(frame), 0))
    return matrix, names


def analyse_continuous(
    outcome: np.ndarray,
    arms: np.ndarray,
    control: str,
    treated: list[str],
    analysis: str,
    covariates: np.ndarray | None = None,
    prognostic: np.ndarray | None = None,
    alpha: float = 0.05,
) -> list[Estimate]:
    """OLS of the outcome on arm indicators (+ covariates, + prognostic score), HC2 errors."""
    import statsmodels.api as sm

    design, kept = _design(outcome, arms, treated, analysis, covariates, prognostic)
    y = outcome[kept]
    if (arms[kept] == control).sum() < 2:
        raise JumeauError("fewer than two control patients with an outcome")
    fit = sm.OLS(y, design).fit(cov_type=ROBUST_COVARIANCE, use_t=True)
    quantile = stats.t.ppf(1 - alpha / 2, fit.df_resid)
    return [
        Estimate.with_interval(
            name,
            analysis,
            float(fit.params[index]),
            float(fit.bse[index]),
            quantile,
            float(fit.pvalues[index]),
            int(kept.sum()),
        )
        for index, name in enumerate(treated, start=1)
    ]


def analyse_survival(
    time: np.ndarray,
    event: np.ndarray,
    arms: np.ndarray,
    control: str,
    treated: list[str],
    analysis: str,
    covariates: np.ndarray | None = None,
    prognostic: np.ndarray | None = None,
    alpha: float = 0.05,
) -> list[Estimate]:
    """Cox model (lifelines) on arm indicators (+ covariates, + prognostic score): log HR."""
    from lifelines import CoxPHFitter

    design, kept = _design(time, arms, treated, analysis, covariates, prognostic)
    names = [f"x{i}" for i in range(design.shape[1] - 1)]
    table = pd.DataFrame(design[:, 1:], columns=names)
    table["time"] = time[kept]
    table["event"] = event[kept]
    if table["event"].sum() < 2:
        raise JumeauError("fewer than two events: the hazard ratio cannot be estimated")
    fitter = CoxPHFitter().fit(table, "time", "event")
    quantile = stats.norm.ppf(1 - alpha / 2)
    estimates = []
    for name, column in zip(treated, names, strict=False):  # arm indicators come first
        estimate = float(fitter.params_[column])
        se = float(fitter.standard_errors_[column])
        p_value = float(2 * stats.norm.sf(abs(estimate / se)))
        estimates.append(
            Estimate.with_interval(name, analysis, estimate, se, quantile, p_value, int(kept.sum()))
        )
    return estimates


def _design(
    outcome: np.ndarray,
    arms: np.ndarray,
    treated: list[str],
    analysis: str,
    covariates: np.ndarray | None,
    prognostic: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """[1, treated-arm indicators, covariates (ancova/procova), prognostic score (procova)]
    on the patients with an outcome."""
    if analysis not in ("unadjusted", "ancova", "procova"):
        raise JumeauError(f"unknown analysis {analysis!r}; use unadjusted, ancova or procova")
    columns = [np.ones(len(outcome))] + [(arms == name).astype(float) for name in treated]
    if analysis in ("ancova", "procova") and covariates is not None and covariates.size:
        columns.extend(covariates.T)
    if analysis == "procova":
        if prognostic is None:
            raise JumeauError("PROCOVA needs a prognostic score for every patient")
        columns.append(np.asarray(prognostic, dtype=float))
    design = np.column_stack(columns)
    kept = ~np.isnan(outcome) & np.isfinite(design).all(axis=1)
    design = design[kept]
    return design[:, independent_columns(design, 1 + len(treated))], kept


def independent_columns(design: np.ndarray, protected: int) -> np.ndarray:
    """Columns to keep: the intercept and arm indicators always, then each adjustment column
    only if it adds information — a category nobody in this trial has, or a prognostic score
    that is a linear function of the covariates already there, would make the fit singular."""
    keep = np.zeros(design.shape[1], dtype=bool)
    keep[:protected] = True
    scale = np.abs(design).max(axis=0)
    scaled = design / np.where(scale > 0, scale, 1.0)
    rank = np.linalg.matrix_rank(scaled[:, keep])
    for column in range(protected, design.shape[1]):
        keep[column] = True
        grown = np.linalg.matrix_rank(scaled[:, keep])
        if grown > rank:
            rank = grown
        else:
            keep[column] = False
    return keep
