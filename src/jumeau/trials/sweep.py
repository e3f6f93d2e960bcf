"""Scenario sweeps: sample sizes × effect sizes × designs, each point a batch of simulated
trials, run as Ray tasks — a local Ray runtime by default, a cluster when given its address —
and gathered into one tidy table and a power-curve plot.

Each grid point gets its own seed derived from the sweep's seed and its position, so a sweep is
reproducible whatever order Ray finishes the points in, and a point can be rerun on its own.
``engine="serial"`` runs the same points in this process (for debugging, or where Ray cannot
start).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from jumeau.errors import JumeauError
from jumeau.trials.design import TrialDesign
from jumeau.trials.populations import Population
from jumeau.trials.simulate import _progress, simulate

Engine = Literal["ray", "serial"]


def sweep(
    designs: TrialDesign | dict[str, TrialDesign],
    population: Population,
    *,
    sample_sizes: list[int] | None = None,
    effects: list[float] | None = None,
    n_trials: int = 500,
    seed: int = 0,
    engine: Engine = "ray",
    address: str | None = None,
    num_cpus: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Operating characteristics over a grid: one row per design × sample size × effect ×
    scenario × comparison × analysis (the columns of :meth:`TrialSimulation.summary`)."""
    named = designs if isinstance(designs, dict) else {designs.name: designs}
    if not named:
        raise JumeauError("give at least one design to sweep")
    points = []
    for name, design in named.items():
        for size in sample_sizes or [design.sample_size]:
            for effect in effects if effects is not None else [None]:
                varied = design if effect is None else design.with_effect(effect)
                varied = TrialDesign.model_validate({**varied.model_dump(), "sample_size": size})
                points.append((name, size, effect, varied))
    seeds = np.random.SeedSequence(seed).spawn(len(points))
    jobs = [
        (design, int(s.generate_state(1)[0]))
        for (_, _, _, design), s in zip(points, seeds, strict=True)
    ]
    if engine == "ray":
        summaries = _on_ray(jobs, population, n_trials, address, num_cpus, progress)
    elif engine == "serial":
        summaries = []
        with _progress(progress) as bar:
            task = bar.add_task("sweep points", total=len(jobs))
            for design, point_seed in jobs:
                summaries.append(_point(design, population, n_trials, point_seed))
                bar.update(task, advance=1)
    else:
        raise JumeauError(f"unknown engine {engine!r}; use ray or serial")
    frames = []
    for (name, size, effect, _), summary in zip(points, summaries, strict=True):
        frames.append(summary.assign(design=name, sample_size=size, effect=effect))
    table = pd.concat(frames, ignore_index=True)
    leading = ["design", "sample_size", "effect"]
    return table[leading + [c for c in table.columns if c not in leading]]


def _point(design: TrialDesign, population: Population, n_trials: int, seed: int) -> pd.DataFrame:
    return simulate(design, population, n_trials, seed, progress=False).summary()


def _on_ray(
    jobs: list[tuple[TrialDesign, int]],
    population: Population,
    n_trials: int,
    address: str | None,
    num_cpus: int | None,
    progress: bool,
) -> list[pd.DataFrame]:
    try:
        import ray
    except ImportError:
        raise JumeauError(
            "scenario sweeps run on Ray: pip install 'jumeau[trials]' (or engine='serial')"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
        }
        if address is None:
            options["num_cpus"] = num_cpus or os.cpu_count() or 1
        ray.init(address=address, **options)
    try:
        remote = ray.remote(num_cpus=1)(_point)
        shared = ray.put(population)  # sent once, not once per point
        pending = {
            remote.remote(design, shared, n_trials, point_seed): index
            for index, (design, point_seed) in enumerate(jobs)
        }
        results: dict[int, pd.DataFrame] = {}
        with _progress(progress) as bar:
            task = bar.add_task("sweep points (ray)", total=len(jobs))
            waiting = list(pending)
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                for ref in done:
                    results[pending[ref]] = ray.get(ref)
                    bar.update(task, advance=1)
        return [results[i] for i in range(len(jobs))]
    finally:
        if started_here:
            ray.shutdown()


def plot_power_curves(
    table: pd.DataFrame, path: str | Path | None = None, *, target: float = 0.8
) -> Any:
    """Power against sample size, one line per analysis (and per effect and design when the
    sweep varied them), the type-I error beneath it; returns the matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    needed = {"sample_size", "analysis", "scenario", "rejection_rate"}
    if not needed <= set(table.columns):
        raise JumeauError("plot_power_curves needs a table from sweep()")
    alternative = table[table["scenario"] == "alternative"]
    null = table[table["scenario"] == "null"]
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(7, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    groups = [c for c in ("design", "effect", "comparison") if alternative[c].nunique() > 1]
    for keys, group in alternative.groupby(["analysis", *groups], sort=False):
        label = " · ".join(str(k) for k in (keys if isinstance(keys, tuple) else (keys,)))
        ordered = group.sort_values("sample_size")
        top.plot(ordered["sample_size"], ordered["rejection_rate"], marker="o", label=label)
    top.axhline(target, color="grey", linestyle="--", linewidth=1)
    top.set_ylabel("power")
    top.set_ylim(0, 1.02)
    top.legend(fontsize=8)
    for analysis, group in null.groupby("analysis", sort=False):
        mean = group.groupby("sample_size")["rejection_rate"].mean()
        bottom.plot(mean.index, mean.to_numpy(), marker=".", label=str(analysis))
    alpha = 0.05
    bottom.axhline(alpha, color="grey", linestyle="--", linewidth=1)
    bottom.set_ylabel("type-I error")
    bottom.set_xlabel("patients randomised")
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=120)
    return figure
