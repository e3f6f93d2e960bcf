"""Augmented control arms: borrow historical or artificial control patients, honestly.

Borrowed controls are reweighted to look like the trial's patients (propensity-score odds
weights from a logistic model of "in the trial" against "borrowed", on baseline covariates), and
their total weight is capped at their Kish effective sample size, so that a few heavily weighted
patients never count as many. Balance is shown as standardised mean differences before and after.

Weighting can only fix differences in *measured* covariates. When the borrowed patients differ
in their outcome for other reasons (drift: another era, another standard of care, a generator
that missed something), pooling biases the estimate and inflates the type-I error. Two discounts
limit the damage: test-then-pool (borrow only if the borrowed and concurrent controls' outcomes
are compatible, Viele et al., Pharm Stat 2014) and a fixed power prior (each borrowed patient
counts a0 ∈ [0, 1] of a concurrent one, Ibrahim & Chen 2000). :func:`borrowing_simulation`
measures what each costs and saves under increasing drift, so users see the risk before using it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from jumeau.errors import JumeauError
from jumeau.trials.analysis import (
    ROBUST_COVARIANCE,
    Estimate,
    analyse_continuous,
    covariate_matrix,
    independent_columns,
    required_numbers,
)

Discount = Literal["none", "test_then_pool", "power_prior"]
DISCOUNTS: tuple[Discount, ...] = ("none", "test_then_pool", "power_prior")


@dataclass(frozen=True)
class BorrowingResult:
    """The treatment effect with borrowed controls, and what borrowing did."""

    estimate: Estimate
    borrowed: bool
    effective_borrowed: float  # borrowed controls' weight in patients (after discount)
    pool_p_value: float | None
    balance: pd.DataFrame  # covariate, smd_before, smd_after


def augmented_control(
    trial: pd.DataFrame,
    external: pd.DataFrame,
    *,
    arm: str,
    control: str,
    outcome: str,
    covariates: list[str],
    discount: Discount = "test_then_pool",
    a0: float = 0.5,
    pool_alpha: float = 0.10,
    adjust: bool = True,
    alpha: float = 0.05,
) -> BorrowingResult:
    """Effect of each non-control arm of `trial` (column `arm`) against its concurrent controls
    plus the `external` controls, weighted and discounted. Outcome and covariates are columns
    of both frames."""
    if discount not in DISCOUNTS:
        raise JumeauError(f"unknown discount {discount!r}; use {', '.join(DISCOUNTS)}")
    if not 0 <= a0 <= 1:
        raise JumeauError(f"a0 must be within [0, 1], not {a0}")
    for name, frame in (("trial", trial), ("external", external)):
        missing = [c for c in [outcome, *covariates] if c not in frame.columns]
        if missing:
            raise JumeauError(f"the {name} data lack column(s): {', '.join(missing)}")
    if arm not in trial.columns:
        raise JumeauError(f"the trial data lack the arm column {arm!r}")
    if len(external) == 0:
        raise JumeauError("no external control to borrow; analyse the trial on its own")
    arms = trial[arm].astype(str).to_numpy()
    if control not in set(arms):
        raise JumeauError(f"no patient of the trial is in the control arm {control!r}")
    treated = sorted(set(arms) - {control})
    if len(treated) != 1:
        raise JumeauError(f"borrowing compares one treated arm with control; found {treated}")
    y_trial = required_numbers(trial[outcome], outcome)
    y_external = required_numbers(external[outcome], outcome)
    both = pd.concat([trial[covariates], external[covariates]], ignore_index=True)
    x, names = covariate_matrix(both, covariates)
    in_trial = np.r_[np.ones(len(trial)), np.zeros(len(external))].astype(bool)
    weights = _odds_weights(x, in_trial)
    balance = _balance(x, names, in_trial, weights)
    pool_p = None
    factor = 1.0
    if discount == "power_prior":
        factor = a0
    elif discount == "test_then_pool":
        concurrent = y_trial[arms == control]
        pool_p = _compatibility(concurrent, y_external, weights[~in_trial])
        factor = 0.0 if pool_p < pool_alpha else 1.0
    weights[~in_trial] *= factor
    arm_all = np.r_[arms, np.full(len(external), control, dtype=object)]
    y_all = np.r_[y_trial, y_external]
    estimate = _weighted_effect(y_all, arm_all, treated[0], x if adjust else None, weights, alpha)
    return BorrowingResult(
        estimate=estimate,
        borrowed=factor > 0,
        effective_borrowed=float(weights[~in_trial].sum()),
        pool_p_value=pool_p,
        balance=balance,
    )


def _odds_weights(x: np.ndarray, in_trial: np.ndarray) -> np.ndarray:
    """1 for trial patients; e/(1 − e) for borrowed ones, rescaled so they sum to their Kish
    effective sample size (the information they honestly carry)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    weights = np.ones(len(in_trial))
    external = ~in_trial
    if x.shape[1]:
        scaled = StandardScaler().fit_transform(x)
        model = LogisticRegression(C=1e4, max_iter=5000).fit(scaled, in_trial.astype(int))
        propensity = np.clip(model.predict_proba(scaled[external])[:, 1], 1e-3, 1 - 1e-3)
        raw = propensity / (1 - propensity)
    else:
        raw = np.ones(int(external.sum()))
    effective = raw.sum() ** 2 / np.square(raw).sum()
    weights[external] = raw / raw.sum() * effective
    return weights


def _balance(
    x: np.ndarray, names: list[str], in_trial: np.ndarray, weights: np.ndarray
) -> pd.DataFrame:
    """Standardised mean differences (trial − borrowed) / pooled sd, before and after weighting."""
    rows = []
    for j, name in enumerate(names):
        a, b, w = x[in_trial, j], x[~in_trial, j], weights[~in_trial]
        sd = np.sqrt((a.var() + b.var()) / 2)
        sd = sd if sd > 0 else 1.0
        weighted_mean = float(np.average(b, weights=w)) if w.sum() > 0 else float(b.mean())
        rows.append(
            {
                "covariate": name,
                "smd_before": float((a.mean() - b.mean()) / sd),
                "smd_after": float((a.mean() - weighted_mean) / sd),
            }
        )
    return pd.DataFrame(rows, columns=["covariate", "smd_before", "smd_after"])


def _compatibility(concurrent: np.ndarray, external: np.ndarray, weights: np.ndarray) -> float:
    """Two-sided p-value that concurrent and (weighted) borrowed controls share a mean outcome."""
    concurrent = concurrent[~np.isnan(concurrent)]
    keep = ~np.isnan(external)
    external, weights = external[keep], weights[keep]
    if len(concurrent) < 2 or weights.sum() <= 0:
        return 0.0
    mean_external = np.average(external, weights=weights)
    variance_external = np.average((external - mean_external) ** 2, weights=weights)
    effective = weights.sum() ** 2 / np.square(weights).sum()
    se = np.sqrt(concurrent.var(ddof=1) / len(concurrent) + variance_external / effective)
    if se == 0:
        return 1.0 if concurrent.mean() == mean_external else 0.0
    return float(2 * stats.norm.sf(abs(concurrent.mean() - mean_external) / se))


def _weighted_effect(
    y: np.ndarray,
    arms: np.ndarray,
    treated: str,
    x: np.ndarray | None,
    weights: np.ndarray,
    alpha: float,
) -> Estimate:
    """WLS of outcome on the treated indicator (+ covariates), HC2 robust standard errors;
    patients with zero weight (a discounted-away borrowing) drop out."""
    import statsmodels.api as sm

    columns = [np.ones(len(y)), (arms == treated).astype(float)]
    if x is not None and x.size:
        columns.extend(x.T)
    design = np.column_stack(columns)
    kept = ~np.isnan(y) & (weights > 0)
    design = design[kept]
    design = design[:, independent_columns(design, 2)]
    fit = sm.WLS(y[kept], design, weights=weights[kept]).fit(cov_type=ROBUST_COVARIANCE, use_t=True)
    return Estimate.with_interval(
        treated,
        "borrowing",
        float(fit.params[1]),
        float(fit.bse[1]),
        stats.t.ppf(1 - alpha / 2, fit.df_resid),
        float(fit.pvalues[1]),
        int(kept.sum()),
    )


def borrowing_simulation(
    design: Any,
    population: Any,
    *,
    external_size: int,
    drifts: list[float],
    n_trials: int = 500,
    discounts: tuple[Discount, ...] = DISCOUNTS,
    a0: float = 0.5,
    pool_alpha: float = 0.10,
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Trials of `design` analysed with their concurrent controls only and with `external_size`
    borrowed controls (drawn from the population's historical part, their outcome shifted by
    each drift), under the design's effect and under the null. Returns one row per drift ×
    method × scenario: rejection rate, bias, coverage, mean standard error."""
    from jumeau.trials.simulate import _observed, _progress, _randomise

    if design.endpoint.kind == "time_to_event":
        raise JumeauError("borrowing simulations use continuous or responder endpoints")
    rng = np.random.default_rng(seed)
    truth = population.estimand(design, seed)
    control = design.control.name
    treated = design.treated
    if len(treated) != 1:
        raise JumeauError("borrowing simulations need a two-arm design")
    treated_name = treated[0].name
    covariates = list(design.covariates)
    methods: list[str] = ["concurrent", *discounts]
    rows: list[dict[str, Any]] = []
    scenarios = {"alternative": design, "null": design.null()}
    with _progress(progress) as bar:
        task = bar.add_task("borrowing trials", total=len(drifts) * len(scenarios) * n_trials)
        for drift in drifts:
            for scenario, scenario_design in scenarios.items():
                true_effect = truth[treated_name] if scenario == "alternative" else 0.0
                for _ in range(n_trials):
                    draw = population.draw(scenario_design, design.sample_size, rng)
                    labels = _randomise(scenario_design, 1, rng)
                    observed = _observed(scenario_design, draw, labels, rng)["outcome"]
                    trial = draw.baseline.assign(__arm=labels.ravel(), __y=observed)
                    history = population.historical(scenario_design, external_size, rng)
                    external = history.baseline.assign(__y=history.outcomes[control] + drift)
                    for method in methods:
                        estimate = _borrowing_estimate(
                            trial,
                            external,
                            control,
                            covariates,
                            method,
                            a0,
                            pool_alpha,
                            design.alpha,
                        )
                        rows.append(
                            {
                                "drift": drift,
                                "scenario": scenario,
                                "method": method,
                                "estimate": estimate.estimate,
                                "se": estimate.se,
                                "covered": estimate.lower <= true_effect <= estimate.upper,
                                "rejects": estimate.p_value < design.alpha,
                                "true_effect": true_effect,
                            }
                        )
                    bar.update(task, advance=1)
    raw = pd.DataFrame(rows)
    summary = (
        raw.assign(error=raw["estimate"] - raw["true_effect"])
        .groupby(["drift", "scenario", "method"], sort=False)
        .agg(
            rejection_rate=("rejects", "mean"),
            bias=("error", "mean"),
            empirical_se=("estimate", "std"),
            mean_se=("se", "mean"),
            coverage=("covered", "mean"),
        )
        .reset_index()
    )
    return summary


def _borrowing_estimate(
    trial: pd.DataFrame,
    external: pd.DataFrame,
    control: str,
    covariates: list[str],
    method: str,
    a0: float,
    pool_alpha: float,
    alpha: float,
) -> Estimate:
    if method == "concurrent":
        x = covariate_matrix(trial, covariates)[0] if covariates else None
        arms = trial["__arm"].to_numpy()
        treated = sorted(set(arms) - {control})
        return analyse_continuous(
            trial["__y"].to_numpy(dtype=float),
            arms,
            control,
            treated,
            "ancova" if covariates else "unadjusted",
            x,
            None,
            alpha,
        )[0]
    return augmented_control(
        trial,
        external,
        arm="__arm",
        control=control,
        outcome="__y",
        covariates=covariates,
        discount=method,  # type: ignore[arg-type]
        a0=a0,
        pool_alpha=pool_alpha,
        alpha=alpha,
    ).estimate
