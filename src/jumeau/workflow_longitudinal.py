"""The end-to-end job behind `jumeau run --longitudinal`: split patients, fit, sample, filter
whole courses, evaluate, report — the longitudinal twin of `jumeau.workflow.run`.

One folder receives `artificial.csv` (one row per visit, filtered, with its provenance),
`model.jumeau`, `report.html`, `report.json` and `split.json` (which patients were held out, by
position in the input's order of first appearance — never ids or values).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jumeau.data.loading import write_text_atomically
from jumeau.data.longitudinal import LongitudinalCohort
from jumeau.data.publishing import staged_folder
from jumeau.data.schema import Schema
from jumeau.errors import JumeauError, JumeauWarning
from jumeau.generators.persistence import versions
from jumeau.generators.provenance import file_sha256
from jumeau.longitudinal.evaluation import (
    LongitudinalEvaluation,
    evaluate_longitudinal,
    split_patients,
    trajectory_filter,
)
from jumeau.longitudinal.vae.model import LongitudinalVAE, output_schema
from jumeau.report import report_meta
from jumeau.report.longitudinal import write_longitudinal_report
from jumeau.workflow import HOLDOUT_SHARE, RUN_FILES, TOP_UP_ROUNDS


@dataclass
class LongitudinalRun:
    output: Path
    artificial: LongitudinalCohort
    evaluation: LongitudinalEvaluation
    removed: int
    files: dict[str, Path] = field(default_factory=dict)


def filtered_courses(
    model: LongitudinalVAE,
    n: int,
    train: LongitudinalCohort,
    holdout: LongitudinalCohort,
    *,
    seed: int,
    percentile: float,
    where: str | None = None,
) -> tuple[LongitudinalCohort, int]:
    """n artificial patients whose whole course passes the similarity filter: sample, filter,
    and sample again to replace the removed ones (a few rounds)."""
    if n < 2:
        raise JumeauError(f"ask for at least two artificial patients, not {n}")
    rng = np.random.default_rng(seed)
    kept: list[pd.DataFrame] = []
    removed, missing = 0, n
    id_column = model.columns_.id
    for round_ in range(TOP_UP_ROUNDS + 1):
        if missing <= 0:
            break
        batch = model.sample(max(missing, 2), seed=int(rng.integers(2**62)), where=where)
        result = trajectory_filter(batch, train, holdout, percentile=percentile)
        removed += result.n_removed
        frame = result.kept.data.copy()
        frame[id_column] = frame[id_column].astype(str) + f"-{round_}"  # distinct across rounds
        kept.append(frame)
        missing -= result.kept.n_patients
    data = pd.concat(kept, ignore_index=True)
    ids = pd.unique(data[id_column])[:n]
    data = data[data[id_column].isin(ids)].reset_index(drop=True)
    if len(ids) < n:
        warnings.warn(
            f"only {len(ids)} of {n} artificial patients passed the similarity filter after "
            f"{TOP_UP_ROUNDS} extra rounds: the model sits close to its training patients",
            JumeauWarning,
            stacklevel=2,
        )
    renamed = {old: f"A{i + 1:0{max(4, len(str(len(ids))))}d}" for i, old in enumerate(ids)}
    data[id_column] = data[id_column].map(renamed)
    cohort = LongitudinalCohort(
        data, model.schema_, source=f"jumeau:{model.name}:seed={seed}", artificial=True
    )
    return cohort, removed


def run_longitudinal(
    cohort: LongitudinalCohort,
    output: str | Path,
    *,
    static_model: str = "copula",
    n: int | None = None,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    use_filter: bool = True,
    percentile: float = 0.1,
    progress: bool = True,
    say: Callable[[str], None] | None = None,
) -> LongitudinalRun:
    """Split, fit on the training patients, sample (as many as trained on, by default), filter
    whole courses, evaluate against the training patients with the real holdout as ceiling."""
    tell = say or (lambda _text: None)
    folder = Path(output)
    train, holdout = split_patients(cohort, share=HOLDOUT_SHARE, seed=seed)
    tell(f"fitting on {train.n_patients} patients, {holdout.n_patients} held out")
    model = LongitudinalVAE(static_model=static_model, **(params or {}))
    model.fit(train, seed=seed, progress=progress)
    size = train.n_patients if n is None else n
    tell(f"sampling {size} artificial patients")
    if use_filter:
        artificial, removed = filtered_courses(
            model, size, train, holdout, seed=seed, percentile=percentile
        )
    else:
        artificial, removed = model.sample(size, seed=seed), 0
    tell("evaluating")
    evaluation = evaluate_longitudinal(train, holdout, artificial, seed=seed)
    held_ids = set(holdout.patients[cohort.columns.id])
    positions = [i for i, p in enumerate(cohort.patients[cohort.columns.id]) if p in held_ids]
    provenance = {
        "model": model.name,
        "config": model.get_params(),
        "seed": seed,
        "training_data": cohort.provenance | {"training_patients": train.n_patients},
        "similarity_filter": {"used": use_filter, "removed": removed, "percentile": percentile},
        "versions": versions(),
    }
    meta = report_meta(
        seed=seed,
        inputs={"data": cohort.sha256},
        title=f"{cohort.source}: longitudinal VAE",
        extra={"model": model.get_params(), "similarity_filter_removed": removed},
    )
    # published together, an earlier run's files replaced together (jumeau.data.publishing)
    with staged_folder(folder, replaces=RUN_FILES) as staging:
        files = {"model": model.save(staging / "model.jumeau")}
        files["artificial"] = artificial.to_csv(staging / "artificial.csv")
        files["split"] = write_text_atomically(
            staging / "split.json",
            json.dumps({"seed": seed, "holdout_patient_positions": positions}) + "\n",
        )
        provenance["artificial_file"] = {
            "name": "artificial.csv",
            "sha256": file_sha256(files["artificial"]),
        }
        files["provenance"] = write_text_atomically(
            staging / "artificial.csv.provenance.json", json.dumps(provenance, indent=2) + "\n"
        )
        files["report"], files["report_json"] = write_longitudinal_report(
            evaluation, train, artificial, staging, meta
        )
        files = {key: folder / path.name for key, path in files.items()}
    return LongitudinalRun(folder, artificial, evaluation, removed, files)


def report_longitudinal(
    train: LongitudinalCohort,
    holdout_frame: pd.DataFrame,
    artificial_frame: pd.DataFrame,
    output: str | Path,
    *,
    seed: int = 0,
    sources: dict[str, str] | None = None,
) -> tuple[LongitudinalEvaluation, Path, Path]:
    """Evaluate any long-format artificial cohort (another tool's too) against the training
    patients, with the real holdout as ceiling; writes report.html and report.json."""
    schema = output_schema(train.schema)
    kept = list(schema.names)
    train = LongitudinalCohort(train.data[kept], schema, source=train.source, sha256=train.sha256)
    holdout = _with_schema(holdout_frame, schema, "holdout")
    artificial = _with_schema(artificial_frame, schema, "artificial")
    evaluation = evaluate_longitudinal(train, holdout, artificial, seed=seed)
    meta = report_meta(
        seed=seed,
        inputs={"train": train.sha256, "holdout": holdout.sha256, "artificial": artificial.sha256},
        title="longitudinal validation",
        extra={"sources": sources or {}},
    )
    html, json_path = write_longitudinal_report(evaluation, train, artificial, output, meta)
    return evaluation, html, json_path


def _with_schema(frame: pd.DataFrame, schema: Schema, label: str) -> LongitudinalCohort:
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise JumeauError(f"the {label} file lacks columns of the training file: {missing}")
    artificial = label == "artificial"
    return LongitudinalCohort(frame[schema.names], schema, source=label, artificial=artificial)
