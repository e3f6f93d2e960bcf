"""The statistician's check of artificial courses: fit the same linear mixed model to the real and
to the artificial cohort, and see whether the artificial estimates fall inside the real ones'
95 % confidence intervals.

A trialist analysing repeated measurements fits `measure ~ time [+ baseline covariates]` with a
random intercept and a random slope on time per patient. An artificial cohort that reproduces
the mean trajectory, the effects of baseline covariates *and* the split of variability between
patients (random effects) and within patients (residual) gives the same answers as the real one;
a generator that only matches marginal distributions per visit usually gets the variance
components wrong, which is why they are reported beside the fixed effects.

Numerical details: time is divided by the standard deviation of the real visit times before
fitting (the same divisor on both sides), because a time axis in days or hours next to a random
intercept makes the optimiser struggle; every estimate is reported back in the original units
(per one unit of the time column). Baseline categories are coded as indicators against the
first level of the schema (the reference), built here rather than by the formula so that the real
and the artificial fit have the same terms even when a level is absent on one side. When the
random-slope model fails or does not converge on either side, both sides are refitted with a
random intercept only (so that their variance components stay comparable) and the reason is kept
in `notes`; statsmodels' warnings are recorded there too, never raised.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from jumeau.data.longitudinal import LongitudinalCohort
from jumeau.data.schema import CATEGORY_KINDS, NUMERIC_KINDS
from jumeau.errors import DataError
from jumeau.evaluation.features import category_codes
from jumeau.generators.encoding import numeric_values

Z_95 = 1.959963984540054
MIN_PATIENTS = 3  # fewer patients than this: no mixed model is fitted on that side


@dataclass(frozen=True)
class FixedEffect:
    """One fixed effect, estimated on the real and on the artificial cohort (original units)."""

    term: str
    real_estimate: float
    real_ci: tuple[float, float]
    artificial_estimate: float
    artificial_ci: tuple[float, float]

    @property
    def inside_real_ci(self) -> bool:
        """Whether the artificial estimate lies within the real 95 % CI (False when either is
        missing)."""
        low, high = self.real_ci
        value = self.artificial_estimate
        return bool(np.isfinite([low, high, value]).all() and low <= value <= high)

    def as_dict(self) -> dict[str, Any]:
        return json_ready(
            {
                "term": self.term,
                "real_estimate": self.real_estimate,
                "real_ci": list(self.real_ci),
                "artificial_estimate": self.artificial_estimate,
                "artificial_ci": list(self.artificial_ci),
                "inside_real_ci": self.inside_real_ci,
            }
        )


@dataclass(frozen=True)
class VarianceComponents:
    """Standard deviations of the random effects and of the residual (original units)."""

    intercept_sd: float
    slope_sd: float  # per unit of time; NaN for a random-intercept-only model
    residual_sd: float
    intercept_slope_correlation: float  # NaN for a random-intercept-only model

    def as_dict(self) -> dict[str, Any]:
        return json_ready(
            {
                "intercept_sd": self.intercept_sd,
                "slope_sd": self.slope_sd,
                "residual_sd": self.residual_sd,
                "intercept_slope_correlation": self.intercept_slope_correlation,
            }
        )


NO_VARIANCE = VarianceComponents(math.nan, math.nan, math.nan, math.nan)


@dataclass(frozen=True)
class MixedModelComparison:
    """The same linear mixed model on the real and on the artificial cohort."""

    measure: str
    time: str
    covariates: tuple[str, ...]
    formula: str  # with the original column names; time is fitted as time / time_scale
    random_slope: bool  # False when the fit fell back to a random intercept only
    time_scale: float  # the real visit times' sd; estimates are per one unit of `time`
    fixed_effects: tuple[FixedEffect, ...]
    real_variance: VarianceComponents
    artificial_variance: VarianceComponents
    real_converged: bool
    artificial_converged: bool
    n_real: tuple[int, int]  # patients, visits used (a measured value, covariates present)
    n_artificial: tuple[int, int]
    notes: tuple[str, ...]

    @property
    def n_inside_real_ci(self) -> int:
        return sum(effect.inside_real_ci for effect in self.fixed_effects)

    @property
    def inside_real_ci(self) -> str:
        """'count/total' of fixed effects whose artificial estimate is inside the real CI."""
        return f"{self.n_inside_real_ci}/{len(self.fixed_effects)}"

    def to_frame(self) -> pd.DataFrame:
        """One row per fixed effect: estimates, CIs and whether the artificial one is inside."""
        rows = [
            {
                "term": e.term,
                "real_estimate": e.real_estimate,
                "real_low": e.real_ci[0],
                "real_high": e.real_ci[1],
                "artificial_estimate": e.artificial_estimate,
                "artificial_low": e.artificial_ci[0],
                "artificial_high": e.artificial_ci[1],
                "inside_real_ci": e.inside_real_ci,
            }
            for e in self.fixed_effects
        ]
        return pd.DataFrame(rows)

    def as_dict(self) -> dict[str, Any]:
        return json_ready(
            {
                "measure": self.measure,
                "time": self.time,
                "covariates": list(self.covariates),
                "formula": self.formula,
                "random_slope": self.random_slope,
                "time_scale": self.time_scale,
                "fixed_effects": [e.as_dict() for e in self.fixed_effects],
                "inside_real_ci": self.n_inside_real_ci,
                "n_fixed_effects": len(self.fixed_effects),
                "variance": {
                    "real": self.real_variance.as_dict(),
                    "artificial": self.artificial_variance.as_dict(),
                },
                "converged": {"real": self.real_converged, "artificial": self.artificial_converged},
                "n_real": {"patients": self.n_real[0], "visits": self.n_real[1]},
                "n_artificial": {"patients": self.n_artificial[0], "visits": self.n_artificial[1]},
                "notes": list(self.notes),
            }
        )


def mixed_model_comparison(
    real: LongitudinalCohort,
    artificial: LongitudinalCohort,
    measure: str,
    covariates: Sequence[str] | None = None,
) -> MixedModelComparison:
    """Fit `measure ~ time [+ covariates]` with a random intercept and slope on time per patient
    (REML, statsmodels `MixedLM`) to both cohorts and compare the estimates.

    `measure` is a numeric varying column; `covariates` are static (baseline) columns, numeric
    or categorical. Fit problems never raise: they fall back to a random intercept only, or to
    missing estimates, with the reason in `notes`.
    """
    columns = real.columns
    _check_measure(real, measure)
    covariates = tuple(covariates or ())
    for name in covariates:
        if name not in columns.static:
            raise DataError(
                f"mixed model covariate '{name}' is not a static (baseline) column; "
                f"static columns: {list(columns.static)}"
            )
    for name in (columns.id, columns.time, measure, *covariates):
        if name not in artificial.data.columns:
            raise DataError(f"the artificial cohort has no column '{name}'")

    notes: list[str] = []
    terms, labels = _terms(real, covariates)
    real_frame = _design(real, measure, covariates, terms)
    art_frame = _design(artificial, measure, covariates, terms)
    times = real_frame["t"].to_numpy(dtype=float)
    scale = float(np.std(times, ddof=1)) if len(times) > 1 else math.nan
    if not np.isfinite(scale) or scale <= 0:
        raise DataError(
            f"the real visit times ('{columns.time}') do not vary: no trajectory over time to model"
        )
    real_frame["t"] = real_frame["t"] / scale
    art_frame["t"] = art_frame["t"] / scale

    fits: dict[str, _Fit | None] = {}
    random_slope = True
    for side, frame in (("real", real_frame), ("artificial", art_frame)):
        fits[side] = _fit(frame, terms, random_slope=True, side=side, notes=notes)
    if any(fit is None or not fit.converged for fit in fits.values()):
        failed = [side for side, fit in fits.items() if fit is None or not fit.converged]
        notes.append(
            f"the random-slope model failed or did not converge on the {' and '.join(failed)} "
            "cohort: both refitted with a random intercept only"
        )
        random_slope = False
        for side, frame in (("real", real_frame), ("artificial", art_frame)):
            fits[side] = _fit(frame, terms, random_slope=False, side=side, notes=notes)

    real_fit, art_fit = fits["real"], fits["artificial"]
    effects = []
    for term in ("Intercept", "t", *terms):
        label = {"Intercept": "Intercept", "t": columns.time}.get(term) or labels[term]
        divisor = scale if term == "t" else 1.0
        real_value, real_ci = _estimate(real_fit, term, divisor)
        art_value, art_ci = _estimate(art_fit, term, divisor)
        effects.append(FixedEffect(label, real_value, real_ci, art_value, art_ci))
    formula = f"{measure} ~ {' + '.join([columns.time, *covariates])}"
    return MixedModelComparison(
        measure=measure,
        time=columns.time,
        covariates=covariates,
        formula=formula,
        random_slope=random_slope,
        time_scale=scale,
        fixed_effects=tuple(effects),
        real_variance=_variance(real_fit, scale, random_slope),
        artificial_variance=_variance(art_fit, scale, random_slope),
        real_converged=real_fit is not None and real_fit.converged,
        artificial_converged=art_fit is not None and art_fit.converged,
        n_real=(int(real_frame["g"].nunique()), len(real_frame)),
        n_artificial=(int(art_frame["g"].nunique()), len(art_frame)),
        notes=tuple(dict.fromkeys(notes)),
    )


# ---------------------------------------------------------------------- design
def _check_measure(cohort: LongitudinalCohort, measure: str) -> None:
    if measure not in cohort.columns.varying:
        raise DataError(
            f"'{measure}' is not a varying (per-visit) column; varying columns: "
            f"{list(cohort.columns.varying)}"
        )
    kind = cohort.schema.columns[measure].kind
    if kind not in NUMERIC_KINDS:
        raise DataError(f"'{measure}' is {kind.value}: a mixed model needs a numeric measure")


def _terms(real: LongitudinalCohort, covariates: tuple[str, ...]) -> tuple[list[str], dict]:
    """Internal term names (safe in a formula) and their labels: a numeric covariate is one
    term, a categorical one an indicator per non-reference level of the schema."""
    terms: list[str] = []
    labels: dict[str, str] = {}
    for i, name in enumerate(covariates):
        column = real.schema.columns[name]
        if column.kind in CATEGORY_KINDS:
            for k, level in enumerate(list(column.categories or [])[1:], start=1):
                term = f"c{i}_{k}"
                terms.append(term)
                labels[term] = f"{name}[{level}]"
        else:
            term = f"c{i}"
            terms.append(term)
            labels[term] = name
    return terms, labels


def _design(
    cohort: LongitudinalCohort, measure: str, covariates: tuple[str, ...], terms: list[str]
) -> pd.DataFrame:
    """The model frame (y, t, g and the covariate terms), rows with any missing value dropped."""
    columns, data = cohort.columns, cohort.data
    schema = cohort.schema
    frame = pd.DataFrame(
        {
            "y": numeric_values(data[measure], schema.columns[measure].kind),
            "t": numeric_values(data[columns.time], schema.columns[columns.time].kind),
            "g": pd.factorize(data[columns.id])[0],
        }
    )
    for i, name in enumerate(covariates):
        column = schema.columns[name]
        if column.kind in CATEGORY_KINDS:
            codes = category_codes(data[name], list(column.categories or []))
            for term in terms:
                if term.startswith(f"c{i}_"):
                    level = int(term.rsplit("_", 1)[1])
                    frame[term] = np.where(codes < 0, np.nan, (codes == level).astype(float))
        else:
            frame[f"c{i}"] = numeric_values(data[name], column.kind)
    return frame.dropna().reset_index(drop=True)


# ---------------------------------------------------------------------- fitting
@dataclass(frozen=True)
class _Fit:
    params: pd.Series
    bse: pd.Series
    cov_re: np.ndarray
    residual_variance: float
    converged: bool


def _fit(
    frame: pd.DataFrame, terms: list[str], *, random_slope: bool, side: str, notes: list[str]
) -> _Fit | None:
    """One REML fit, with statsmodels' warnings recorded in `notes` (never raised)."""
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    if frame["g"].nunique() < MIN_PATIENTS:
        notes.append(f"{side} cohort: fewer than {MIN_PATIENTS} patients with a measured value")
        return None
    # a term constant on this side (a level absent, a covariate without spread) cannot be
    # estimated there: leave it out, its estimate is missing on this side
    used = [t for t in terms if frame[t].nunique() > 1]
    dropped = [t for t in terms if t not in used]
    if dropped:
        notes.append(f"{side} cohort: {len(dropped)} covariate term(s) without spread left out")
    formula = "y ~ " + " + ".join(["t", *used])
    model_label = "random intercept and slope" if random_slope else "random intercept"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = smf.mixedlm(
                formula, frame, groups=frame["g"], re_formula="~t" if random_slope else None
            )
            result = model.fit(reml=True)
            # standard errors are computed lazily: a singular fit warns here (sqrt of < 0)
            bse_values = np.asarray(result.bse_fe, dtype=float)
        except Exception as error:  # statsmodels raises many kinds on singular designs
            notes.append(f"{side} cohort, {model_label}: fit failed ({type(error).__name__})")
            return None
    warned = any(issubclass(record.category, ConvergenceWarning) for record in caught)
    if caught:  # one note per fit: the first warning (statsmodels retries and repeats itself)
        first = caught[0]
        message = (str(first.message).strip().splitlines() or [""])[0]
        more = f" (and {len(caught) - 1} more warning(s))" if len(caught) > 1 else ""
        notes.append(f"{side} cohort, {model_label}: {first.category.__name__}: {message}{more}")
    params = pd.Series(result.fe_params, dtype=float)
    bse = pd.Series(bse_values, index=params.index)
    cov_re = np.atleast_2d(np.asarray(result.cov_re, dtype=float))
    finite = bool(np.isfinite(params).all() and np.isfinite(bse).all())
    finite = finite and bool(np.isfinite(cov_re).all())
    converged = bool(result.converged) and not warned and finite
    return _Fit(params, bse, cov_re, float(result.scale), converged)


def _estimate(fit: _Fit | None, term: str, divisor: float) -> tuple[float, tuple[float, float]]:
    if fit is None or term not in fit.params.index:
        return math.nan, (math.nan, math.nan)
    value = float(fit.params[term]) / divisor
    half = Z_95 * float(fit.bse[term]) / divisor
    return value, (value - half, value + half)


def _variance(fit: _Fit | None, scale: float, random_slope: bool) -> VarianceComponents:
    if fit is None:
        return NO_VARIANCE
    cov = fit.cov_re
    intercept_sd = math.sqrt(max(cov[0, 0], 0.0))
    residual_sd = math.sqrt(max(fit.residual_variance, 0.0))
    if not random_slope or cov.shape[0] < 2:
        return VarianceComponents(intercept_sd, math.nan, residual_sd, math.nan)
    slope_sd = math.sqrt(max(cov[1, 1], 0.0))
    denominator = intercept_sd * slope_sd
    correlation = float(cov[0, 1] / denominator) if denominator > 0 else math.nan
    return VarianceComponents(intercept_sd, slope_sd / scale, residual_sd, correlation)


def json_ready(value: Any) -> Any:
    """JSON-ready: NaN and infinities as None (JSON has neither), numpy scalars as Python."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value
