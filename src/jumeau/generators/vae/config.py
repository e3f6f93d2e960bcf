"""Hyper-parameters of the mixed-type VAE. Defaults are sized for cohorts of 100 to 10,000
patients: a user with 150 patients should not have to tune anything."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from jumeau.generators.private_config import PrivacyParams


class VAEConfig(PrivacyParams):
    model_config = ConfigDict(extra="forbid")

    shareable: bool = Field(
        default=False,
        description="Write a model file that holds no value of fewer than 10 training patients "
        "(k-anonymous knots; an RHVAE also drops its training codes and samples from its prior): "
        "its header says personal_data: false.",
    )

    latent_dim: int | None = Field(
        default=None, ge=1, le=128, description="Latent size (default: about half the columns)."
    )
    hidden_dim: int | None = Field(
        default=None, ge=4, le=2048, description="Hidden width (default: from rows and columns)."
    )
    n_layers: int = Field(default=2, ge=1, le=6)
    epochs: int = Field(default=400, ge=1, description="Upper bound; early stopping ends sooner.")
    batch_size: int = Field(default=64, ge=2)
    learning_rate: float = Field(default=2e-3, gt=0, le=1)
    weight_decay: float = Field(default=1e-4, ge=0)
    beta: float = Field(default=1.0, gt=0, description="Weight of the KL term.")
    kl_warmup: int = Field(default=20, ge=0, description="Epochs over which the KL weight rises.")
    patience: int = Field(
        default=40, ge=1, description="Epochs without improvement before stopping."
    )
    dequantise: bool = Field(
        default=False,
        description="Train on tied numbers (integer scores, values many patients share) with "
        "their normal score drawn uniformly inside the value's cdf jump at every batch, not at "
        "its middle; decoding is unchanged. Helps a score most patients hold at one value "
        "(licorice_gargle's pain scores, 70 % zeros: RHVAE |AUC - 0.5| 0.154 -> 0.114, shapes "
        "0.925 -> 0.945) but hurts elsewhere (supraclavicular 0.060 -> 0.209, breast_cancer "
        "0.053 -> 0.074): opt-in (docs/generators.md).",
    )
    validation_share: float = Field(default=0.15, gt=0, lt=0.5)
    clip_norm: float = Field(default=5.0, gt=0)
    dp_max_grad_norm: float = Field(
        default=1.0, gt=0, description="Under --epsilon: each patient's gradient clipped to this."
    )
    imputation_proposals: int = Field(
        default=256,
        ge=1,
        le=100_000,
        description="Completion: latent codes proposed by the encoder per missing row and copy, "
        "of which one is kept by importance weight.",
    )
