"""Hyper-parameters of the Gaussian copula."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from jumeau.generators.private_config import PrivacyParams


class CopulaConfig(PrivacyParams):
    model_config = ConfigDict(extra="forbid")

    shareable: bool = Field(
        default=False,
        description="Write a model file that holds no value of fewer than 10 training patients "
        "(k-anonymous knots; an RHVAE also drops its training codes and samples from its prior): "
        "its header says personal_data: false.",
    )

    shrinkage: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Pull the correlation matrix toward the identity (0 = none); helps when "
        "there are nearly as many columns as patients.",
    )
    min_eigenvalue: float = Field(
        default=1e-3,
        gt=0.0,
        description="Floor of the correlation matrix's eigenvalues, so that it stays invertible "
        "when pairwise estimates (with missing values) do not agree.",
    )
    em_iterations: int = Field(
        default=40,
        ge=0,
        description="Stochastic-EM iterations of the latent correlation fit (each one Gibbs "
        "sweep); 0 = plain pairwise correlations of normal scores (attenuated for categories, "
        "biased when values are missing at random).",
    )
    gibbs_burn_in: int = Field(
        default=30,
        ge=0,
        description="Completion: Gibbs sweeps before the first completed copy is taken.",
    )
    gibbs_thinning: int = Field(
        default=5, ge=1, description="Completion: Gibbs sweeps between two completed copies."
    )
