"""What a score has learned, in terms a clinician and a regulator can check.

- Global importance: how much the AUC drops when a variable is shuffled (permutation importance,
  variable-level, see `selection.permutation_drops`).
- Effect curves: partial dependence — the mean predicted risk when every patient is given the
  same value of one variable, over a grid of that variable's values. Non-linear and U-shaped
  effects show as such (a Cox model would draw a monotone curve).
- Per-patient explanations: SHAP values from the `shap` library's model-agnostic permutation
  explainer, on probabilities, summed over a category's 0/1 columns so that each *variable* gets
  one value. One forward and one reverse permutation per patient (2p + 1 model calls): exact for
  additive models and an approximation for interacting trees; base + values = risk always.
- Agreement: whether the artificial-trained score tells the same story as a real-trained one —
  Spearman rank correlation of their importances and overlap of their chosen variables.

Effect curves list grid values (quantiles with at least 20 patients beyond each end, not
patients) and mean risks; SHAP values of real patients stay with the hospital (they are written
to its own files only, never to a card).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from jumeau.data.cohort import Cohort
from jumeau.prognostic.score import PrognosticScore
from jumeau.prognostic.selection import permutation_drops
from jumeau.prognostic.task import outcome

GRID_POINTS = 20
MIN_PATIENTS_BEYOND = 20  # the same floor as the card's calibration points
SHAP_BACKGROUND = 100


@dataclass(frozen=True)
class EffectCurve:
    variable: str
    values: list[Any]  # grid values (numbers) or category levels
    risk: list[float]  # mean predicted risk at each value
    categorical: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "variable": self.variable,
            "values": self.values,
            "risk": self.risk,
            "categorical": self.categorical,
        }

    @property
    def shape(self) -> str:
        """increasing / decreasing / U-shaped / inverted-U / flat / irregular (numbers only)."""
        if self.categorical or len(self.risk) < 3:
            return "categorical" if self.categorical else "flat"
        risk = np.asarray(self.risk)
        span = risk.max() - risk.min()
        if span < 0.01:
            return "flat"
        steps = np.diff(risk)
        steps = steps[np.abs(steps) > 0.02 * span]
        signs = np.sign(steps)
        changes = int(np.sum(signs[1:] != signs[:-1])) if len(signs) else 0
        if changes == 0:
            return "increasing" if signs.sum() > 0 else "decreasing"
        # both ends clearly above (below) an inner minimum (maximum)
        rise = 0.2 * span
        low, high = risk.min(), risk.max()
        if risk[0] - low > rise and risk[-1] - low > rise:
            return "U-shaped"
        if high - risk[0] > rise and high - risk[-1] > rise:
            return "inverted-U"
        return "irregular"


def importance(
    score: PrognosticScore, cohort: Cohort, *, repeats: int = 5, seed: int = 0
) -> dict[str, float]:
    """Mean AUC drop when each of the score's variables is shuffled among `cohort`'s patients."""
    frame = cohort.data.reset_index(drop=True)
    target = outcome(score.task_, frame, score.schema_)
    rng = np.random.default_rng(seed)
    return permutation_drops(
        score.model_, score.design_, frame, target, score.variables_, repeats, rng
    )


def effect_curves(
    score: PrognosticScore, cohort: Cohort, points: int = GRID_POINTS
) -> list[EffectCurve]:
    """Partial dependence of the predicted risk on each of the score's variables."""
    frame = cohort.data.reset_index(drop=True)
    curves = []
    for variable in score.variables_:
        levels = score.design_.levels.get(variable)
        if levels is not None:
            grid: list[Any] = list(levels)
        else:
            observed = pd.to_numeric(frame[variable], errors="coerce").dropna().to_numpy(float)
            if len(observed) == 0:
                continue
            grid = _grid(observed, points)
            if not grid:
                continue
        risks = []
        for value in grid:
            changed = frame.copy()
            changed[variable] = pd.Series([value] * len(frame), dtype=object if levels else float)
            risks.append(float(np.mean(score.predict_risk(changed))))
        curves.append(EffectCurve(variable, grid, risks, levels is not None))
    return curves


def _grid(observed: np.ndarray, points: int) -> list[float]:
    """Quantiles from the 5th to the 95th percentile, narrowed so that at least
    `MIN_PATIENTS_BEYOND` patients lie beyond each end (no grid value is an extreme patient's
    own value on a small cohort); empty when the cohort is too small for that."""
    n = len(observed)
    low = max(0.05, MIN_PATIENTS_BEYOND / n)
    high = min(0.95, 1 - MIN_PATIENTS_BEYOND / n)
    if high <= low:
        return []
    return np.unique(np.quantile(observed, np.linspace(low, high, points))).tolist()


def shap_values(
    score: PrognosticScore,
    patients: Cohort,
    background: Cohort,
    *,
    seed: int = 0,
    background_size: int = SHAP_BACKGROUND,
) -> pd.DataFrame:
    """One SHAP value per patient and variable (probability scale), plus `base` (the expected
    risk over the background) so that base + Σ values = the patient's risk."""
    import shap

    design = score.design_
    rng = np.random.default_rng(seed)
    reference = design.matrix(background.data.reset_index(drop=True))
    if len(reference) > background_size:
        reference = reference[rng.choice(len(reference), background_size, replace=False)]
    features = design.matrix(patients.data.reset_index(drop=True))

    def predict(rows: np.ndarray) -> np.ndarray:
        return score.model_.risk_of_features(design, np.asarray(rows, dtype=float))

    masker = shap.maskers.Independent(reference, max_samples=len(reference))
    explainer = shap.explainers.Permutation(predict, masker, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explanation = explainer(features, max_evals=2 * features.shape[1] + 1, silent=True)
    per_feature = np.asarray(explanation.values)
    owners = design.feature_variables
    table = pd.DataFrame(
        {
            variable: per_feature[:, [i for i, o in enumerate(owners) if o == variable]].sum(1)
            for variable in design.variables
        }
    )
    table.insert(0, "base", np.asarray(explanation.base_values, dtype=float))
    return table


def mean_absolute_shap(values: pd.DataFrame) -> dict[str, float]:
    return {c: float(values[c].abs().mean()) for c in values.columns if c != "base"}


def agreement(first: dict[str, float], second: dict[str, float]) -> dict[str, Any]:
    """How alike two importance rankings are, on the variables both scores use."""
    shared = [v for v in first if v in second]
    rho = float("nan")
    if len(shared) >= 3:
        statistic = spearmanr([first[v] for v in shared], [second[v] for v in shared]).statistic
        rho = float(statistic)
    union = set(first) | set(second)
    return {
        "shared_variables": shared,
        "spearman": rho,
        "overlap": len(shared) / len(union) if union else float("nan"),
    }
