"""Score files: the risk model's arrays in safetensors, everything else (task, design, selection,
training provenance, versions) as JSON in its header — the same container as generator files,
with its own format name so that one is never read as the other. Never pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jumeau.data.schema import Schema
from jumeau.errors import JumeauError
from jumeau.generators.persistence import (
    ModelFileError,
    arrays_sha256,
    read_model_file,
    versions,
    write_model_file,
)
from jumeau.prognostic.design import Design
from jumeau.prognostic.models import risk_model_from_state
from jumeau.prognostic.score import PrognosticScore
from jumeau.prognostic.selection import Selection
from jumeau.prognostic.task import PrognosticTask

SCORE_FORMAT = "jumeau-score"
SCORE_FORMAT_VERSION = 1


def save_score(score: PrognosticScore, path: str | Path) -> Path:
    meta, arrays = score.model_.state()
    header: dict[str, Any] = {
        "params": score.get_params(),
        "task": score.task_.to_dict(),
        "design": score.design_.to_dict(),
        "selection": None if score.selection_ is None else score.selection_.to_dict(),
        "model": {"kind": score.model_.kind} | meta,
        "schema": score.schema_.model_dump(mode="json"),
        "seed": score.seed_,
        "training": score.training_,
        "versions": versions(),
        "weights_sha256": arrays_sha256(arrays),
    }
    return write_model_file(Path(path), arrays, header, SCORE_FORMAT, SCORE_FORMAT_VERSION)


def load_score(path: str | Path) -> PrognosticScore:
    """Read a score file, with a clear error for a missing, damaged or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: score file not found")
    text, arrays = read_model_file(path, SCORE_FORMAT, SCORE_FORMAT_VERSION)
    try:
        header = json.loads(text)
        if header.get("weights_sha256") != arrays_sha256(arrays):
            raise ModelFileError(f"{path}: the score's arrays do not match their checksum")
        score = PrognosticScore(**header["params"])
        score.task_ = PrognosticTask.from_dict(header["task"])
        score.design_ = Design.from_dict(header["design"])
        selection = header["selection"]
        score.selection_ = None if selection is None else Selection.from_dict(selection)
        model = dict(header["model"])
        width = len(score.design_.feature_names)
        score.model_ = risk_model_from_state(model.pop("kind"), model, arrays, width)
        score.schema_ = Schema.model_validate(header["schema"])
        score.seed_ = header["seed"]
        score.training_ = header["training"]
    except ModelFileError:
        raise
    except (JumeauError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        detail = " ".join(str(exc).split())[:120]
        raise ModelFileError(
            f"{path}: the score file is damaged or inconsistent ({type(exc).__name__}: {detail})"
        ) from None
    score.file_versions_ = header.get("versions", {})
    return score
