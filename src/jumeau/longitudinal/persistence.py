"""Longitudinal model files: the same safetensors + JSON format as every jumeau model, with the
baseline generator nested inside (its arrays under `static.`, its header under "static")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from jumeau.data.longitudinal import CourseColumns
from jumeau.data.schema import Schema
from jumeau.errors import JumeauError
from jumeau.generators.persistence import (
    FILE_FORMAT,
    FILE_FORMAT_VERSION,
    ModelFileError,
    arrays_sha256,
    damaged,
    generator_from_state,
    generator_state,
    read_model_file,
    versions,
    write_model_file,
)
from jumeau.longitudinal.course import CourseEncoder

if TYPE_CHECKING:
    from jumeau.longitudinal.vae.model import LongitudinalVAE

MODEL_NAME = "longitudinal_vae"


def save_longitudinal(model: LongitudinalVAE, path: Path) -> Path:
    course_meta, arrays = model.course_.state()
    arrays = {f"course.{k}": v for k, v in arrays.items()}
    arrays |= {f"network.{k}": v.detach().numpy() for k, v in model.network_.state_dict().items()}
    static_header = None
    if model.static_model_ is not None:
        static_header, static_arrays = generator_state(model.static_model_)
        arrays |= {f"static.{k}": v for k, v in static_arrays.items()}
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    header = {
        "model": MODEL_NAME,
        "config": model.get_params(),
        "schema": model.schema_.model_dump(mode="json"),
        "course": course_meta,
        "state": {"hidden_dim": model.hidden_dim_, "static_width": model.static_width_},
        "static": static_header,
        "seed": model.seed_,
        "training": {"patients": model.training_patients_, "sha256": model.training_sha256_},
        "versions": versions(),
        "weights_sha256": arrays_sha256(arrays),
    }
    return write_model_file(path, arrays, header, FILE_FORMAT, FILE_FORMAT_VERSION)


def load_longitudinal_model(path: str | Path) -> LongitudinalVAE:
    """A longitudinal model written by `LongitudinalVAE.save`; a clear error for a bad file."""
    from jumeau.longitudinal.vae.model import LongitudinalVAE

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    text, arrays = read_model_file(path)
    try:
        header: dict[str, Any] = json.loads(text)
        if not isinstance(header, dict):
            raise TypeError("the JSON header is not an object")
        if header.get("model") != MODEL_NAME:
            raise ModelFileError(
                f"{path}: a '{header.get('model')}' model for one row per patient, not a "
                "longitudinal one; use `jumeau sample` / jumeau.load"
            )
        if header.get("weights_sha256") != arrays_sha256(arrays):
            raise ModelFileError(
                f"{path}: the weights do not match their checksum (the file is corrupted); "
                "fit the model again or restore the file from a backup"
            )
        model = LongitudinalVAE(**header["config"])
        model.schema_ = Schema.model_validate(header["schema"])
        model.columns_ = CourseColumns.of(model.schema_)
        model.course_ = CourseEncoder.from_state(header["course"], _part(arrays, "course"),
                                                 model.schema_)  # fmt: skip
        model.static_model_ = None
        if header["static"] is not None:
            model.static_model_ = generator_from_state(
                header["static"], _part(arrays, "static"), path
            )
        state = header["state"]
        model._build(int(state["static_width"]), 0, hidden=int(state["hidden_dim"]))
        weights = {k: torch.as_tensor(v) for k, v in _part(arrays, "network").items()}
        model.network_.load_state_dict(weights)
        model.network_.eval()
        model.seed_ = header["seed"]
        model.training_patients_ = header["training"]["patients"]
        model.training_sha256_ = header["training"]["sha256"]
    except ModelFileError:
        raise
    except (JumeauError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise damaged(path, exc) from None
    model.file_versions_ = header.get("versions", {})
    return model


def _part(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    start = f"{prefix}."
    return {k.removeprefix(start): v for k, v in arrays.items() if k.startswith(start)}
