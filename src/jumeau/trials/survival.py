"""Restricted mean survival time (RMST) pseudo-observations: a time-to-event outcome turned into
one number per patient that linear models can adjust, with censoring handled.

The pseudo-value of patient i is n·θ̂ − (n − 1)·θ̂₋ᵢ, where θ̂ is the Kaplan–Meier RMST up to
τ on everyone and θ̂₋ᵢ on everyone but i (Andersen, Hansen & Klein, Lifetime Data Anal 2004).
Their mean difference between arms estimates the RMST difference — an effect measure in days
that clinicians read directly and that, unlike the hazard ratio, is collapsible, so ANCOVA and
PROCOVA on it estimate the same marginal effect with less variance.

The n leave-one-out Kaplan–Meier curves are computed at once (patients × event times) rather
than by refitting lifelines n times: on 686 patients that is 0.05 s instead of 8–16 s, which is
what makes pseudo-values usable inside simulations. A test checks them against lifelines.
"""

from __future__ import annotations

import numpy as np

from jumeau.errors import JumeauError


def rmst_pseudo_values(time: np.ndarray, event: np.ndarray, tau: float) -> np.ndarray:
    """One RMST(τ) pseudo-observation per patient."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    if time.shape != event.shape or time.ndim != 1:
        raise JumeauError("time and event must be two columns of the same length")
    if np.isnan(time).any() or np.isnan(event).any():
        raise JumeauError("pseudo-values need a time and an event indicator for every patient")
    if not np.isin(event, (0, 1)).all():
        raise JumeauError("the event indicator must hold 0/1")
    if len(time) < 3:
        raise JumeauError("pseudo-values need at least 3 patients")
    if not tau > 0 or tau > time.max():
        raise JumeauError(f"tau must be within the follow-up (0, {time.max():g}], not {tau}")
    n = len(time)
    grid = np.unique(time[(event == 1) & (time <= tau)])  # event times up to τ
    at_risk = (time[None, :] >= grid[:, None]).sum(axis=1).astype(float)  # (K,)
    deaths = ((time[None, :] == grid[:, None]) & (event[None, :] == 1)).sum(axis=1)
    overall = _rmst(grid, deaths[None, :], at_risk[None, :], tau)[0]
    # leaving patient i out removes them from the risk sets they were in, and their death
    risk_i = (time[:, None] >= grid[None, :]).astype(float)  # (n, K)
    death_i = ((time[:, None] == grid[None, :]) & (event[:, None] == 1)).astype(float)
    leave_one_out = _rmst(grid, deaths[None, :] - death_i, at_risk[None, :] - risk_i, tau)
    return n * overall - (n - 1) * leave_one_out


def _rmst(grid: np.ndarray, deaths: np.ndarray, at_risk: np.ndarray, tau: float) -> np.ndarray:
    """∫₀^τ S(t) dt of Kaplan–Meier curves given deaths and risk sets at the event times."""
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(at_risk > 0, 1.0 - deaths / at_risk, 1.0)
    survival = np.cumprod(factor, axis=1)  # S just after each event time
    steps = np.diff(np.r_[grid, tau])  # S(t_k) holds from t_k to the next event time (or τ)
    first = grid[0] if len(grid) else tau
    return first + (survival * steps[None, :]).sum(axis=1)
