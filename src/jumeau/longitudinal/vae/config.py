"""Hyper-parameters of the longitudinal VAE. Defaults are sized for cohorts of 100 to 5,000
patients with up to a few dozen visits each: a user with 150 patients should not tune anything."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LongitudinalVAEConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    static_model: str = Field(
        default="copula",
        description="Tabular generator of the baseline columns: copula, vae or rhvae.",
    )
    latent_dim: int = Field(
        default=4, ge=1, le=64, description="Per-patient latent: random effects of the course."
    )
    hidden_dim: int | None = Field(
        default=None, ge=8, le=1024, description="Recurrent state size (default: from patients)."
    )
    epochs: int = Field(default=300, ge=1, description="Upper bound; early stopping ends sooner.")
    batch_size: int = Field(default=32, ge=2)
    learning_rate: float = Field(default=3e-3, gt=0, le=1)
    weight_decay: float = Field(default=1e-4, ge=0)
    beta: float = Field(default=1.0, gt=0, description="Weight of the KL term.")
    kl_warmup: int = Field(default=20, ge=0, description="Epochs over which the KL weight rises.")
    patience: int = Field(default=30, ge=1, description="Epochs without improvement to stop.")
    validation_share: float = Field(default=0.15, gt=0, lt=0.5)
    clip_norm: float = Field(default=5.0, gt=0)
    max_visits: int | None = Field(
        default=None, ge=1, description="Cap on generated visits (default: the most observed)."
    )
