"""What an artificial cohort records about how it was made, beside it, as JSON.

Seed, model, hyper-parameters, package versions, the hash of the training data and of the model
file, and what sampling rejected — enough to reproduce it, and never a real record.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jumeau.data.loading import write_text_atomically
from jumeau.generators.persistence import versions

if TYPE_CHECKING:
    from jumeau.generators.base import Generator


def provenance(
    generator: Generator,
    *,
    model_file: Path | None = None,
    sampling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`sampling` describes a cohort drawn in several calls (e.g. topped up after filtering);
    by default the generator's last sampling call is recorded."""
    record: dict[str, Any] = {
        "model": generator.name,
        "config": generator.get_params(),
        "fit_seed": generator.seed_,
        "training_data": {"rows": generator.training_rows_, "sha256": generator.training_sha256_},
        "versions": versions(),
    }
    if sampling is not None:
        record["sampling"] = sampling
    elif hasattr(generator, "last_sampling_"):
        record["sampling"] = generator.last_sampling_.as_dict()
    if model_file is not None:
        record["model_file"] = {"path": str(model_file), "sha256": file_sha256(model_file)}
    return record


def write_provenance(
    output: Path,
    generator: Generator,
    *,
    model_file: Path | None = None,
    sampling: dict[str, Any] | None = None,
) -> Path:
    """Write `<output>.provenance.json` beside an artificial cohort (atomically)."""
    path = output.with_name(output.name + ".provenance.json")
    text = json.dumps(provenance(generator, model_file=model_file, sampling=sampling), indent=2)
    return write_text_atomically(path, text)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
