"""Mixed-type VAE: MLP encoder and decoder, per-type likelihood, KL with annealing; samples from
the N(0, I) prior. The RHVAE extends this model (same encoder, decoder and likelihood)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.generators.base import Generator
from jumeau.generators.neural.conditional import importance_draws
from jumeau.generators.neural.likelihood import Likelihood, MixedLikelihood
from jumeau.generators.neural.networks import default_hidden, default_latent_dim, mlp
from jumeau.generators.neural.training import TrainingHistory, split_validation, train
from jumeau.generators.vae.config import VAEConfig

LOGVAR_RANGE = (-8.0, 4.0)


class VAEModule(nn.Module):
    """Encoder q(z|x) and decoder p(x|z) as MLPs."""

    def __init__(self, width: int, n_params: int, latent_dim: int, hidden: int, layers: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = mlp([width] + [hidden] * layers + [2 * latent_dim])
        self.decoder = mlp([latent_dim] + [hidden] * layers + [n_params])

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, logvar = self.encoder(x).chunk(2, dim=-1)
        return mean, logvar.clamp(*LOGVAR_RANGE)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)


class VAE(Generator):
    """Mixed-type variational autoencoder (Kingma & Welling 2014) sampled from its prior."""

    name: ClassVar[str] = "vae"
    config_class = VAEConfig
    config: VAEConfig

    # ------------------------------------------------------------------ building
    def _build(self, width: int, n_rows: int) -> None:
        self.likelihood_ = self._make_likelihood()
        self.latent_dim_ = self.config.latent_dim or self._default_latent_dim()
        self.hidden_dim_ = self.config.hidden_dim or default_hidden(n_rows, width)
        self.module_ = self._make_module(width)

    # Hooks: what the data look like. Image models override these three and keep the rest —
    # training, the RHVAE's flow and metric, and both samplers are shared.
    def _make_likelihood(self) -> Likelihood:
        return MixedLikelihood(self.encoder_)

    def _default_latent_dim(self) -> int:
        return default_latent_dim(len(self.schema_.names))

    def _data_width(self) -> int:
        return self.encoder_.width_

    def _make_module(self, width: int) -> VAEModule:
        return VAEModule(
            width,
            self.likelihood_.n_params,
            self.latent_dim_,
            self.hidden_dim_,
            self.config.n_layers,
        )

    # ------------------------------------------------------------------ training
    def _kl_weight(self, epoch: int | None) -> float:
        warmup = self.config.kl_warmup
        if epoch is None:  # validation: the full objective
            return self.config.beta
        return self.config.beta * (min(1.0, (epoch + 1) / warmup) if warmup else 1.0)

    def _dequantised(self, x: Tensor, mask: Tensor) -> Tensor:
        """A training batch with its tied numbers redrawn inside their cdf jumps
        (`neural/dequantise.py`); validation batches (module in eval mode), image models and
        `dequantise=False` keep the encoder's deterministic scores."""
        if not (self.config.dequantise and self.module_.training):
            return x
        if not isinstance(self.likelihood_, MixedLikelihood):
            return x
        return self.likelihood_.dequantiser(x, mask)

    def _loss(self, x: Tensor, mask: Tensor, epoch: int | None) -> Tensor:
        x = self._dequantised(x, mask)
        mean, logvar = self.module_.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        log_likelihood = self.likelihood_.log_prob(self.module_.decode(z), x, mask)
        kl = 0.5 * (mean**2 + logvar.exp() - 1.0 - logvar).sum(-1)
        return -(log_likelihood - self._kl_weight(epoch) * kl).mean()

    def _fit_private(self, cohort: Cohort, *, seed: int, progress: bool) -> None:
        from jumeau.generators.neural.private_training import fit_private_vae

        fit_private_vae(self, cohort, seed=seed, progress=progress)

    def _fit_matrix(
        self,
        matrix: np.ndarray,
        mask: np.ndarray,
        *,
        seed: int,
        progress: bool,
        device: str = "cpu",
    ) -> None:
        rng = np.random.default_rng(seed)
        with torch.random.fork_rng():  # never disturb the caller's global torch RNG
            torch.manual_seed(seed)
            self._build(matrix.shape[1], matrix.shape[0])
            train_rows, validation_rows = split_validation(
                len(matrix), self.config.validation_share, rng
            )
            # Training may run on an accelerator (image models ask for one); what is kept after
            # it lives on the CPU, so sampling, completion and saving never depend on a device.
            self.module_.to(device)
            x = torch.as_tensor(matrix).to(device)
            m = torch.as_tensor(mask).to(device)
            try:
                self.history_ = self._train(x, m, train_rows, validation_rows, progress, seed)
                self._after_training(x, m)
            finally:
                self._move_state(torch.device("cpu"))

    def _train(
        self,
        x: Tensor,
        m: Tensor,
        train_rows: np.ndarray,
        validation_rows: np.ndarray,
        progress: bool,
        seed: int,
    ) -> TrainingHistory:
        return self._train_phase(
            x,
            m,
            (train_rows, validation_rows),
            epochs=self.config.epochs,
            batch_size=self.config.batch_size,
            patience=self.config.patience,
            progress=progress,
            label=f"fitting {self.name}",
            seed=seed,
        )

    def _train_phase(
        self,
        x: Tensor,
        m: Tensor,
        rows: tuple[np.ndarray, np.ndarray],
        *,
        epochs: int,
        batch_size: int,
        patience: int,
        progress: bool,
        label: str,
        seed: int,
    ) -> TrainingHistory:
        train_rows, validation_rows = rows
        return train(
            self.module_,
            self._loss,
            x[train_rows],
            m[train_rows],
            validation=(x[validation_rows], m[validation_rows]),
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=self.config.learning_rate,
            weight_decay=self.config.weight_decay,
            patience=patience,
            clip_norm=self.config.clip_norm,
            progress=progress,
            label=label,
            generator=torch.Generator().manual_seed(seed),
        )

    def _after_training(self, x: Tensor, m: Tensor) -> None:
        """Hook for models that keep something about the training set (the RHVAE's metric)."""

    def _move_state(self, device: torch.device) -> None:
        """Move the learned tensors (the RHVAE adds its codes and metric factors)."""
        self.module_.to(device)

    # ------------------------------------------------------------------ sampling
    def _latent_samples(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.randn(n, self.latent_dim_, generator=generator)

    @torch.no_grad()
    def _sample_matrix(self, n: int, rng: np.random.Generator) -> np.ndarray:
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        z = self._latent_samples(n, generator)
        params = self.module_.decode(z)
        return self.likelihood_.sample(params, generator).numpy()

    # ------------------------------------------------------------------ completion
    def _impute_matrix(
        self, matrix: np.ndarray, mask: np.ndarray, m: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[str, float]]:
        with torch.random.fork_rng():
            draws, diagnostics = importance_draws(
                self.module_,
                self.likelihood_,
                matrix,
                mask,
                m,
                rng,
                proposals=self.config.imputation_proposals,
                forbidden=self.encoder_.missing_positions,
            )
        return draws, diagnostics.as_dict()

    # ------------------------------------------------------------------ persistence
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"latent_dim": self.latent_dim_, "hidden_dim": self.hidden_dim_}
        arrays = {f"module.{k}": v.detach().numpy() for k, v in self.module_.state_dict().items()}
        return meta, arrays

    def _load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.likelihood_ = self._make_likelihood()
        self.latent_dim_ = int(meta["latent_dim"])
        self.hidden_dim_ = int(meta["hidden_dim"])
        weights = {
            k.removeprefix("module."): torch.as_tensor(v)
            for k, v in arrays.items()
            if k.startswith("module.")
        }
        # the network the header describes, first without memory ("meta" tensors): a file
        # asking for a latent size of 10⁹ must be refused before anything is allocated
        with torch.device("meta"):
            shapes = {
                k: tuple(v.shape)
                for k, v in self._make_module(self._data_width()).state_dict().items()
                if not k.endswith("num_batches_tracked")  # a counter, not a size
            }
        stored = {
            k: tuple(v.shape) for k, v in weights.items() if not k.endswith("num_batches_tracked")
        }
        if shapes != stored:
            wrong = sorted(set(shapes) ^ set(stored)) or [
                k for k in shapes if shapes[k] != stored[k]
            ]
            raise JumeauError(
                f"the network's weights do not fit the sizes in its header ({wrong[0]}, "
                f"{len(wrong)} in all)"
            )
        self.module_ = self._make_module(self._data_width())
        self.module_.load_state_dict(weights)
        self.module_.eval()
