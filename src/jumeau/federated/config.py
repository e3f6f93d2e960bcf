"""Settings of a federated fit (the generator's own hyper-parameters stay in its config)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FEDADAM_LOCAL_RATE = 0.05  # the sites' SGD step under FedAdam (the server's Adam sets the pace)


# Every site's sketch budget unless told otherwise: on gbsg2 split by grade (58 to 313 patients a
# site) it costs 0.013 in column shapes and 0.07 in detection AUC against exact sketches, where
# ε = 3 costs 0.026 and 0.24 (docs/federated.md)
DEFAULT_SKETCH_EPSILON = 10.0


class FederatedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy: Literal["fedadam", "fedavg", "fedprox"] = Field(
        default="fedadam",
        description="Neural models. fedadam: sites run plain SGD, the server applies Adam to "
        "their mean update (Reddi et al. 2021) — the default, because sites whose patients "
        "differ (one hospital treats the high grades) pull FedAvg's average apart; fedavg: "
        "weighted mean of the sites' Adam-trained weights (McMahan et al. 2017); fedprox: "
        "fedavg with a proximal term μ/2‖w − w_global‖² at the sites (Li et al. 2020).",
    )
    rounds: int = Field(default=150, ge=1, description="Upper bound; early stopping ends sooner.")
    local_epochs: int = Field(default=2, ge=1, description="Epochs each site trains per round.")
    proximal_mu: float = Field(default=0.1, ge=0, description="μ of fedprox.")
    server_learning_rate: float = Field(default=0.01, gt=0, le=1, description="fedadam's Adam.")
    local_learning_rate: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Sites' step size (default: 0.05 for fedadam's SGD, the model's own rate for "
        "fedavg and fedprox, whose sites run Adam).",
    )
    patience: int | None = Field(
        default=None,
        ge=1,
        description="Rounds without a better validation loss before stopping (default: the "
        "model's patience in epochs over local_epochs, at least 10).",
    )
    min_sites: int = Field(default=2, ge=1, description="Sites that must take part.")
    dp_noise_multiplier: float | None = Field(
        default=None,
        gt=0,
        description="vae: DP-SGD at every site with this noise multiplier σ (Opacus); None: no "
        "differential privacy. Each site reports the ε it has spent.",
    )
    dp_max_grad_norm: float = Field(default=1.0, gt=0, description="DP-SGD per-patient clip.")
    dp_delta: float = Field(default=1e-5, gt=0, lt=1, description="δ of the (ε, δ) reported.")
    sketch_epsilon: float | None = Field(
        default=DEFAULT_SKETCH_EPSILON,
        gt=0,
        description="Column sketches (the shared encoder's quantiles and counts, and the ranges "
        "nobody wrote down) released under (ε, dp_delta)-DP at every site, through OpenDP. "
        "None: exact sketches, from which the values of a small site's patients can be "
        "recovered (docs/federated.md) — an explicit opt-out, never the default.",
    )

    def local_rate(self, model_rate: float) -> float:
        """The sites' step size: the one set, else FedAdam's SGD step, else the model's own
        Adam rate (FedAvg and FedProx sites run Adam)."""
        if self.local_learning_rate is not None:
            return self.local_learning_rate
        return FEDADAM_LOCAL_RATE if self.strategy == "fedadam" else model_rate
