"""The contract every generator keeps, and the sampling that respects the clinic.

scikit-learn style: hyper-parameters go to ``__init__`` (validated by the pydantic config that
sits beside each model), ``fit(cohort, seed=...)`` returns the generator, learned state ends in
``_``, and ``sample(n, seed=..., where=...)`` returns a Cohort with the schema of the modelled
columns. Sampling rejects every artificial patient that breaks a hard bound or clinical rule and
reports the rejection rate: a high rate is itself a signal about the model's quality.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError

from jumeau.data.cohort import Cohort
from jumeau.data.rules import parse_rule
from jumeau.data.schema import Schema
from jumeau.errors import JumeauError, validation_problems
from jumeau.generators.encoding import TabularEncoder

MAX_SEED = 2**63 - 1  # what every random generator used here (numpy, torch) accepts
# what a DP fit records instead of the training table's hash, which is a function of every value
WITHHELD_UNDER_DP = "withheld: differentially private fit"


def check_seed(seed: object) -> int:
    """Seeds are whole numbers from 0 to 2⁶³ − 1 (numpy integers accepted), stored as plain int."""
    if (
        isinstance(seed, bool)
        or not isinstance(seed, (int, np.integer))
        or not 0 <= seed <= MAX_SEED
    ):
        raise JumeauError(f"seed must be a whole number from 0 to 2**63 - 1, not {seed!r}")
    return int(seed)


class SamplingError(JumeauError):
    """A `where=` condition (or the clinical rules) could not be met often enough."""


class NotFittedError(JumeauError):
    """`sample` or `save` was called on a generator that was never fitted."""


@dataclass
class SamplingReport:
    """What it took to produce the last sample: seed, draws, and rejections by cause."""

    seed: int
    requested: int
    drawn: int = 0
    accepted: int = 0  # drawn patients that passed every check (more than requested, often)
    rejected_by: dict[str, int] = field(default_factory=dict)
    where: str | None = None

    @property
    def rejection_rate(self) -> float:
        return 1.0 - self.accepted / self.drawn if self.drawn else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"rejection_rate": self.rejection_rate}


class Generator(ABC):
    """Base class: subclasses implement `_fit_matrix`, `_sample_matrix` and their state."""

    name: ClassVar[str]
    config_class: ClassVar[type[BaseModel]]

    #: draws per attempt are `n * oversample` (at least `min_batch`), `max_attempts` times
    oversample: ClassVar[float] = 1.3
    min_batch: ClassVar[int] = 256
    max_attempts: ClassVar[int] = 50

    file_versions_: dict[str, Any]  # set when loaded from a file: the versions that wrote it
    file_path_: Path  # set when loaded from a file: the file it was read from
    privacy_: dict[str, Any] | None  # ε, δ, mechanisms and accountant of a DP fit, else None

    def __init__(self, config: BaseModel | None = None, **params: Any) -> None:
        try:
            base = config.model_dump() if config is not None else {}
            self.config = self.config_class(**(base | params))
        except ValidationError as exc:
            problems = validation_problems(exc)
            raise JumeauError(f"{self.name}: invalid parameter(s): {problems}") from None

    def get_params(self) -> dict[str, Any]:
        return self.config.model_dump()

    def __repr__(self) -> str:
        changed = {
            k: v
            for k, v in self.get_params().items()
            if v != self.config_class.model_fields[k].default
        }
        inside = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"{type(self).__name__}({inside})"

    # ------------------------------------------------------------------ fit
    def fit(self, cohort: Cohort, *, seed: int = 0, progress: bool = True) -> Generator:
        """Learn the cohort's joint distribution (modelled columns only)."""
        if not isinstance(cohort, Cohort):
            raise JumeauError(
                f"{self.name}.fit expects a jumeau Cohort, got {type(cohort).__name__}; "
                "use jumeau.Cohort.from_frame(df) or jumeau.load_cohort(path)"
            )
        cohort.require_trainable()
        seed = check_seed(seed)
        self.seed_ = seed
        if self.epsilon is not None:
            # the exact size and the table's hash are functions of the patients: not released
            self.training_sha256_ = WITHHELD_UNDER_DP
            self._fit_private(cohort, seed=seed, progress=progress)
            return self
        self.privacy_ = None
        self.encoder_ = TabularEncoder(shareable=self.shareable).fit(cohort)
        self.schema_ = self.encoder_.schema_
        matrix, mask = self.encoder_.transform(cohort.data)
        self._fit_matrix(matrix, mask, seed=seed, progress=progress)
        self.training_rows_ = len(cohort)
        self.training_sha256_ = cohort.sha256
        return self

    def _fit_private(self, cohort: Cohort, *, seed: int, progress: bool) -> None:
        """Fit under (ε, δ)-DP (see `epsilon`); sets `privacy_`, the encoder, the schema and
        `training_rows_` (a noisy count). Generators without a DP fit refuse."""
        raise JumeauError(
            f"the {self.name} generator has no differentially private fit yet; use the copula"
        )

    @abstractmethod
    def _fit_matrix(
        self, matrix: np.ndarray, mask: np.ndarray, *, seed: int, progress: bool
    ) -> None:
        """Learn from the encoded matrix and its observed mask."""

    # ------------------------------------------------------------------ sample
    @abstractmethod
    def _sample_matrix(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n encoded rows, categorical blocks one-hot (already sampled, not argmax'ed)."""

    def _draw(self, size: int, rng: np.random.Generator) -> pd.DataFrame:
        """`size` decoded draws. A model read from a file that fails here was built from parts
        that do not fit (a crafted or corrupted file passes its checksum when recomputed): one
        clear error naming the file, not a traceback from deep in numpy or torch."""
        from jumeau.generators.persistence import LOAD_ERRORS, damaged

        try:
            return self._decode(self._sample_matrix(size, rng))
        except JumeauError:  # the user's to fix (a condition too rare, …): said as it is
            raise
        except LOAD_ERRORS as exc:
            path = getattr(self, "file_path_", None)
            if path is None:  # fitted in this process: a bug, shown as it is
                raise
            raise damaged(path, exc) from None

    def sample(self, n: int, *, seed: int | None = None, where: str | None = None) -> Cohort:
        """`n` artificial patients that satisfy every bound and rule (and `where`, if given)."""
        self._check_fitted()
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise JumeauError(f"n must be a positive whole number of patients, not {n!r}")
        seed = secrets.randbits(32) if seed is None else check_seed(seed)
        rng = np.random.default_rng(seed)
        condition = parse_rule(where, self.schema_, where="where") if where else None
        report = SamplingReport(seed=seed, requested=int(n), where=where)
        kept: list[pd.DataFrame] = []
        accepted = 0
        for _ in range(self.max_attempts):
            if accepted >= n:
                break
            missing = n - accepted
            share = accepted / report.drawn if report.drawn and accepted else None
            size = (
                int(missing / share * self.oversample) if share else int(missing * self.oversample)
            )
            size = max(self.min_batch, min(size, 50 * n + self.min_batch))
            batch = self._draw(size, rng)
            valid = self._accept(batch, condition, report)
            report.drawn += size
            chosen = batch[valid]
            kept.append(chosen)
            accepted += len(chosen)
        report.accepted = accepted
        self.last_sampling_ = report
        if accepted < n:
            raise SamplingError(self._shortfall_message(report, accepted))
        frame = pd.concat(kept, ignore_index=True).iloc[:n].reset_index(drop=True)
        return Cohort(
            frame, self.schema_, source=f"jumeau:{self.name}:seed={seed}", artificial=True
        )

    # ------------------------------------------------------------------ complete
    def complete(
        self,
        cohort: Cohort,
        m: int = 5,
        *,
        seed: int | None = None,
        max_attempts: int = 20,
    ) -> list[Cohort]:
        """`m` copies of `cohort` whose missing values are drawn from the model given the
        observed ones (multiple imputation); observed values are untouched, bounds and rules
        hold for every imputed value (redrawn up to `max_attempts` times). Pool an analysis
        over the copies with `jumeau.completion.pool` (Rubin's rules)."""
        from jumeau.generators.completion import complete_cohort

        self._check_fitted()
        seed = secrets.randbits(32) if seed is None else check_seed(seed)
        completed, self.last_completion_ = complete_cohort(self, cohort, m, seed, max_attempts)
        return completed

    def _impute_matrix(
        self, matrix: np.ndarray, mask: np.ndarray, m: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[str, float]]:
        """`m` encoded draws per row (m × rows × width) from p(missing | observed), and
        diagnostics. Only the missing cells of each draw are used."""
        raise JumeauError(f"the {self.name} generator cannot complete missing values")

    def _decode(self, matrix: np.ndarray) -> pd.DataFrame:
        frame = self.encoder_.inverse_transform(matrix)
        return Cohort(frame, self.schema_, source=f"jumeau:{self.name}", artificial=True).data

    def _accept(self, batch: pd.DataFrame, condition: Any, report: SamplingReport) -> np.ndarray:
        cohort = Cohort.from_typed(batch, self.schema_, source=self.name, artificial=True)
        validation = cohort.validate()
        for violation in validation.violations:
            report.rejected_by[violation.subject] = (
                report.rejected_by.get(violation.subject, 0) + violation.n_rows
            )
        valid = validation.valid_rows
        if condition is not None:
            matches = condition.selects(batch, self.schema_)
            report.rejected_by["where"] = report.rejected_by.get("where", 0) + int(
                (valid & ~matches).sum()
            )
            valid = valid & matches
        return valid

    def _shortfall_message(self, report: SamplingReport, accepted: int) -> str:
        causes = ", ".join(
            f"{cause} ({count})"
            for cause, count in sorted(report.rejected_by.items(), key=lambda kv: -kv[1])[:3]
        )
        what = f"`{report.where}`" if report.where else "the clinical rules"
        return (
            f"only {accepted} of {report.drawn} drawn patients met {what} "
            f"(needed {report.requested}); most rejected by: {causes}. The condition is too rare "
            "for this model: relax it, ask for fewer patients, or check the rules"
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "encoder_"):
            raise NotFittedError(f"this {self.name} generator is not fitted yet; call fit(cohort)")

    # ------------------------------------------------------------------ persistence
    @property
    def shareable(self) -> bool:
        """Whether this generator keeps no value of fewer than 10 training patients (the
        `shareable` parameter)."""
        return bool(getattr(self.config, "shareable", False))

    @property
    def epsilon(self) -> float | None:
        """ε of a differentially private fit (the `epsilon` parameter), None for an ordinary one."""
        value = getattr(self.config, "epsilon", None)
        return None if value is None else float(value)

    def personal_data_held(self) -> list[str]:
        """What of the training patients a model file of this generator holds, in plain words
        (empty: nothing personal). Written into every file's header as `personal_data`, so that
        whoever receives a file knows whether sharing it shares personal data."""
        if self.shareable or getattr(self, "privacy_", None) is not None:
            return []  # a DP fit's file holds only DP releases and their post-processing
        return [
            "the encoder's quantile knots, atoms and bounds are values of training patients "
            "(the smallest and largest value of every number column among them)"
        ]

    @abstractmethod
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able learned state and named arrays (weights)."""

    @abstractmethod
    def _load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore what `_state` returned."""

    def save(self, path: str | Path) -> Path:
        """Write weights (safetensors) and everything else (JSON) in one file; never pickle."""
        from jumeau.generators.persistence import save_generator

        self._check_fitted()
        return save_generator(self, Path(path))

    @property
    def schema(self) -> Schema:
        self._check_fitted()
        return self.schema_
