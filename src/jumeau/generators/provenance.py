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
    model_file_shown: Path | None = None,
    sampling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`sampling` describes a cohort drawn in several calls (e.g. topped up after filtering);
    by default the generator's last sampling call is recorded. `model_file_shown`: the path to
    record for `model_file` (hashed where it is now) when it is about to move there."""
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
        shown = model_file if model_file_shown is None else model_file_shown
        record["model_file"] = {"path": str(shown), "sha256": file_sha256(model_file)}
    return record


def write_provenance(
    output: Path,
    generator: Generator,
    *,
    model_file: Path | None = None,
    model_file_shown: Path | None = None,
    sampling: dict[str, Any] | None = None,
) -> Path:
    """Write `<output>.provenance.json` beside an artificial cohort (atomically)."""
    path = provenance_path(output)
    record = provenance(
        generator, model_file=model_file, model_file_shown=model_file_shown, sampling=sampling
    )
    record["artificial_file"] = {"name": output.name, "sha256": file_sha256(output)}
    text = json.dumps(record, indent=2)
    return write_text_atomically(path, text)


def provenance_path(output: Path) -> Path:
    """Where the provenance of the artificial cohort `output` lies."""
    return output.with_name(output.name + ".provenance.json")


def provenance_matches(output: Path) -> bool | None:
    """Does the provenance beside `output` describe it (None: there is none)? It records the
    hash of the cohort it was written with; a provenance left beside a newer file by an
    interrupted write, or beside an edited file, does not. A provenance written before the hash
    was recorded cannot tell and is taken at its word."""
    path = provenance_path(output)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    described = record.get("artificial_file") if isinstance(record, dict) else None
    if not isinstance(described, dict) or "sha256" not in described:
        return True
    return bool(described["sha256"] == file_sha256(output))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
