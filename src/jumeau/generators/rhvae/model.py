"""Riemannian Hamiltonian VAE on mixed clinical data.

Same encoder, decoder and per-type likelihood as the VAE (it subclasses it); what changes:

- Training: z₀ ~ q(z|x) is moved by K steps of a *generalised* leapfrog integrator of the
  Hamiltonian H(z, ρ) = U(z) + ½ ρᵀG⁻¹(z)ρ with U(z) = −log p(x|z) − log p(z) + ½ log det G(z),
  with tempering of the momentum between steps, and the ELBO is taken at z_K. The two implicit
  half-steps are solved by fixed-point iteration; the metric's part of ∂H/∂z is in closed form
  (`metric.kinetic_gradient`), only ∂U/∂z goes through autograd.
- Generation: latent codes are drawn by HMC from π(z) ∝ √det G⁻¹(z), chains started at the
  training codes — the geometry-aware sampler of the paper — or, for comparison on the same fitted
  model, from the N(0, I) prior (`sampler="prior"`). Three changes to the paper's density, all
  measured (docs/generators.md): the power of det G⁻¹ is 2/d, not 1; a Gaussian envelope keeps
  chains off the flat λ floor (fixed at N(0, I) by default; `prior_weight=None` calibrates its
  precision per dimension, trading some distance to the training patients for marginals); and
  the floor is λ = 1, the prior's identity metric (`sampling_floor`), not training's 0.01, so
  that the density follows the codes only where their metric outweighs the prior's.

Known failure modes of public code, handled here: NaN losses and exploding leapfrog norms (the
per-patient gradients are clamped, log-variances and metric diagonals are bounded, log-determinants
go through Cholesky, non-finite batches are skipped and counted, gradients are clipped), and the
O(N) metric evaluation at sampling time (past `exact_metric_limit` patients, a random subset of
codes with scaled matrices stands for all; see `_metric_centroids`).

Note for data protection: like any kernel method, the fitted metric keeps one latent code (and one
metric factor) per training patient in the model file. They are not records, but treat an RHVAE
model file with the care due to the training data.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from jumeau.data.cohort import Cohort
from jumeau.generators.base import MAX_SEED
from jumeau.generators.neural.training import TrainingHistory
from jumeau.generators.rhvae.config import RHVAEConfig
from jumeau.generators.rhvae.metric import (
    MetricNetwork,
    SamplingMetric,
    inverse_metric,
    kinetic_gradient,
    log_det,
)
from jumeau.generators.vae.model import VAE, VAEModule

_LOG_2PI = math.log(2 * math.pi)
_ENVELOPE_RANGE = (0.05, 50.0)  # sd from 0.14 to 4.5 latent units around the origin


class RHVAEModule(VAEModule):
    def __init__(self, width: int, n_params: int, latent_dim: int, hidden: int, layers: int):
        super().__init__(width, n_params, latent_dim, hidden, layers)
        self.metric = MetricNetwork(width, hidden, latent_dim)


class RHVAE(VAE):
    """Geometry-aware VAE for small cohorts (see module docstring)."""

    name: ClassVar[str] = "rhvae"
    config_class = RHVAEConfig
    config: RHVAEConfig
    module_: RHVAEModule

    def _make_module(self, width: int) -> RHVAEModule:
        return RHVAEModule(
            width,
            self.likelihood_.n_params,
            self.latent_dim_,
            self.hidden_dim_,
            self.config.n_layers,
        )

    # ------------------------------------------------------------------ training
    def _potential_gradient(
        self, z: Tensor, x: Tensor, mask: Tensor, centroids: Tensor, matrices: Tensor
    ) -> Tensor:
        """∂U/∂z with U(z) = −log p(x|z) + ½‖z‖² − ½ log det G⁻¹(z); graph kept for training."""
        config = self.config
        log_likelihood = self.likelihood_.log_prob(self.module_.decode(z), x, mask)
        inverse = inverse_metric(z, centroids, matrices, config.temperature, config.regularization)
        potential = -log_likelihood + 0.5 * z.pow(2).sum(-1) - 0.5 * log_det(inverse)
        (gradient,) = torch.autograd.grad(potential.sum(), z, create_graph=True)
        return _clamp_rows(gradient, config.max_gradient)

    def _flow(
        self, z: Tensor, x: Tensor, mask: Tensor, centroids: Tensor, matrices: Tensor
    ) -> tuple[Tensor, Tensor]:
        """K generalised-leapfrog steps with tempering; returns (z_K, ρ_K)."""
        c = self.config
        step, temperature, lam = c.leapfrog_step, c.temperature, c.regularization
        rho = torch.randn_like(z) / math.sqrt(c.beta_zero)
        beta_sqrt_old = math.sqrt(c.beta_zero)

        def dH_dz(z_: Tensor, rho_: Tensor, potential: Tensor) -> Tensor:
            kinetic = kinetic_gradient(z_, rho_, centroids, matrices, temperature)
            return potential + _clamp_rows(kinetic, c.max_gradient)

        for k in range(1, c.n_leapfrog + 1):
            potential = self._potential_gradient(z, x, mask, centroids, matrices)
            rho_half = rho
            for _ in range(c.fixed_point_steps):  # ρ½ = ρ − ε/2 ∂H/∂z(z, ρ½)
                rho_half = rho - 0.5 * step * dH_dz(z, rho_half, potential)
            velocity = _apply(inverse_metric(z, centroids, matrices, temperature, lam), rho_half)
            z_next = z + step * velocity
            for _ in range(c.fixed_point_steps):  # z' = z + ε/2 (G⁻¹(z) + G⁻¹(z')) ρ½
                inverse_next = inverse_metric(z_next, centroids, matrices, temperature, lam)
                z_next = z + 0.5 * step * (velocity + _apply(inverse_next, rho_half))
            z = z_next
            potential = self._potential_gradient(z, x, mask, centroids, matrices)
            rho = rho_half - 0.5 * step * dH_dz(z, rho_half, potential)
            beta_sqrt = _tempering(k, c.n_leapfrog, c.beta_zero)
            rho = rho * (beta_sqrt_old / beta_sqrt)
            beta_sqrt_old = beta_sqrt
        return z, rho

    def _train(
        self,
        x: Tensor,
        m: Tensor,
        train_rows: np.ndarray,
        validation_rows: np.ndarray,
        progress: bool,
        seed: int,
    ) -> TrainingHistory:
        """Warm up encoder and decoder with the VAE objective, then train the RHVAE objective."""
        self._phase = "vae"
        warmup = super()._train(x, m, train_rows, validation_rows, progress, seed)
        self._phase = "flow"
        flow = self._train_phase(
            x,
            m,
            (train_rows, validation_rows),
            epochs=self.config.flow_epochs,
            batch_size=self.config.flow_batch_size,
            patience=self.config.flow_patience,
            progress=progress,
            label="fitting rhvae (Riemannian flow)",
            seed=(seed + 1) % (MAX_SEED + 1),  # a different stream from the warm-up's
        )
        del self._phase
        self.warmup_history_ = warmup
        return flow

    def _loss(self, x: Tensor, mask: Tensor, epoch: int | None) -> Tensor:
        if getattr(self, "_phase", "flow") == "vae":
            return super()._loss(x, mask, epoch)
        epoch = None  # the flow phase follows the warm-up: full KL weight throughout
        c = self.config
        x = self._dequantised(x, mask)
        mean, logvar = self.module_.encode(x)
        eps0 = torch.randn_like(mean)
        z0 = mean + torch.exp(0.5 * logvar) * eps0
        factors = self.module_.metric(x)
        matrices = factors @ factors.transpose(-1, -2)
        z, rho = self._flow(z0, x, mask, mean, matrices)
        log_likelihood = self.likelihood_.log_prob(self.module_.decode(z), x, mask)
        d = z.shape[-1]
        log_prior = -0.5 * (z.pow(2).sum(-1) + d * _LOG_2PI)
        inverse = inverse_metric(z, mean, matrices, c.temperature, c.regularization)
        quadratic = (rho * _apply(inverse, rho)).sum(-1)
        log_rho = -0.5 * (quadratic + d * _LOG_2PI) + 0.5 * log_det(inverse)  # N(ρ; 0, G(z))
        log_q = -0.5 * (eps0.pow(2).sum(-1) + d * _LOG_2PI) - 0.5 * logvar.sum(-1)
        kl_weight = self._kl_weight(epoch)
        # Annealing weighs the latent terms as the VAE's KL warm-up does.
        objective = log_likelihood + kl_weight * (log_prior + log_rho - log_q)
        return -objective.mean()

    @torch.no_grad()
    def _after_training(self, x: Tensor, m: Tensor) -> None:
        """Keep each training patient's code and metric matrix: they define G⁻¹ from now on."""
        mean, logvar = self.module_.encode(x)
        factors = self.module_.metric(x)
        # Kept on the CPU (an accelerator only trains): sampling and calibration run here.
        self.centroids_ = mean.detach().cpu().clone()
        self.matrices_ = (factors @ factors.transpose(-1, -2)).detach().cpu().clone()
        if self.shareable:  # a patient's code decodes to that patient: none is kept, and the
            # model samples from its prior (see `sample`)
            self.centroids_ = self.centroids_[:0]
            self.matrices_ = self.matrices_[:0]
        # What the decoder saw in training, z ~ q(z|x) pooled over the patients: one second
        # moment per latent dimension, the target of the envelope's calibration.
        self.code_moments_ = (mean.pow(2) + logvar.exp()).mean(0).detach().cpu()
        self.__dict__.pop("envelope_", None)  # a refit forgets the old calibration
        if self.config.prior_weight is None:
            self._envelope_precision()  # calibrate now: the fit pays for it, not the first sample

    def _calibrate_envelope(self, target: Tensor) -> Tensor:
        """One envelope precision per latent dimension (`prior_weight=None`), chosen so that the
        geometry-aware sampler's second moments match `target`, the aggregate posterior's.

        Why: with a fixed N(0, I) envelope, the product of kernels around the codes and the
        envelope pulls every sample toward 0 on small latents (the decoder then sees codes that
        are too central: narrow marginals); on larger latents, far from the codes the λ floor
        makes the density flat and the envelope alone sets the spread, also in dimensions the
        codes do not use. Where the floor dominates, the second moment is ≈ 1/w, and the
        multiplicative update w ← w · m₂(w) / target hits it in one step; where the kernels
        dominate it moves more slowly, never past the solution. The pilot draws use a fixed seed:
        the envelope is a function of the fitted model alone."""
        precision = torch.ones(target.shape[0])
        if len(self.centroids_) == 0:
            return precision
        generator = torch.Generator().manual_seed(0)
        n = max(512, min(2048, 2 * len(self.centroids_)))
        floor = target.clamp_min(1e-3)
        for _ in range(self.config.envelope_rounds):
            codes = self._geometry_samples(n, generator, precision)
            moments = codes.pow(2).mean(0)
            precision = (precision * moments / floor).clamp(*_ENVELOPE_RANGE)
        return precision

    def _move_state(self, device: torch.device) -> None:
        super()._move_state(device)
        if hasattr(self, "centroids_"):
            self.centroids_ = self.centroids_.to(device)
            self.matrices_ = self.matrices_.to(device)

    # ------------------------------------------------------------------ sampling
    def sample(
        self,
        n: int,
        *,
        seed: int | None = None,
        where: str | None = None,
        sampler: str | None = None,
    ) -> Cohort:
        """As `Generator.sample`; `sampler="prior"` draws codes from N(0, I) instead of the
        geometry-aware sampler, on the same fitted model."""
        chosen = self._default_sampler if sampler is None else sampler
        if chosen not in ("geometry", "prior"):
            from jumeau.errors import JumeauError

            raise JumeauError(f"sampler must be 'geometry' or 'prior', not {chosen!r}")
        self._active_sampler = chosen
        try:
            return super().sample(n, seed=seed, where=where)
        finally:
            del self._active_sampler

    @property
    def _default_sampler(self) -> str:
        """The configured sampler; the prior for a shareable model, which keeps no codes."""
        return "prior" if self.shareable else self.config.sampler

    def _latent_samples(self, n: int, generator: torch.Generator) -> Tensor:
        if getattr(self, "_active_sampler", self._default_sampler) == "prior":
            return super()._latent_samples(n, generator)
        return self._geometry_samples(n, generator)

    def _envelope_precision(self) -> Tensor:
        """The envelope's per-dimension precision: the configured w, else the calibrated one,
        computed once (at fit, or at the first draw after `prior_weight` was set to None) and
        kept. Model files from before the calibration hold no target: w = 1, as they sampled."""
        w = self.config.prior_weight
        if w is not None:
            return torch.full((self.latent_dim_,), float(w))
        if not hasattr(self, "envelope_"):
            target = getattr(self, "code_moments_", None)
            if target is None:
                return torch.ones(self.latent_dim_)
            self.envelope_ = self._calibrate_envelope(target)
        return self.envelope_

    def _geometry_samples(
        self, n: int, generator: torch.Generator, envelope: Tensor | None = None
    ) -> Tensor:
        """HMC on log π(z) = (p/2)·log det G⁻¹(z) − ½·Σⱼ wⱼzⱼ², chains started at training codes,
        with a per-chain step size adapted during the first half of the burn-in.

        Each chain gives `mcmc_draws` codes, `mcmc_thinning` iterations apart after `mcmc_steps`
        of burn-in: the burn-in is the costly part, and spreading it over several draws costs
        less than one chain per code at the same quality. The gradient is written out in closed
        form (`SamplingMetric`), not taken by autograd."""
        c = self.config
        if len(self.centroids_) == 0:
            from jumeau.errors import JumeauError

            raise JumeauError(
                "this RHVAE holds no training codes (trained across sites, its codes stayed "
                "there): sample it with sampler='prior', or ask the sites for geometry-aware "
                "patients (jumeau federated … --artificial N)"
            )
        centroids, matrices = self._metric_centroids(generator)
        metric = SamplingMetric(centroids, matrices, c.temperature, c.sampling_floor)
        power = self.density_power_
        w = self._envelope_precision() if envelope is None else envelope

        def log_density(z_: Tensor) -> tuple[Tensor, Tensor]:
            value, gradient = metric.log_det_and_gradient(z_)
            value = 0.5 * power * value - 0.5 * (w * z_.pow(2)).sum(-1)
            gradient = 0.5 * power * gradient - w * z_
            return value, _clamp_rows(gradient, c.max_gradient)

        chains = -(-n // c.mcmc_draws)
        draw_at = {c.mcmc_steps - 1 + k * c.mcmc_thinning for k in range(c.mcmc_draws)}
        start = torch.randint(len(centroids), (chains,), generator=generator)
        z = centroids[start].clone()
        step = torch.full((chains, 1), c.mcmc_step_size)
        draws = []
        log_p, gradient = log_density(z)
        for iteration in range(max(draw_at) + 1):
            rho = torch.randn(z.shape, generator=generator)
            energy = -log_p + 0.5 * rho.pow(2).sum(-1)
            z_new, rho_new, grad_new = z, rho + 0.5 * step * gradient, gradient
            for leap in range(c.mcmc_leapfrog):
                z_new = z_new + step * rho_new
                log_p_new, grad_new = log_density(z_new)
                if leap < c.mcmc_leapfrog - 1:
                    rho_new = rho_new + step * grad_new
            rho_new = rho_new + 0.5 * step * grad_new
            energy_new = -log_p_new + 0.5 * rho_new.pow(2).sum(-1)
            accept_prob = torch.exp(torch.clamp(energy - energy_new, max=0.0))
            accept_prob = torch.nan_to_num(accept_prob, nan=0.0)
            accepted = torch.rand(chains, generator=generator) < accept_prob
            z = torch.where(accepted[:, None], z_new, z)
            log_p = torch.where(accepted, log_p_new, log_p)
            gradient = torch.where(accepted[:, None], grad_new, gradient)
            if iteration < c.mcmc_steps // 2:  # adapt toward ~65 % acceptance
                factor = torch.where(accept_prob[:, None] > 0.65, 1.1, 0.9)
                step = (step * factor).clamp(1e-4, c.mcmc_max_step)
            if iteration in draw_at:
                draws.append(z)
        codes = torch.cat(draws)  # draw-major: the first rows come from every chain once
        return codes[torch.randperm(len(codes), generator=generator)[:n]]

    def _metric_centroids(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """The codes and metric matrices the sampler's metric sums over: all of them up to
        `exact_metric_limit` training patients; past it, a random subset of that many, each
        matrix scaled by N / subset, so that the sum over the subset is an unbiased estimate of
        the sum over all patients and one density serves the whole run. (The nearest codes of
        each chain, the former shortcut, misjudged the density on a low-dimensional latent:
        docs/generators.md.)"""
        count, limit = len(self.centroids_), self.config.exact_metric_limit
        if count <= limit:
            return self.centroids_, self.matrices_
        chosen = torch.randperm(count, generator=generator)[:limit]
        return self.centroids_[chosen], self.matrices_[chosen] * (count / limit)

    @property
    def density_power_(self) -> float:
        """p in π(z) ∝ det G⁻¹(z)^(p/2): the configured value, or 2/d by default."""
        power = self.config.density_power
        return 2.0 / self.latent_dim_ if power is None else power

    # ------------------------------------------------------------------ persistence
    def personal_data_held(self) -> list[str]:
        """Besides the encoder's values, the geometry sampler's centroids: one latent code per
        training patient, from which the decoder returns that patient's profile."""
        if self.shareable:
            return []
        return [
            *super().personal_data_held(),
            "one latent code per training patient (the metric's centroids), which the decoder "
            "turns back into that patient's profile",
        ]

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = super()._state()
        meta["sampling_floor"] = self.config.sampling_floor  # marks files that know the option
        arrays["rhvae.centroids"] = self.centroids_.numpy()
        arrays["rhvae.matrices"] = self.matrices_.numpy()
        for name in ("code_moments", "envelope"):  # absent from a federated server's model
            if hasattr(self, f"{name}_"):
                arrays[f"rhvae.{name}"] = getattr(self, f"{name}_").numpy()
        return meta, arrays

    def _load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._load_state(meta, arrays)
        if "sampling_floor" not in meta:  # written before the option: it sampled at training's λ
            self.config = self.config.model_copy(
                update={"sampling_floor": self.config.regularization}
            )
        self.centroids_ = torch.as_tensor(arrays["rhvae.centroids"])
        self.matrices_ = torch.as_tensor(arrays["rhvae.matrices"])
        for name in ("code_moments", "envelope"):  # absent from files written before them
            if f"rhvae.{name}" in arrays:
                setattr(self, f"{name}_", torch.as_tensor(arrays[f"rhvae.{name}"]))


def _apply(matrices: Tensor, vectors: Tensor) -> Tensor:
    return torch.einsum("bij,bj->bi", matrices, vectors)


def _clamp_rows(values: Tensor, max_norm: float) -> Tensor:
    """Rescale rows whose norm exceeds `max_norm`, and zero non-finite rows."""
    values = torch.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    norms = values.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return values * torch.clamp(max_norm / norms, max=1.0)


def _tempering(k: int, total: int, beta_zero: float) -> float:
    """√β_k of the quadratic tempering schedule (Caterini et al. 2018), from √β₀ up to 1."""
    inverse_sqrt_beta_zero = 1.0 / math.sqrt(beta_zero)
    value = (1 - inverse_sqrt_beta_zero) * (k / total) ** 2 + inverse_sqrt_beta_zero
    return 1.0 / value


__all__ = ["RHVAE", "RHVAEModule"]
