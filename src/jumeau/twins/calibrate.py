"""Population calibration: non-linear mixed effects in Bayesian form, sampled with Pyro's NUTS.

Each patient's parameters are log-normal around the population's typical values (non-centred:
θ_i = exp(log θ_typical + ω · z_i), z_i ~ N(0, 1), which NUTS samples far better than the centred
form when a few patients inform ω); body weight can scale clearances (exponent 0.75 by default,
1 for a per-kilogram model) and volumes (exponent 1) around the study's median weight; the
residual error is additive, proportional or combined. Priors are weakly informative: each model
parameter's declared typical value with a wide log-normal spread, half-normal ω, error scales
relative to the data.

Oral models are identified on the absorption branch (ka > the slowest disposition rate): the
sampler works on ka's excess over that rate, so that it cannot wander to the flip-flop mirror
solution (ka and elimination swapped, volume shrunk to match) that fits the curve equally well.
Slow-release products whose absorption is truly slower than elimination need another model.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.infer import MCMC, NUTS, SVI, Predictive, Trace_ELBO
from pyro.infer.autoguide import AutoMultivariateNormal, init_to_value
from pyro.ops.stats import effective_sample_size, split_gelman_rubin
from pyro.optim import ClippedAdam
from torch import Tensor

from jumeau.errors import JumeauError, JumeauWarning
from jumeau.twins.covariates import CategoricalEffects
from jumeau.twins.events import PKData
from jumeau.twins.models import MechanisticModel, PaddedDoses, make_model
from jumeau.twins.models.pk import one_compartment, two_compartment
from jumeau.twins.twin import Twin

ERROR_MODELS = ("additive", "proportional", "combined")
METHODS = ("nuts", "svi")
CLEARANCES = {"CL", "Q"}
VOLUMES = {"V", "V1", "V2"}
RHAT_LIMIT = 1.05


@dataclass(frozen=True)
class StudyTensors:
    """A study as padded tensors: doses, observation times and values, and their mask."""

    doses: PaddedDoses
    times: Tensor
    values: Tensor
    observed: Tensor
    weight_ratio: Tensor | None  # weight / reference weight, per subject
    reference_weight: float | None  # the study's median weight
    clearance_exponent: float = 0.75
    design: Tensor | None = None  # (subjects, effects): categorical levels
    mapping: Tensor | None = None  # (effects, parameters)

    @classmethod
    def build(
        cls,
        data: PKData,
        model: MechanisticModel,
        weight: str | None,
        clearance_exponent: float = 0.75,
        effects: CategoricalEffects | None = None,
    ) -> StudyTensors:
        doses = PaddedDoses.stack([s.doses(absorption=model.absorption) for s in data])
        width = max(1, max(len(s.times) for s in data))
        times = np.zeros((len(data), width))
        values = np.zeros((len(data), width))
        observed = np.zeros((len(data), width), dtype=bool)
        for i, subject in enumerate(data):
            count = len(subject.times)
            times[i, :count], values[i, :count], observed[i, :count] = (
                subject.times,
                subject.values,
                True,
            )
        ratio, reference = None, None
        if weight is not None:
            if weight not in data.covariates:
                raise JumeauError(
                    f"{data.source}: no covariate {weight!r} for the weight effect "
                    f"(covariates: {', '.join(data.covariates) or 'none'})"
                )
            weights = np.array([float(s.covariates[weight] or np.nan) for s in data])
            if not (np.isfinite(weights).all() and (weights > 0).all()):
                raise JumeauError(f"{data.source}: every subject needs a positive {weight!r}")
            reference = float(np.median(weights))
            ratio = torch.as_tensor(weights / reference)
        design = mapping = None
        if effects is not None and effects.effects:
            design = torch.as_tensor(effects.design(data.covariate_table()))
            mapping = torch.as_tensor(effects.mapping(model))
        return cls(
            doses,
            torch.as_tensor(times),
            torch.as_tensor(values),
            torch.as_tensor(observed),
            ratio,
            reference,
            float(clearance_exponent),
            design,
            mapping,
        )


@dataclass(frozen=True)
class FreshPatients:
    """Parameters of new patients (draws × subjects) and the error scales of their draws."""

    params: dict[str, Tensor]
    sigma_add: np.ndarray | None  # (draws,)
    sigma_prop: np.ndarray | None

    def residual_variance(self, predicted: np.ndarray) -> np.ndarray:
        """Observation variance around `predicted` (draws first)."""
        shape = (-1,) + (1,) * (predicted.ndim - 1)
        scales = [
            None if s is None else s.reshape(shape) for s in (self.sigma_add, self.sigma_prop)
        ]
        return np.asarray(residual_variance(predicted, *scales))


@dataclass
class PopulationFit:
    """Posterior draws of a population fit (chains × draws) and their diagnostics. It keeps the
    subjects' ids and weight ratios, not their observations: `data` is there after a fit, None
    after `load_fit` (a fit file holds no patient record)."""

    model: MechanisticModel
    error: str
    weight: str | None
    reference_weight: float | None
    subject_ids: list[Any]
    weight_ratio: np.ndarray | None  # per subject
    clearance_exponent: float
    draws: dict[str, np.ndarray]  # site name → (chains, draws, ...)
    seed: int
    seconds: float
    study_sha256: str
    diagnostics: dict[str, Any] = field(default_factory=dict)
    data: PKData | None = None
    effects: CategoricalEffects | None = None
    design: np.ndarray | None = None  # (subjects, effects)

    def _shift(self, design: Any) -> tuple[Tensor | None, Tensor | None]:
        if self.effects is None or not self.effects.effects or design is None:
            return None, None
        return torch.as_tensor(design), torch.as_tensor(self.effects.mapping(self.model))

    @property
    def typical(self) -> dict[str, np.ndarray]:
        """Posterior draws (chains × draws) of the typical patient's parameters (z = 0, at the
        reference weight), in the model's units — ka included, not its sampled excess."""
        log_typical = torch.as_tensor(self.draws["log_typical"])
        sites = {
            "log_typical": log_typical,
            "omega": torch.zeros_like(log_typical),
            "z": torch.zeros_like(log_typical)[..., None, :],
        }
        params = _individual_parameters(self.model, sites, None, self.clearance_exponent)
        return {name: value[..., 0].numpy() for name, value in params.items()}

    def individual(self, subject_id: Any) -> dict[str, np.ndarray]:
        """Posterior draws (chains × draws) of one patient's parameters."""
        index = self.index_of(subject_id)
        return {name: values[..., index] for name, values in self.individual_all().items()}

    def individual_all(self) -> dict[str, np.ndarray]:
        """Every patient's parameter draws: name → (chains, draws, patients)."""
        sampled = {k: torch.as_tensor(v) for k, v in self.draws.items()}
        ratio = None if self.weight_ratio is None else torch.as_tensor(self.weight_ratio)
        params = _individual_parameters(
            self.model, sampled, ratio, self.clearance_exponent, *self._shift(self.design)
        )
        return {name: value.numpy() for name, value in params.items()}

    def fresh_patients(
        self,
        rng: np.random.Generator,
        draws: int,
        subjects: int,
        weight_ratio: Tensor | None = None,
        design: np.ndarray | None = None,
    ) -> FreshPatients:
        """New patients from the population: `draws` posterior draws picked at random, each with
        fresh between-patient effects for `subjects` patients (parameters: draws × subjects).
        `weight_ratio` broadcasts against that shape, `design` (categorical levels, from
        `effects.design`) against (draws, subjects, effects); without it, reference levels."""
        chains, count = self.draws["log_typical"].shape[:2]
        pick = rng.integers(chains * count, size=draws)

        def picked(name: str) -> np.ndarray:
            array = self.draws[name]
            return array.reshape(chains * count, *array.shape[2:])[pick]

        sites = {
            "log_typical": torch.as_tensor(picked("log_typical")),
            "omega": torch.as_tensor(picked("omega")),
            "z": torch.as_tensor(
                rng.standard_normal((draws, subjects, len(self.model.parameters)))
            ),
        }
        if "beta" in self.draws:
            sites["beta"] = torch.as_tensor(picked("beta"))
        with torch.no_grad():
            params = _individual_parameters(
                self.model, sites, weight_ratio, self.clearance_exponent, *self._shift(design)
            )
        sigmas = {n: picked(n) for n in ("sigma_add", "sigma_prop") if n in self.draws}
        return FreshPatients(params, sigmas.get("sigma_add"), sigmas.get("sigma_prop"))

    def index_of(self, subject_id: Any) -> int:
        for index, known in enumerate(self.subject_ids):
            if known == subject_id or str(known) == str(subject_id):
                return index
        shown = ", ".join(str(i) for i in self.subject_ids[:5])
        more = " ..." if len(self.subject_ids) > 5 else ""
        raise JumeauError(f"no subject {subject_id!r} in this fit (subjects: {shown}{more})")

    def save(self, path: str | Path) -> Path:
        """A safetensors + JSON fit file (draws, ids, diagnostics; no patient record)."""
        from jumeau.twins.persistence import save_fit

        return save_fit(self, path)

    def twin(self, subject_id: Any) -> Twin:
        """The patient's digital twin: their posterior parameters, ready to simulate."""
        return Twin.from_fit(self, subject_id)

    def summary(self) -> list[dict[str, Any]]:
        """Median and 90 % credible interval of typical values, ω and error scales."""
        rows = []
        for name, values in self.typical.items():
            rows.append(_summary_row(f"{name} (typical)", values))
        for j, name in enumerate(self.model.parameter_names):
            rows.append(_summary_row(f"ω {name}", self.draws["omega"][..., j]))
        if self.effects is not None and "beta" in self.draws:
            transforms = [p.transform for p in self.model.parameters]
            for j, label in enumerate(self.effects.labels(self.model)):
                parameter = self.effects.effects[j][2]
                values = self.draws["beta"][..., j]
                log = transforms[self.model.parameter_names.index(parameter)] == "log"
                rows.append(_summary_row(label, np.exp(values) if log else values))
        for name in ("sigma_add", "sigma_prop"):
            if name in self.draws:
                rows.append(_summary_row(name, self.draws[name]))
        return rows


def fit_population(
    data: PKData,
    model: str | MechanisticModel,
    *,
    method: str = "nuts",
    error: str = "combined",
    weight: str | None = None,
    clearance_exponent: float = 0.75,
    categorical: dict[str, list[str]] | None = None,
    chains: int = 2,
    warmup: int = 500,
    samples: int = 500,
    steps: int = 3000,
    seed: int = 0,
    progress: bool = True,
    parallel: bool = False,
) -> PopulationFit:
    """The population posterior, by NUTS (`method="nuts"`: exact in the limit; chains run one
    after the other, each seeded from `seed`; R-hat, effective sample sizes and divergences are
    checked, with a warning when R-hat exceeds 1.05 or a transition diverged) or by stochastic
    variational inference (`method="svi"`: a multivariate-normal approximation fitted in `steps`
    Adam steps, then `samples` draws from it — fast on large studies, but it understates
    posterior uncertainty; no R-hat). `categorical={"SEX": ["CL"]}` lets each non-reference
    level of a covariate shift the parameters listed (see `jumeau.twins.covariates`).
    `parallel=True` runs the NUTS chains in separate processes, one per core (about `chains`
    times faster when there are as many cores; the model must be picklable — built-in models
    are, models declared with lambdas are not)."""
    mechanistic = make_model(model) if isinstance(model, str) else model
    if method not in METHODS:
        raise JumeauError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if error not in ERROR_MODELS:
        raise JumeauError(f"unknown error model {error!r}; choose from {', '.join(ERROR_MODELS)}")
    counts = (("chains", chains), ("warmup", warmup), ("samples", samples), ("steps", steps))
    for name, value in counts:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise JumeauError(f"{name} must be a whole number ≥ 1, not {value!r}")
    if not (isinstance(clearance_exponent, (int, float)) and 0 <= clearance_exponent <= 2):
        raise JumeauError(f"clearance_exponent must be between 0 and 2, not {clearance_exponent!r}")
    if not isinstance(data, PKData):
        raise JumeauError("fit_population expects PKData (jumeau.twins.PKData.from_frame(df))")
    effects = (
        None
        if not categorical
        else CategoricalEffects.declare(categorical, data.covariate_table(), mechanistic)
    )
    with _double_precision():
        tensors = StudyTensors.build(data, mechanistic, weight, clearance_exponent, effects)
        scale = float(tensors.values[tensors.observed].abs().median().clamp(min=1e-8))
        arguments = (mechanistic, tensors, error, scale)
        started = time.perf_counter()
        start = _pooled_start(mechanistic, tensors, error, scale, seed)
        if method == "nuts":
            per_chain, divergences = _nuts(
                arguments, start, chains, warmup, samples, seed, progress, parallel
            )
            extra: dict[str, Any] = {}
        else:
            per_chain, final_loss = _svi(arguments, start, steps, samples, seed)
            divergences, extra = 0, {"final_elbo_loss": final_loss}
        seconds = time.perf_counter() - started
    draws = {name: torch.stack([c[name] for c in per_chain]).numpy() for name in per_chain[0]}
    location, spread, variability = (
        np.array(column)
        for column in zip(*(p.prior(scale) for p in mechanistic.parameters), strict=True)
    )
    draws["log_typical"] = location + spread * draws.pop("typical_std")
    draws["omega"] = variability * draws.pop("omega_std")
    fit = PopulationFit(
        model=mechanistic,
        error=error,
        weight=weight,
        reference_weight=tensors.reference_weight,
        subject_ids=data.ids,
        weight_ratio=None if tensors.weight_ratio is None else tensors.weight_ratio.numpy(),
        clearance_exponent=float(clearance_exponent),
        draws=draws,
        seed=seed,
        seconds=seconds,
        study_sha256=study_sha256(data),
        data=data,
        effects=effects,
        design=None if tensors.design is None else tensors.design.numpy(),
    )
    # independent draws from an approximation: R-hat and ESS would say nothing about its error
    fit.diagnostics = (
        {**_diagnostics(fit, divergences), "method": "nuts"}
        if method == "nuts"
        else {"method": "svi", "steps": steps, **extra}
    )
    if method == "nuts":
        _warn_if_unconverged(fit)
    return fit


def _nuts(
    arguments: tuple[Any, ...],
    start: dict[str, Tensor],
    chains: int,
    warmup: int,
    samples: int,
    seed: int,
    progress: bool,
    parallel: bool = False,
) -> tuple[list[dict[str, Tensor]], int]:
    settings = (warmup, samples, seed)
    if parallel and chains > 1 and not _picklable(arguments):
        warnings.warn(
            f"{arguments[0].name} cannot be sent to other processes (a model declared with "
            "lambdas or local functions); running the chains one after the other",
            JumeauWarning,
            stacklevel=3,
        )
        parallel = False
    if parallel and chains > 1:
        results = _chains_in_processes(arguments, start, chains, settings, progress)
    else:
        results = [
            _one_chain(arguments, start, chain, settings, progress) for chain in range(chains)
        ]
    per_chain = [{k: torch.as_tensor(v) for k, v in draws.items()} for draws, _ in results]
    return per_chain, sum(divergent for _, divergent in results)


def _picklable(arguments: tuple[Any, ...]) -> bool:
    try:
        pickle.dumps(arguments)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


def _one_chain(
    arguments: tuple[Any, ...],
    start: dict[str, Tensor],
    chain: int,
    settings: tuple[int, int, int],
    progress: bool,
) -> tuple[dict[str, np.ndarray], int]:
    """One NUTS chain, seeded from the fit's seed and its index, started at its jittered
    pooled estimates; its draws as arrays (they cross process boundaries) and divergences."""
    warmup, samples, seed = settings
    pyro.set_rng_seed(seed * 1000 + chain)
    kernel = NUTS(
        _population_model,
        jit_compile=True,
        ignore_jit_warnings=True,
        target_accept_prob=0.85,
        init_strategy=init_to_value(values=_jittered(start, seed * 1000 + chain, chain)),
        max_tree_depth=8,
    )
    sampler = MCMC(kernel, num_samples=samples, warmup_steps=warmup, disable_progbar=not progress)
    sampler.run(*arguments)
    draws = {k: v.detach().numpy() for k, v in sampler.get_samples().items()}
    return draws, len(sampler.diagnostics().get("divergences", {}).get("chain 0", []))


def _chains_in_processes(
    arguments: tuple[Any, ...],
    start: dict[str, Tensor],
    chains: int,
    settings: tuple[int, int, int],
    progress: bool,
) -> list[tuple[dict[str, np.ndarray], int]]:
    """Each chain in its own process, as many at once as there are cores. Why not Pyro's
    multi-chain MCMC: it keeps a core for the parent process, so on 2 cores it runs 2 chains
    one after the other. Spawned, not forked (a forked process that inherited torch's thread
    pool can hang); one torch thread each; the first chain's progress bar stands for all."""
    workers = max(1, min(chains, os.cpu_count() or 1))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=torch.set_num_threads, initargs=(1,)
    ) as pool:
        futures = [
            pool.submit(_one_chain, arguments, start, chain, settings, progress and chain == 0)
            for chain in range(chains)
        ]
        return [future.result() for future in futures]


def _jittered(start: dict[str, Tensor], seed: int, chain: int) -> dict[str, Tensor]:
    """The first chain starts at the pooled estimates; the others around them (typical values
    moved by 0.15 prior sd — 0.3 on the log scale of a usual parameter — scales ×e^±0.3), so
    that R-hat can still see chains that disagree."""
    if chain == 0:
        return start
    generator = torch.Generator().manual_seed(seed)

    def noise(like: Tensor) -> Tensor:
        return 0.3 * torch.randn(like.shape, generator=generator, dtype=like.dtype)

    moved = dict(start)
    moved["typical_std"] = start["typical_std"] + 0.5 * noise(start["typical_std"])
    for name in ("omega_std", "sigma_add", "sigma_prop"):
        if name in start:
            moved[name] = start[name] * torch.exp(noise(start[name]))
    return moved


def _svi(
    arguments: tuple[Any, ...], start: dict[str, Tensor], steps: int, samples: int, seed: int
) -> tuple[list[dict[str, Tensor]], float]:
    pyro.set_rng_seed(seed)
    pyro.clear_param_store()
    guide = AutoMultivariateNormal(_population_model, init_loc_fn=init_to_value(values=start))
    schedule = ClippedAdam({"lr": 0.01, "lrd": 0.1 ** (1 / steps), "clip_norm": 10.0})
    inference = SVI(_population_model, guide, schedule, Trace_ELBO())
    losses = [inference.step(*arguments) for _ in range(steps)]
    sites = ["typical_std", "omega_std", "z", "beta", "sigma_add", "sigma_prop"]
    predictive = Predictive(_population_model, guide=guide, num_samples=samples, return_sites=sites)
    with torch.no_grad():
        drawn = predictive(*arguments)
    k = len(arguments[0].parameters)
    subjects = arguments[1].times.shape[0]
    effects = 0 if arguments[1].mapping is None else arguments[1].mapping.shape[0]
    shapes = {"typical_std": (k,), "omega_std": (k,), "z": (subjects, k), "beta": (effects,)}
    draws = {
        name: value.detach().reshape(samples, *shapes.get(name, ()))
        for name, value in drawn.items()
    }
    pyro.clear_param_store()
    return [draws], float(np.mean(losses[-100:]))


def _pooled_start(
    model: MechanisticModel,
    tensors: StudyTensors,
    error: str,
    scale: float,
    seed: int,
    starts: int = 16,
    steps: int = 300,
) -> dict[str, Tensor]:
    """Where the samplers start: the best of `starts` naive-pooled fits (every patient typical,
    z = 0), each begun at a draw from the prior and improved by Adam on the likelihood.

    Why: a non-linear model's posterior can have local modes (a sigmoid's steepness traded for
    its midpoint, say) that the prior's median lies next to; SVI then converges there and NUTS
    spends its warm-up escaping. Pooled fitting from many starts is cheap (all starts in one
    batch) and is how pharmacometricians find initial estimates. Between-patient sds start at
    0.3, individual effects at 0, error scales at their pooled estimates."""
    generator = torch.Generator().manual_seed(seed)
    location, spread, _ = (
        torch.tensor(column)
        for column in zip(*(p.prior(scale) for p in model.parameters), strict=True)
    )
    # optimised in prior-standardised units: parameters on the identity scale can be 1e-4 (a
    # slope per hour) or 100 (a baseline score), and one Adam step size must suit both
    standard = 0.5 * torch.randn(starts, len(location), generator=generator)
    standard[0] = 0.0
    standard.requires_grad_(True)
    log_sigma = torch.full((starts, 2), -1.0, requires_grad=True)
    optimiser = torch.optim.Adam([standard, log_sigma], lr=0.05)
    subjects = tensors.times.shape[0]

    def loss_per_start() -> Tensor:
        typical = location + spread * standard
        sites = {
            "log_typical": typical,
            "omega": torch.zeros_like(typical),
            "z": torch.zeros(starts, subjects, len(location)),
        }
        params = _individual_parameters(
            model, sites, tensors.weight_ratio, tensors.clearance_exponent
        )
        predicted = model.predict(params, tensors.doses, tensors.times)
        limit = 1e6 * scale
        predicted = torch.nan_to_num(predicted, nan=limit).clamp(min=-limit, max=limit)
        sigma = torch.exp(log_sigma)
        additive = sigma[:, 0, None, None] * scale if error != "proportional" else None
        proportional = sigma[:, 1, None, None] if error != "additive" else None
        variance = residual_variance(predicted, additive, proportional).clamp(min=1e-12 * scale**2)
        terms = (tensors.values - predicted) ** 2 / variance + torch.log(variance)
        return torch.where(tensors.observed, terms, torch.zeros_like(terms)).sum(dim=(-2, -1))

    for _ in range(steps):
        optimiser.zero_grad()
        losses = loss_per_start()
        losses.sum().backward()
        optimiser.step()
    with torch.no_grad():
        losses = torch.nan_to_num(loss_per_start(), nan=torch.inf)
        best = int(torch.argmin(losses))
        start = {
            "typical_std": standard[best].detach().clone(),
            "omega_std": torch.full_like(location, 0.3),
            "z": torch.zeros(subjects, len(location)),
        }
        sigma = torch.exp(log_sigma[best]).detach()
    if tensors.mapping is not None:
        start["beta"] = torch.zeros(tensors.mapping.shape[0])
    if error != "proportional":
        start["sigma_add"] = sigma[0] * scale
    if error != "additive":
        start["sigma_prop"] = sigma[1]
    return start


def _population_model(
    model: MechanisticModel, tensors: StudyTensors, error: str, scale: float
) -> None:
    k = len(model.parameters)
    real = tensors.values.dtype  # float64 also in worker processes, whose default is float32
    location, spread, variability = (
        torch.tensor(column, dtype=real)
        for column in zip(*(p.prior(scale) for p in model.parameters), strict=True)
    )
    # sampled in prior-standardised units, so that a slope per hour (1e-4) and a baseline score
    # (100) look alike to NUTS's step size and to SVI's initial scale
    standard = pyro.sample("typical_std", dist.Normal(torch.zeros(k, dtype=real), 1.0).to_event(1))
    spread_of_omega = pyro.sample(
        "omega_std", dist.HalfNormal(torch.ones(k, dtype=real)).to_event(1)
    )
    sites = {"log_typical": location + spread * standard, "omega": variability * spread_of_omega}
    if tensors.mapping is not None:
        effects = tensors.mapping.shape[0]
        sites["beta"] = pyro.sample(
            "beta", dist.Normal(torch.zeros(effects, dtype=real), 1.0).to_event(1)
        )
    with pyro.plate("subjects", tensors.times.shape[0]):
        sites["z"] = pyro.sample("z", dist.Normal(torch.zeros(k, dtype=real), 1.0).to_event(1))
    params = _individual_parameters(
        model,
        sites,
        tensors.weight_ratio,
        tensors.clearance_exponent,
        tensors.design,
        tensors.mapping,
    )
    # far in a prior's tail a growth model can overflow: keep the likelihood finite there (it
    # is then negligible) rather than let one wild draw stop the sampler
    limit = 1e6 * scale
    predicted = torch.nan_to_num(model.predict(params, tensors.doses, tensors.times), nan=limit)
    predicted = predicted.clamp(min=-limit, max=limit)
    additive = proportional = None
    if error in ("additive", "combined"):
        additive = pyro.sample("sigma_add", dist.HalfNormal(torch.tensor(0.2 * scale, dtype=real)))
    if error in ("proportional", "combined"):
        proportional = pyro.sample("sigma_prop", dist.HalfNormal(torch.tensor(0.3, dtype=real)))
    spread = torch.sqrt(residual_variance(predicted, additive, proportional).clamp(min=1e-12))
    likelihood = dist.Normal(predicted, spread).mask(tensors.observed).to_event(2)
    pyro.sample("observed", likelihood, obs=tensors.values)


def residual_variance(predicted: Any, additive: Any = None, proportional: Any = None) -> Any:
    """Variance of an observation around its prediction under the additive, proportional or
    combined error model (arrays or tensors, broadcast against `predicted`)."""
    variance = predicted * 0.0
    if additive is not None:
        variance = variance + additive**2
    if proportional is not None:
        variance = variance + (proportional * predicted) ** 2
    return variance


def _individual_parameters(
    model: MechanisticModel,
    sites: dict[str, Tensor],
    weight_ratio: Tensor | None,
    clearance_exponent: float = 0.75,
    design: Tensor | None = None,
    mapping: Tensor | None = None,
) -> dict[str, Tensor]:
    """θ_i from the sampled sites: normal around the typical values on each parameter's
    transformed scale (log-normal for the usual positive ones), allometric weight, and for oral
    models ka as the slowest disposition rate plus its sampled excess. (The site keeps its
    historical name `log_typical`: it holds the transformed typical values.)"""
    log_theta = sites["log_typical"][..., None, :] + sites["omega"][..., None, :] * sites["z"]
    if design is not None and mapping is not None and "beta" in sites:
        log_theta = log_theta + (design * sites["beta"][..., None, :]) @ mapping
    params = {}
    for j, parameter in enumerate(model.parameters):
        name = parameter.name
        value = parameter.constrain(log_theta[..., j])
        if weight_ratio is not None and name in CLEARANCES:
            value = value * weight_ratio**clearance_exponent
        elif weight_ratio is not None and name in VOLUMES:
            value = value * weight_ratio
        params[name] = value
    if model.absorption and "ka" in params and "CL" in params:
        params["ka"] = _slowest_rate(params) + params["ka"]
    return params


def _slowest_rate(params: dict[str, Tensor]) -> Tensor:
    if "V" in params:
        _, rates = one_compartment(params["CL"], params["V"])
    else:
        _, rates = two_compartment(params["CL"], params["V1"], params["Q"], params["V2"])
    return rates.min(dim=-1).values


def study_sha256(data: PKData) -> str:
    """A hash of the study (doses, observations, covariates), recorded instead of the study."""
    digest = hashlib.sha256()
    for subject in data:
        digest.update(str(subject.id).encode())
        for array in (
            subject.dose_times,
            subject.dose_amounts,
            subject.dose_durations,
            subject.dose_compartments,
            subject.times,
            subject.values,
        ):
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        digest.update(repr(sorted(subject.covariates.items())).encode())
    return digest.hexdigest()


def _summary_row(name: str, values: np.ndarray) -> dict[str, Any]:
    flat = np.asarray(values).reshape(-1)
    low, median, high = np.quantile(flat, [0.05, 0.5, 0.95])
    return {"parameter": name, "median": float(median), "q05": float(low), "q95": float(high)}


def _diagnostics(fit: PopulationFit, divergences: int) -> dict[str, Any]:
    rhat: dict[str, float] = {}
    ess: dict[str, float] = {}
    chains = next(iter(fit.draws.values())).shape[0]
    for name in ("log_typical", "omega", "beta", "sigma_add", "sigma_prop"):
        if name not in fit.draws:
            continue
        values = torch.as_tensor(fit.draws[name])
        ess_values = effective_sample_size(values).reshape(-1)
        ess[name] = float(ess_values.min())
        if chains > 1:
            rhat[name] = float(split_gelman_rubin(values).reshape(-1).max())
    return {"rhat_max": rhat, "ess_min": ess, "divergences": divergences, "chains": chains}


def _warn_if_unconverged(fit: PopulationFit) -> None:
    problems = []
    worst = max(fit.diagnostics["rhat_max"].values(), default=1.0)
    if worst > RHAT_LIMIT:
        problems.append(f"R-hat {worst:.3f} > {RHAT_LIMIT}")
    if fit.diagnostics["divergences"]:
        problems.append(f"{fit.diagnostics['divergences']} divergent transition(s)")
    if problems:
        warnings.warn(
            f"the population fit may not have converged ({'; '.join(problems)}); run more "
            "warm-up and draws, or more chains, before trusting it",
            JumeauWarning,
            stacklevel=3,
        )


class _double_precision:
    """float64 inside the fit (PK curves span orders of magnitude), restored afterwards."""

    def __enter__(self) -> None:
        self.previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)

    def __exit__(self, *exc: object) -> None:
        torch.set_default_dtype(self.previous)
