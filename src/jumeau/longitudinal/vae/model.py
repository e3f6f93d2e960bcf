"""`LongitudinalVAE`: artificial patients whose whole course is plausible.

The baseline (static columns) comes from a jumeau tabular generator (copula by default), so that
`where=` conditions, clinical rules and the rest of the tabular machinery apply unchanged; the
course — how many visits, when, what was measured, dropout and the terminal event — comes from a
recurrent VAE conditioned on that baseline (see `network.py` for the model and why). Sampling
rejects every patient with a visit that breaks a bound or a rule and redraws, as the tabular
generators do.
"""

from __future__ import annotations

import math
import secrets
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from pydantic import ValidationError
from torch import Tensor

from jumeau.data.cohort import Cohort
from jumeau.data.longitudinal import (
    MIN_PATIENTS_TO_MODEL,
    CourseColumns,
    LongitudinalCohort,
    sub_schema,
)
from jumeau.data.schema import Schema
from jumeau.errors import JumeauError, TooFewRowsError, validation_problems
from jumeau.generators.base import (
    Generator,
    NotFittedError,
    SamplingError,
    SamplingReport,
    check_seed,
)
from jumeau.generators.neural.likelihood import MAX_SCALE, MIN_SCALE, MixedLikelihood
from jumeau.generators.neural.training import TrainingHistory, split_validation, train
from jumeau.generators.registry import make_generator
from jumeau.longitudinal.course import CourseArrays, CourseEncoder
from jumeau.longitudinal.vae.config import LongitudinalVAEConfig
from jumeau.longitudinal.vae.network import CourseNetwork, step_inputs

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
VALIDATION_DRAWS = 8
VALIDATION_SEED = 20_241


class LongitudinalVAE:
    """Fit on a :class:`LongitudinalCohort`; `sample(n)` returns one in the same long format."""

    name: ClassVar[str] = "longitudinal_vae"
    max_attempts: ClassVar[int] = 30

    file_versions_: dict[str, Any]  # set when loaded from a file: the versions that wrote it

    def __init__(self, config: LongitudinalVAEConfig | None = None, **params: Any) -> None:
        try:
            base = config.model_dump() if config is not None else {}
            self.config = LongitudinalVAEConfig(**(base | params))
        except ValidationError as exc:
            problems = validation_problems(exc)
            raise JumeauError(f"{self.name}: invalid parameter(s): {problems}") from None
        make_generator(self.config.static_model)  # an unknown name fails here, not after fitting

    def get_params(self) -> dict[str, Any]:
        return self.config.model_dump()

    def __repr__(self) -> str:
        defaults = LongitudinalVAEConfig()
        changed = {k: v for k, v in self.get_params().items() if v != getattr(defaults, k)}
        return f"LongitudinalVAE({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # ------------------------------------------------------------------ fit
    def fit(
        self, cohort: LongitudinalCohort, *, seed: int = 0, progress: bool = True
    ) -> LongitudinalVAE:
        if not isinstance(cohort, LongitudinalCohort):
            raise JumeauError(
                f"{self.name}.fit expects a LongitudinalCohort, got {type(cohort).__name__}; "
                "use jumeau.data.longitudinal.load_longitudinal(path, id=..., time=...)"
            )
        if cohort.n_patients < MIN_PATIENTS_TO_MODEL:
            raise TooFewRowsError(
                f"{cohort.source}: {cohort.n_patients} patients is too few to model (at least "
                f"{MIN_PATIENTS_TO_MODEL}): a generator would memorise these courses"
            )
        seed = check_seed(seed)
        self.schema_ = output_schema(cohort.schema)
        self.columns_ = CourseColumns.of(self.schema_)
        self.static_model_: Generator | None = None
        if self.columns_.static:
            self.static_model_ = make_generator(self.config.static_model)
            self.static_model_.fit(cohort.static_cohort(), seed=seed, progress=progress)
        self.course_ = CourseEncoder().fit(cohort)
        arrays = self.course_.transform(cohort)
        static = self._static_matrix(cohort.patients)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self._build(static.shape[1], cohort.n_patients)
            self.history_ = self._train(arrays, static, seed, progress)
        self.seed_ = seed
        self.training_patients_ = cohort.n_patients
        self.training_sha256_ = cohort.sha256
        return self

    def _static_matrix(self, patients: pd.DataFrame) -> np.ndarray:
        if self.static_model_ is None:
            return np.zeros((len(patients), 0), np.float32)
        matrix, _ = self.static_model_.encoder_.transform(patients[list(self.columns_.static)])
        return matrix

    def _build(self, static_width: int, n_patients: int, hidden: int | None = None) -> None:
        course = self.course_
        self.visit_likelihood_ = MixedLikelihood(course.visit_encoder_)
        self.end_likelihood_ = (
            MixedLikelihood(course.end_encoder_) if course.end_encoder_ is not None else None
        )
        self.hidden_dim_ = hidden or self.config.hidden_dim or (64 if n_patients < 1000 else 128)
        self.static_width_ = static_width
        self.network_ = CourseNetwork(
            static_width=static_width,
            visit_width=course.visit_width,
            visit_params=self.visit_likelihood_.n_params,
            end_width=course.end_width,
            end_params=self.end_likelihood_.n_params if self.end_likelihood_ else 0,
            latent_dim=self.config.latent_dim,
            hidden=self.hidden_dim_,
        )

    def _train(
        self, arrays: CourseArrays, static: np.ndarray, seed: int, progress: bool
    ) -> TrainingHistory:
        tensors = {name: torch.as_tensor(value) for name, value in vars(arrays).items()}
        tensors["static"] = torch.as_tensor(static)
        n = static.shape[0]
        training, validation = split_validation(
            n, self.config.validation_share, np.random.default_rng(seed)
        )

        # The shared training loop batches rows of `x`; here a row is a patient, so `x` holds
        # patient positions and the loss gathers that patient's padded course.
        def loss(rows: Tensor, _unused: Tensor, epoch: int | None) -> Tensor:
            batch = {k: v[rows.long()] for k, v in tensors.items()}
            return self._loss(batch, epoch)

        positions = torch.arange(n, dtype=torch.float32)
        unused = torch.zeros(n)
        return train(
            self.network_,
            loss,
            positions[training],
            unused[training],
            validation=(positions[validation], unused[validation]),
            epochs=self.config.epochs,
            batch_size=self.config.batch_size,
            learning_rate=self.config.learning_rate,
            weight_decay=self.config.weight_decay,
            patience=self.config.patience,
            clip_norm=self.config.clip_norm,
            progress=progress,
            label=f"fitting {self.name}",
            generator=torch.Generator().manual_seed(seed),
        )

    def _kl_weight(self, epoch: int | None) -> float:
        warmup = self.config.kl_warmup
        if epoch is None or not warmup:
            return self.config.beta
        return self.config.beta * min(1.0, (epoch + 1) / warmup)

    def _loss(self, batch: dict[str, Tensor], epoch: int | None) -> Tensor:
        steps_in = step_inputs(batch["visits"], batch["times"], batch["elapsed"])
        counts = batch["exists"].sum(1).long()
        # only the columns of the longest course in this batch matter
        width = int(counts.max())
        batch = {
            k: (v[:, :width] if v.dim() >= 2 and k not in ("static", "end", "end_mask") else v)
            for k, v in batch.items()
        }
        steps_in = steps_in[:, :width]
        mean, logvar = self.network_.encode(steps_in, counts, batch["static"], batch["end"])
        if epoch is None:
            # Validation decides early stopping: average the reconstruction over several fixed
            # draws of z, so that a lucky draw on a few dozen patients does not stop training.
            generator = torch.Generator().manual_seed(VALIDATION_SEED)
            draws = [
                mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator)
                for _ in range(VALIDATION_DRAWS)
            ]
            log_likelihood = torch.stack(
                [self._course_log_likelihood(batch, steps_in, z) for z in draws]
            ).mean(0)
        else:
            z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
            log_likelihood = self._course_log_likelihood(batch, steps_in, z)
        prior_mean, prior_logvar = self.network_.prior_params(batch["static"])
        kl = 0.5 * (
            prior_logvar
            - logvar
            + (logvar.exp() + (mean - prior_mean) ** 2) / prior_logvar.exp()
            - 1.0
        ).sum(-1)
        return -(log_likelihood - self._kl_weight(epoch) * kl).mean()

    def _course_log_likelihood(
        self, batch: dict[str, Tensor], steps_in: Tensor, z: Tensor
    ) -> Tensor:
        network, n = self.network_, z.shape[0]
        condition = torch.cat([batch["static"], z], -1)
        state = network.start(condition)
        total = torch.zeros(n)
        for j in range(steps_in.shape[1]):
            exists = batch["exists"][:, j]
            first = torch.full((n, 1), 1.0 if j == 0 else 0.0)
            time_score, elapsed = batch["times"][:, j], batch["elapsed"][:, j]
            term = torch.zeros(n)
            if j > 0 or self.course_.start_encoder_ is not None:
                term = term + _gaussian(network.time_params(state, first, condition), time_score)
            params = network.visit_params(state, time_score, elapsed, condition)
            term = term + self.visit_likelihood_.log_prob(
                params, batch["visits"][:, j], batch["visit_mask"][:, j]
            )
            advanced = network.advance(state, steps_in[:, j], condition)
            stop = network.stop_logit(advanced, condition)
            term = term - torch.nn.functional.binary_cross_entropy_with_logits(
                stop, batch["last"][:, j], reduction="none"
            )
            total = total + exists * term
            state = torch.where(exists[:, None] > 0, advanced, state)
        end_params = network.end_params(state, condition)
        if end_params is not None and self.end_likelihood_ is not None:
            total = total + self.end_likelihood_.log_prob(
                end_params, batch["end"], batch["end_mask"]
            )
        return total

    # ------------------------------------------------------------------ sample
    def sample(
        self, n: int, *, seed: int | None = None, where: str | None = None
    ) -> LongitudinalCohort:
        """`n` artificial patients with their courses; every visit satisfies bounds and rules,
        and `where` (a condition on baseline columns) holds for every patient."""
        self._check_fitted()
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise JumeauError(f"n must be a positive whole number of patients, not {n!r}")
        if where is not None and self.static_model_ is None:
            raise JumeauError("`where` applies to baseline columns, and this cohort has none")
        seed = secrets.randbits(32) if seed is None else check_seed(seed)
        rng = np.random.default_rng(seed)
        report = SamplingReport(seed=seed, requested=int(n), where=where)
        kept: list[pd.DataFrame] = []
        accepted = 0
        for _ in range(self.max_attempts):
            if accepted >= n:
                break
            size = max(64, int((n - accepted) * 1.3))
            frame, valid = self._draw(size, rng, where, report)
            patients = np.flatnonzero(valid)[: n - accepted]
            chosen = frame[np.isin(frame[self.columns_.id].to_numpy(), patients)].copy()
            chosen[self.columns_.id] += report.drawn  # ids stay distinct across attempts
            kept.append(chosen)
            report.drawn += size
            report.accepted += int(valid.sum())
            accepted += patients.size
        self.last_sampling_ = report
        if accepted < n:
            raise SamplingError(
                f"only {accepted} of {report.drawn} drawn courses met the clinical rules"
                f"{' and `' + where + '`' if where else ''} (needed {n}); most rejected by: "
                + ", ".join(sorted(report.rejected_by, key=report.rejected_by.__getitem__)[-3:])
            )
        frame = pd.concat(kept, ignore_index=True)
        frame[self.columns_.id] = _artificial_ids(frame[self.columns_.id].to_numpy())
        return LongitudinalCohort(
            frame, self.schema_, source=f"jumeau:{self.name}:seed={seed}", artificial=True
        )

    def _draw(
        self, size: int, rng: np.random.Generator, where: str | None, report: SamplingReport
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """`size` courses (ids 0..size-1) and whether each passed every check."""
        static_seed = int(rng.integers(2**62))
        if self.static_model_ is not None:
            static = self.static_model_.sample(size, seed=static_seed, where=where).data
            for cause, count in self.static_model_.last_sampling_.rejected_by.items():
                report.rejected_by[f"baseline: {cause}"] = (
                    report.rejected_by.get(f"baseline: {cause}", 0) + count
                )
        else:
            static = pd.DataFrame(index=range(size))
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        with torch.no_grad():
            frame = self._roll_out(static.reset_index(drop=True), generator)
        checked = Cohort.from_typed(frame, self.schema_, source=self.name, artificial=True)
        validation = checked.validate()
        for violation in validation.violations:
            report.rejected_by[violation.subject] = (
                report.rejected_by.get(violation.subject, 0) + violation.n_rows
            )
        patient = frame[self.columns_.id].to_numpy()
        bad = np.zeros(size, dtype=bool)
        bad[patient[~validation.valid_rows]] = True
        return frame, ~bad

    def _roll_out(self, static: pd.DataFrame, generator: torch.Generator) -> pd.DataFrame:
        course, network = self.course_, self.network_
        n = len(static)
        s = torch.as_tensor(self._static_matrix(static))
        prior_mean, prior_logvar = network.prior_params(s)
        noise = torch.randn(n, self.config.latent_dim, generator=generator)
        z = prior_mean + torch.exp(0.5 * prior_logvar) * noise
        condition = torch.cat([s, z], -1)
        state = network.start(condition)
        final_state = state.clone()
        alive = np.ones(n, dtype=bool)
        counts = np.zeros(n, dtype=np.int64)
        clock = np.zeros(n)
        visit_frames: list[pd.DataFrame] = []
        visit_times: list[np.ndarray] = []
        cap = self.config.max_visits or course.max_visits_
        for j in range(cap):
            first = torch.full((n, 1), 1.0 if j == 0 else 0.0)
            time_draw = _gaussian_draw(network.time_params(state, first, condition), generator)
            previous = clock
            if j == 0:
                clock = self._on_time_grid(course.start_times(time_draw.numpy()))
                since = clock
            else:
                clock = self._on_time_grid(clock + course.gap_times(time_draw.numpy()))
                since = clock - previous
            time_score = torch.as_tensor(course.time_scores(since, first=j == 0))[:, None]
            elapsed = torch.as_tensor(clock / course.time_scale_, dtype=torch.float32)[:, None]
            params = network.visit_params(state, time_score, elapsed, condition)
            drawn = self.visit_likelihood_.sample(params, generator).numpy()
            values = course.visit_encoder_.inverse_transform(drawn)
            encoded, _ = course.visit_encoder_.transform(values)
            visit_frames.append(values)
            visit_times.append(clock.copy())
            counts += alive
            step = torch.cat([torch.as_tensor(encoded), time_score, elapsed, first], -1)
            state = network.advance(state, step, condition)
            stop = (
                torch.bernoulli(
                    torch.sigmoid(network.stop_logit(state, condition)), generator=generator
                )
                .numpy()
                .astype(bool)
            )
            ending = alive & (stop | (j == cap - 1))
            final_state[torch.as_tensor(ending)] = state[torch.as_tensor(ending)]
            alive &= ~ending
            if not alive.any():
                break
        end_matrix = None
        end_params = network.end_params(final_state, condition)
        if end_params is not None and self.end_likelihood_ is not None:
            end_matrix = self.end_likelihood_.sample(end_params, generator).numpy()
        return course.assemble(np.arange(n), static, visit_frames, visit_times, counts, end_matrix)

    def _on_time_grid(self, clock: np.ndarray) -> np.ndarray:
        """Visit times of an integer time column stay whole numbers."""
        if self.schema_.columns[self.columns_.time].kind.value == "integer":
            return np.round(clock)
        return clock

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError(f"this {self.name} generator is not fitted yet; call fit(cohort)")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Weights in safetensors, everything else (schema, encoders, config, baseline model,
        seed, versions, a hash of the training data — never the data) as JSON; never pickle."""
        from jumeau.longitudinal.persistence import save_longitudinal

        self._check_fitted()
        return save_longitudinal(self, Path(path))

    @property
    def schema(self) -> Schema:
        self._check_fitted()
        return self.schema_


def output_schema(schema: Schema) -> Schema:
    """What an artificial cohort holds: the id, the visit time and every modelled column."""
    columns = CourseColumns.of(schema)
    keep = [columns.id, columns.time, *columns.static, *columns.varying]
    keep += [c for c in (columns.followup, columns.event) if c is not None]
    ordered = [name for name in schema.names if name in keep]
    restricted = sub_schema(schema, ordered)
    document = restricted.model_dump()
    for name in columns.varying:
        document["columns"][name]["varies"] = True
    document["visits"] = schema.visits.model_dump() if schema.visits else None
    document["description"] = schema.description
    return Schema.model_validate(document)


def _gaussian(params: Tensor, x: Tensor) -> Tensor:
    """log N(x | mean, scale) for the one-dimensional time scores."""
    mean, scale = _mean_scale(params)
    z = (x[:, 0] - mean) / scale
    return -0.5 * z**2 - torch.log(scale) - _HALF_LOG_2PI


def _gaussian_draw(params: Tensor, generator: torch.Generator) -> Tensor:
    mean, scale = _mean_scale(params)
    return mean + scale * torch.randn(mean.shape, generator=generator)


def _mean_scale(params: Tensor) -> tuple[Tensor, Tensor]:
    # same parametrisation as MixedLikelihood, so time scores behave like any number column
    return params[:, 0], MIN_SCALE + (MAX_SCALE - MIN_SCALE) * torch.sigmoid(params[:, 1])


def _artificial_ids(positions: np.ndarray) -> np.ndarray:
    """Fresh ids A0001, A0002, ... in order of appearance (never a real patient's id)."""
    codes = pd.factorize(positions)[0] + 1
    digits = max(4, len(str(codes.max(initial=1))))
    return np.array([f"A{code:0{digits}d}" for code in codes], dtype=object)
