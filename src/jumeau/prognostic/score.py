"""A prognostic score: chosen variables, a risk model, and the provenance of its training data.

The estimator follows scikit-learn's conventions (parameters in `__init__`, `fit` returns self,
learned state ends in `_`). It is usually fitted on an *artificial* cohort by a team that has no
access to the real patients, then validated by the hospital (`validation.validate`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.prognostic.design import Design
from jumeau.prognostic.models import MODEL_KINDS, ModelKind, RiskModel, fit_risk_model
from jumeau.prognostic.selection import Selection, select_variables
from jumeau.prognostic.task import outcome, prognostic_task


class PrognosticScore:
    """Risk of a binary outcome, or of an event by a horizon, from at most `n_variables`
    variables chosen by cross-validated permutation importance.

    Parameters: `model` is "boosting" (gradient boosting) or "reference" (logistic regression or
    Cox); `n_variables` None keeps every candidate; `horizon` (survival only) defaults to the
    median event time of the training cohort; `folds`/`repeats` drive the selection."""

    file_versions_: dict[str, Any]  # set by `load_score`: the versions that wrote the file

    def __init__(
        self,
        model: ModelKind = "boosting",
        n_variables: int | None = 10,
        horizon: float | None = None,
        folds: int = 5,
        repeats: int = 3,
    ) -> None:
        self.model = model
        self.n_variables = n_variables
        self.horizon = horizon
        self.folds = folds
        self.repeats = repeats

    def get_params(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "n_variables": self.n_variables,
            "horizon": self.horizon,
            "folds": self.folds,
            "repeats": self.repeats,
        }

    def fit(
        self,
        cohort: Cohort,
        *,
        target: str | None = None,
        time: str | None = None,
        seed: int = 0,
    ) -> PrognosticScore:
        if self.model not in MODEL_KINDS:
            raise JumeauError(f"model must be one of {', '.join(MODEL_KINDS)}, not {self.model!r}")
        if self.n_variables is not None and self.n_variables < 1:
            raise JumeauError(f"n_variables must be at least 1, not {self.n_variables}")
        if len(cohort) == 0:
            raise JumeauError("cannot fit a score on an empty cohort")
        frame = cohort.data.reset_index(drop=True)
        schema = cohort.schema
        task = prognostic_task(schema, frame, target=target, time=time, horizon=self.horizon)
        labels = outcome(task, frame, schema)
        selection: Selection | None = None
        variables = list(task.candidates)
        if self.n_variables is not None and self.n_variables < len(variables):
            selection = select_variables(
                self.model,
                task,
                frame,
                schema,
                labels,
                self.n_variables,
                seed,
                folds=self.folds,
                repeats=self.repeats,
            )
            variables = selection.chosen
        design = Design.fit(frame, schema, variables)
        self.task_ = task
        self.selection_ = selection
        self.design_ = design
        self.model_: RiskModel = fit_risk_model(self.model, task, design, frame, labels, seed)
        self.schema_ = schema
        self.seed_ = seed
        self.training_ = {
            "rows": len(frame),
            "sha256": cohort.sha256,
            "artificial": cohort.artificial,
            "source": cohort.source,
            "known_outcomes": int(labels.known.sum()),
            "outcomes": int(labels.label[labels.known].sum()),
        }
        return self

    @property
    def variables_(self) -> list[str]:
        return self.design_.variables

    def predict_risk(self, data: Cohort | pd.DataFrame) -> np.ndarray:
        """Probability of the outcome (by the horizon) for every patient."""
        frame = data.data if isinstance(data, Cohort) else data
        missing = [v for v in self.variables_ if v not in frame.columns]
        if missing:
            raise JumeauError(f"the patients lack the score's variables: {', '.join(missing)}")
        return self.model_.risk(self.design_, frame.reset_index(drop=True))

    def save(self, path: str) -> None:
        from jumeau.prognostic.persistence import save_score

        save_score(self, path)
