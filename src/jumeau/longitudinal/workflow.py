"""File-level steps behind `jumeau fit --longitudinal` and `jumeau sample` of a course model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jumeau.data.loading import write_text_atomically
from jumeau.data.longitudinal import load_longitudinal
from jumeau.generators.persistence import ModelFileError, read_model_file, versions
from jumeau.generators.provenance import file_sha256
from jumeau.longitudinal.persistence import MODEL_NAME, load_longitudinal_model
from jumeau.longitudinal.vae.model import LongitudinalVAE


def fit_longitudinal_file(
    data: Path,
    output: Path,
    *,
    id: str | None,
    time: str | None,
    schema: Path | None = None,
    varying: Sequence[str] | None = None,
    followup: str | None = None,
    event: str | None = None,
    static_model: str = "copula",
    params: dict[str, Any] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> str:
    """Fit a longitudinal VAE on a long-format file and save it; returns a one-line summary."""
    cohort = load_longitudinal(
        data, id=id, time=time, schema=schema, varying=varying, followup=followup, event=event
    )
    model = LongitudinalVAE(static_model=static_model, **(params or {}))
    model.fit(cohort, seed=seed, progress=progress)
    model.save(output)
    columns = cohort.columns
    return (
        f"fitted {model!r} on {cohort.n_patients} patients ({len(cohort.data)} visits; "
        f"{len(columns.static)} baseline and {len(columns.varying)} varying columns"
        f"{', follow-up and event' if columns.followup and columns.event else ''}) -> {output}"
    )


def is_longitudinal_model(path: Path) -> bool:
    """Whether a model file holds a longitudinal model (False for any other or unreadable file:
    the tabular loader then gives its own clear error)."""
    try:
        text, _ = read_model_file(Path(path))
        return bool(json.loads(text).get("model") == MODEL_NAME)
    except (ModelFileError, ValueError, AttributeError, RecursionError):
        return False


def sample_longitudinal_file(
    model_file: Path, output: Path, *, n: int, seed: int, where: str | None = None
) -> str:
    """Sample courses to a long-format CSV with a provenance record beside it."""
    model = load_longitudinal_model(model_file)
    cohort = model.sample(n, seed=seed, where=where)
    cohort.to_csv(output)
    record = {
        "model": model.name,
        "config": model.get_params(),
        "fit_seed": model.seed_,
        "training_data": {"patients": model.training_patients_, "sha256": model.training_sha256_},
        "sampling": model.last_sampling_.as_dict(),
        "versions": versions(),
        "model_file": {"path": str(model_file), "sha256": file_sha256(Path(model_file))},
    }
    path = output.with_name(output.name + ".provenance.json")
    write_text_atomically(path, json.dumps(record, indent=2))
    report = model.last_sampling_
    return (
        f"wrote {cohort.n_patients} artificial patients ({len(cohort.data)} visits) to {output} "
        f"(rejected {report.rejection_rate:.1%} of drawn courses by bounds/rules"
        f"{' and --where' if where else ''}); provenance: {path}"
    )
