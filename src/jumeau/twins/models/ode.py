"""Models without a closed form (indirect responses, non-linear elimination, users' own
equations), integrated numerically, vectorised over patients and posterior draws.

Why a small fixed-step Runge–Kutta here rather than torchdiffeq: every patient has their own
doses and observation times, while a batched solver steps all patients on one time vector. We
build that vector once per call — a regular grid, every dose and infusion end (so that bolus
jumps and rate changes fall on a node, where RK4 keeps its fourth order), and every observation
time (read off exactly, no interpolation) — and step it with classical RK4, which is all a
batched adaptive solver would do here without its step-size control, at a fraction of its graph
size under Pyro's autograd. A closed-form input (a drug concentration from a PK model) is
evaluated once for every RK4 stage time in one vectorised call (`drive`), not inside the loop.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from jumeau.errors import JumeauError
from jumeau.twins.models.base import MechanisticModel, PaddedDoses

DEFAULT_STEPS = 240


class OdeModel(MechanisticModel):
    """A model given by dy/dt = rhs(t, y, θ, drive(t)), y(0) = initial(θ), observed through
    `observe`. IV doses (bolus or infusion) go into state `dose_state`, oral doses into
    `depot_state`; or leave both None and let doses act through `drive` (a closed-form input)."""

    states: ClassVar[tuple[str, ...]]
    dose_state: ClassVar[int | None] = None
    depot_state: ClassVar[int | None] = None
    steps: ClassVar[int] = DEFAULT_STEPS

    @abstractmethod
    def initial(self, params: dict[str, Tensor]) -> Tensor:
        """The state at time 0, shape (..., patients, states)."""

    @abstractmethod
    def rhs(
        self, t: float, state: Tensor, params: dict[str, Tensor], drive: Tensor | None
    ) -> Tensor:
        """dy/dt (..., patients, states); `drive` is this time's closed-form input (…, patients)."""

    def drive(self, params: dict[str, Tensor], doses: PaddedDoses, times: Tensor) -> Tensor | None:
        """A closed-form input at `times` (patients, times) → (..., patients, times), or None."""
        return None

    def observe(self, state: Tensor, params: dict[str, Tensor]) -> Tensor:
        """The observed quantity (..., patients) from the state; the first state by default."""
        return state[..., 0]

    def predict(self, params: dict[str, Tensor], doses: PaddedDoses, times: Tensor) -> Tensor:
        self.check_params(params)
        return integrate(self, params, doses, times)


def integrate(
    model: OdeModel, params: dict[str, Tensor], doses: PaddedDoses, times: Tensor
) -> Tensor:
    """The observed quantity at `times` (patients or 1, times) by RK4 on a shared grid."""
    patients = doses.times.shape[0]
    if times.shape[-2] not in (1, patients):
        raise JumeauError("times must have one row per patient (or one row for all)")
    grid = _grid(model, doses, times)
    steps = np.diff(grid)
    # each step's RK4 stage times: its start, its middle, and just before its end (the left
    # limit, so that a dose falling on the next node does not leak into this step)
    ends = grid[1:] - 1e-9 * np.maximum(1.0, np.abs(grid[1:]))
    stage_times = np.stack([grid[:-1], grid[:-1] + steps / 2, ends], axis=1).reshape(-1)
    drive = model.drive(
        params,
        doses,
        torch.as_tensor(stage_times, dtype=doses.times.dtype)[None].expand(patients, -1),
    )
    bolus, rates = _dose_inputs(model, doses, grid)
    state = model.initial(params)
    observed = []
    for k, t in enumerate(grid):
        if bolus is not None:
            state = state + bolus[:, k]
        observed.append(model.observe(state, params))
        if k == len(grid) - 1:
            break
        h = float(steps[k])
        rate = None if rates is None else rates[:, k]

        def slope(at: int, value: Tensor, time: float, rate: Tensor | None = rate) -> Tensor:
            change = model.rhs(time, value, params, None if drive is None else drive[..., at])
            return change if rate is None else change + rate

        k1 = slope(3 * k, state, t)
        k2 = slope(3 * k + 1, state + h / 2 * k1, t + h / 2)
        k3 = slope(3 * k + 1, state + h / 2 * k2, t + h / 2)
        k4 = slope(3 * k + 2, state + h * k3, t + h)
        state = state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    at_nodes = torch.stack(observed, dim=-1)  # (..., patients, nodes)
    index = torch.as_tensor(np.searchsorted(grid, times.numpy()))
    index = index.expand(*at_nodes.shape[:-1], index.shape[-1])
    return torch.gather(at_nodes, -1, index)


def _grid(model: OdeModel, doses: PaddedDoses, times: Tensor) -> np.ndarray:
    end = float(times.max())
    valid = doses.valid.numpy()
    dose_times = doses.times.numpy()[valid]
    ends = (doses.times + doses.durations).numpy()[valid & (doses.durations.numpy() > 0)]
    # doses and infusion ends on nodes: a state jumps there, or a closed-form drive does
    points = [np.linspace(0.0, max(end, 1e-9), model.steps + 1), times.numpy().ravel()]
    points += [dose_times, ends]
    grid = np.unique(np.concatenate(points))
    return grid[grid <= max(end, 1e-9)]


def _dose_inputs(
    model: OdeModel, doses: PaddedDoses, grid: np.ndarray
) -> tuple[Tensor | None, Tensor | None]:
    """Bolus jumps at each node (patients, nodes, states) and infusion rates over each step
    (patients, steps, states); None when the model takes no doses into its states."""
    if model.dose_state is None and model.depot_state is None:
        return None, None
    dose_times = doses.times.numpy()
    durations = doses.durations.numpy()
    amounts = doses.amounts.numpy() * doses.valid.numpy()
    oral = doses.oral.numpy()
    if oral.any() and model.depot_state is None:
        raise JumeauError(f"{model.name} has no depot state for oral doses")
    if (~oral & doses.valid.numpy()).any() and model.dose_state is None:
        raise JumeauError(f"{model.name} takes only oral doses")
    patients, width = dose_times.shape
    bolus = np.zeros((patients, len(grid), len(model.states)))
    rates = np.zeros((patients, len(grid) - 1, len(model.states)))
    middles = (grid[:-1] + grid[1:]) / 2
    for i in range(patients):
        for d in range(width):
            if amounts[i, d] <= 0:
                continue
            target = model.depot_state if oral[i, d] else model.dose_state
            assert target is not None
            if durations[i, d] > 0:
                inside = (middles >= dose_times[i, d]) & (
                    middles < dose_times[i, d] + durations[i, d]
                )
                rates[i, inside, target] += amounts[i, d] / durations[i, d]
            else:
                node = np.searchsorted(grid, dose_times[i, d])
                if node < len(grid) and np.isclose(grid[node], dose_times[i, d]):
                    bolus[i, node, target] += amounts[i, d]
    dtype = doses.times.dtype
    return torch.as_tensor(bolus, dtype=dtype), (
        torch.as_tensor(rates, dtype=dtype) if (rates != 0).any() else None
    )
