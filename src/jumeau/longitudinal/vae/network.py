"""The networks of the longitudinal VAE.

Generation is autoregressive in continuous time, conditioned on the patient's baseline `s` and a
per-patient latent `z` (its random effects: level, slope, visit frequency). With `c = [s, z]`:

    h₀ = tanh(W c)
    for each visit j:   time_j ~ p(· | h_j, c)                (start, then gap since last visit)
                        values_j ~ p(· | h_j, time_j, t_j, c)  (mixed types, missingness flags)
                        h_{j+1} = GRU(h_j, [values_j, time_j, t_j, c])
                        stop_j ~ Bernoulli(· | h_{j+1}, c)     (dropout or end of follow-up)
    end ~ p(· | h_last, c)                                     (follow-up after last visit, event)

Time enters twice — as the gap (how long since the last visit, which drives how much a value can
change) and as the elapsed time (where on the disease course) — as in GRU-D / GRU-Δt models of
irregularly sampled clinical series. The encoder q(z | course, s) reads the whole course with a
GRU; the prior p(z | s) is learned too, so that random effects may depend on the baseline (a
conditional VAE). Why a recurrent VAE rather than a latent ODE or a flow: small cohorts (a few
hundred patients, a handful of visits) need few parameters and a fast fit on a CPU; the
recurrent state carries within-patient autocorrelation, and `z` carries between-patient
heterogeneity (random intercepts and slopes) that a mixed model would estimate.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from jumeau.generators.neural.networks import mlp

STEP_EXTRAS = 3  # time score, elapsed time, first-visit flag


class CourseNetwork(nn.Module):
    def __init__(
        self,
        *,
        static_width: int,
        visit_width: int,
        visit_params: int,
        end_width: int,
        end_params: int,
        latent_dim: int,
        hidden: int,
    ) -> None:
        super().__init__()
        step = visit_width + STEP_EXTRAS
        condition = static_width + latent_dim
        self.latent_dim = latent_dim
        # p(z | s): random effects depend on who the patient is (a treated patient's level, a
        # sicker patient's slope). With a fixed N(0, I) prior, whatever the encoder puts in z
        # about the baseline is lost at sampling time and effects of baseline covariates shrink.
        self.prior = mlp([static_width, hidden, 2 * latent_dim]) if static_width else None
        self.reader = nn.GRU(step, hidden, batch_first=True)
        self.posterior = mlp([hidden + static_width + end_width, hidden, 2 * latent_dim])
        self.initial = nn.Linear(condition, hidden)
        self.cell = nn.GRUCell(step + condition, hidden)
        self.time_head = mlp([hidden + 1 + condition, hidden, 2])
        self.visit_head = mlp([hidden + 2 + condition, hidden, visit_params])
        self.stop_head = mlp([hidden + condition, hidden // 2, 1])
        self.end_head = mlp([hidden + condition, hidden, end_params]) if end_params else None

    # ------------------------------------------------------------------ encoder
    def encode(
        self, steps: Tensor, counts: Tensor, static: Tensor, end: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of q(z | course, baseline)."""
        outputs, _ = self.reader(steps)
        last = outputs[torch.arange(steps.shape[0]), counts - 1]
        mean, logvar = self.posterior(torch.cat([last, static, end], -1)).chunk(2, -1)
        return mean, logvar.clamp(-10, 6)

    def prior_params(self, static: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of p(z | baseline) (standard normal without baseline)."""
        if self.prior is None:
            zeros = torch.zeros(static.shape[0], self.latent_dim)
            return zeros, zeros
        mean, logvar = self.prior(static).chunk(2, -1)
        return mean, logvar.clamp(-6, 4)

    # ------------------------------------------------------------------ decoder pieces
    def start(self, condition: Tensor) -> Tensor:
        return torch.tanh(self.initial(condition))

    def time_params(self, state: Tensor, first: Tensor, condition: Tensor) -> Tensor:
        return self.time_head(torch.cat([state, first, condition], -1))

    def visit_params(
        self, state: Tensor, time_score: Tensor, elapsed: Tensor, condition: Tensor
    ) -> Tensor:
        return self.visit_head(torch.cat([state, time_score, elapsed, condition], -1))

    def advance(self, state: Tensor, step: Tensor, condition: Tensor) -> Tensor:
        return self.cell(torch.cat([step, condition], -1), state)

    def stop_logit(self, state: Tensor, condition: Tensor) -> Tensor:
        return self.stop_head(torch.cat([state, condition], -1)).squeeze(-1)

    def end_params(self, state: Tensor, condition: Tensor) -> Tensor | None:
        if self.end_head is None:
            return None
        return self.end_head(torch.cat([state, condition], -1))


def step_inputs(visits: Tensor, times: Tensor, elapsed: Tensor) -> Tensor:
    """What the recurrent cells read at each visit: values, time score, elapsed time, and a flag
    for the first visit (whose time is the start, not a gap)."""
    first = torch.zeros_like(times)
    first[:, 0] = 1.0
    return torch.cat([visits, times, elapsed, first], -1)
