"""File-level workflows behind ``jumeau trial``: read a design and a population from disk,
simulate, write tidy results with their provenance; analyse one real trial table.

The population file may be a twin fit (``jumeau twin fit``), a generator model (``jumeau fit``:
artificial patients are sampled from it, rule-aware) or a table of patients (CSV or Parquet,
typically an artificial cohort). Its kind is read from the file itself, never guessed from the
name, and no file is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jumeau.data.cohort import Cohort, load_cohort
from jumeau.errors import JumeauError
from jumeau.trials.analysis import (
    Estimate,
    analyse_continuous,
    analyse_survival,
    as_numbers,
    covariate_matrix,
)
from jumeau.trials.design import TrialDesign
from jumeau.trials.populations import CohortPopulation, Population, TwinPopulation
from jumeau.trials.simulate import simulate
from jumeau.trials.sweep import plot_power_curves, sweep


def population_kind(path: Path) -> str:
    """'twin-fit', 'generator' or 'table', from the file's own header."""
    if not path.is_file():
        raise JumeauError(f"{path}: population file not found")
    if path.suffix.lower() in (".csv", ".tsv", ".txt", ".parquet"):
        return "table"
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as reader:
            found = (reader.metadata() or {}).get("format")
    except Exception:  # not safetensors: let the table reader try, with its own clear errors
        return "table"
    if found == "jumeau-twin-fit":
        return "twin-fit"
    if found == "jumeau-model":
        return "generator"
    raise JumeauError(f"{path}: a {found or 'safetensors'} file is not a population")


def load_population(
    path: Path,
    *,
    covariates: Path | None = None,
    size: int = 10_000,
    seed: int = 0,
) -> tuple[Population, str]:
    """The population in `path` and a SHA-256 of the file (for the results' provenance)."""
    kind = population_kind(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if kind == "twin-fit":
        from jumeau.twins.persistence import load_fit

        source: Any = None
        if covariates is not None:
            source = _covariate_source(covariates)
        return TwinPopulation(load_fit(path), covariates=source), digest
    if covariates is not None:
        raise JumeauError("--covariates is for twin populations; a cohort carries its own")
    if kind == "generator":
        from jumeau.generators.persistence import load_generator

        cohort = load_generator(path).sample(size, seed=seed)
        return CohortPopulation(cohort, seed=seed), digest
    return CohortPopulation(load_cohort(path), seed=seed), digest


def _covariate_source(path: Path) -> Any:
    if population_kind(path) == "generator":
        from jumeau.generators.persistence import load_generator

        return load_generator(path)
    return load_cohort(path)


def simulate_to_folder(
    design_path: Path,
    population_path: Path,
    output: Path,
    *,
    n_trials: int = 1000,
    seed: int = 0,
    covariates: Path | None = None,
    population_size: int = 10_000,
    sample_sizes: list[int] | None = None,
    effects: list[float] | None = None,
    engine: str = "ray",
    address: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Simulate the design on the population; with sample sizes or effects, sweep them and draw
    the power curves. Writes CSV tables, a PNG and a JSON record; returns the record."""
    design = TrialDesign.from_yaml(design_path)
    population, digest = load_population(
        population_path, covariates=covariates, size=population_size, seed=seed
    )
    output.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "design": design.model_dump(),
        "population": {"file": population_path.name, "sha256": digest},
        "seed": seed,
        "n_trials": n_trials,
        "versions": _versions(),
    }
    files: dict[str, str] = {}
    if sample_sizes or effects is not None:
        table = sweep(
            design,
            population,
            sample_sizes=sample_sizes,
            effects=effects,
            n_trials=n_trials,
            seed=seed,
            engine=engine,  # type: ignore[arg-type]
            address=address,
            progress=progress,
        )
        table.to_csv(output / "sweep.csv", index=False)
        plot_power_curves(table, output / "power.png")
        files |= {"sweep": "sweep.csv", "power curves": "power.png"}
        record["summary"] = table.to_dict(orient="records")
    else:
        result = simulate(design, population, n_trials, seed, progress=progress)
        summary = result.summary()
        summary.to_csv(output / "summary.csv", index=False)
        result.estimates.to_csv(output / "estimates.csv", index=False)
        files |= {"summary": "summary.csv", "estimates": "estimates.csv"}
        record["summary"] = summary.to_dict(orient="records")
        record["prognostic"] = {
            "model": result.prognostic_model,
            "expected_variance_reduction": result.prognostic_rho2,
        }
    record["files"] = files
    (output / "trial-simulation.json").write_text(
        json.dumps(_finite(record), indent=1, default=_json_default), encoding="utf-8"
    )
    return record


def analyse_table(
    data: pd.DataFrame | Cohort,
    *,
    arm: str,
    control: str,
    outcome: str,
    covariates: list[str],
    kind: str = "continuous",
    event: str | None = None,
    prognostic: np.ndarray | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Unadjusted, ANCOVA (with covariates) and PROCOVA (with a prognostic score) estimates of
    each arm against control on one real trial, with the standard-error reduction each brings."""
    frame = data.data if isinstance(data, Cohort) else data
    for name in [arm, outcome, *covariates, *([event] if event else [])]:
        if name not in frame.columns:
            raise JumeauError(f"the trial data have no column {name!r}")
    arms = frame[arm].astype(str).to_numpy()
    if control not in set(arms):
        levels = ", ".join(sorted(set(arms)))
        raise JumeauError(f"no patient in the control arm {control!r} (arms: {levels})")
    treated = sorted(set(arms) - {control})
    y = as_numbers(frame[outcome])
    x = covariate_matrix(frame, covariates)[0] if covariates else None
    analyses = ["unadjusted"] + (["ancova"] if covariates else [])
    if prognostic is not None:
        analyses.append("procova")
    estimates: list[Estimate] = []
    for analysis in analyses:
        if kind == "time_to_event":
            if event is None:
                raise JumeauError("a time-to-event analysis needs --event")
            estimates.extend(
                analyse_survival(
                    y,
                    as_numbers(frame[event]),
                    arms,
                    control,
                    treated,
                    analysis,
                    x,
                    prognostic,
                    alpha,
                )
            )
        else:
            estimates.extend(
                analyse_continuous(y, arms, control, treated, analysis, x, prognostic, alpha)
            )
    table = pd.DataFrame([e.__dict__ for e in estimates])
    reference = table[table["analysis"] == "unadjusted"].set_index("comparison")["se"]
    table["se_reduction"] = 1 - table["se"] / table["comparison"].map(reference)
    table["n_for_same_power"] = np.round(
        table["n"] * (table["se"] / table["comparison"].map(reference)) ** 2
    )
    return table


def _versions() -> dict[str, str]:
    from jumeau.generators.persistence import versions

    return {k: str(v) for k, v in versions().items()}


def _finite(value: Any) -> Any:
    """NaN and infinities become null: strict JSON readers refuse them."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return value.item()
    return str(value)
