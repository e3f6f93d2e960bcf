"""Fit files: the posterior draws in safetensors, everything else (model, error model, weight
effect, subject ids, diagnostics, seed, versions, a hash of the study) as JSON in its header.
No observation, dose or covariate value of any patient is written; loading never unpickles.
"""

from __future__ import annotations

import json
from contextlib import suppress
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from jumeau.errors import JumeauError
from jumeau.generators.persistence import (
    ModelFileError,
    arrays_sha256,
    read_model_file,
    versions,
    write_model_file,
)
from jumeau.twins.calibrate import PopulationFit
from jumeau.twins.covariates import CategoricalEffects
from jumeau.twins.models import MODELS, make_model

FIT_FORMAT = "jumeau-twin-fit"
FIT_FORMAT_VERSION = 1


def save_fit(fit: PopulationFit, path: str | Path) -> Path:
    arrays = {f"draws.{name}": np.ascontiguousarray(value) for name, value in fit.draws.items()}
    if fit.weight_ratio is not None:
        arrays["weight_ratio"] = np.ascontiguousarray(fit.weight_ratio)
    if fit.design is not None:
        arrays["design"] = np.ascontiguousarray(fit.design)
    found = versions()
    with suppress(metadata.PackageNotFoundError):
        found["pyro-ppl"] = metadata.version("pyro-ppl")
    header = {
        "model": fit.model.name,
        "error": fit.error,
        "weight": fit.weight,
        "reference_weight": fit.reference_weight,
        "clearance_exponent": fit.clearance_exponent,
        "categorical": None if fit.effects is None else fit.effects.to_json(),
        "subject_ids": [_json_id(i) for i in fit.subject_ids],
        "seed": fit.seed,
        "seconds": fit.seconds,
        "study_sha256": fit.study_sha256,
        "diagnostics": fit.diagnostics,
        "versions": found,
        "weights_sha256": arrays_sha256(arrays),
    }
    return write_model_file(Path(path), arrays, header, FIT_FORMAT, FIT_FORMAT_VERSION)


def load_fit(path: str | Path) -> PopulationFit:
    """A fit written by `save_fit`; a clear error for a missing, damaged or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such fit file")
    text, arrays = read_model_file(path, FIT_FORMAT, FIT_FORMAT_VERSION)
    try:
        header = json.loads(text)
        if header["weights_sha256"] != arrays_sha256(arrays):
            raise ModelFileError(f"{path}: the draws do not match their checksum (damaged file)")
        if header["model"] not in MODELS:
            raise ModelFileError(
                f"{path}: fitted with the model {header['model']!r}, which is not declared in "
                "this session; a model of your own must be declared again (declare_model, same "
                "name and parameters) before its fit file is loaded"
            )
        draws = {k.removeprefix("draws."): v for k, v in arrays.items() if k.startswith("draws.")}
        fit = PopulationFit(
            model=make_model(header["model"]),
            error=header["error"],
            weight=header["weight"],
            reference_weight=header["reference_weight"],
            subject_ids=list(header["subject_ids"]),
            weight_ratio=arrays.get("weight_ratio"),
            clearance_exponent=float(header["clearance_exponent"]),
            draws=draws,
            seed=int(header["seed"]),
            seconds=float(header["seconds"]),
            study_sha256=header["study_sha256"],
            diagnostics=header["diagnostics"],
            effects=(
                None
                if header.get("categorical") is None
                else CategoricalEffects.from_json(header["categorical"])
            ),
            design=arrays.get("design"),
        )
        subjects = len(fit.subject_ids)
        if draws["z"].shape[-2] != subjects or (
            fit.weight_ratio is not None and len(fit.weight_ratio) != subjects
        ):
            raise ModelFileError(f"{path}: the draws do not match the subjects (damaged file)")
    except ModelFileError:
        raise
    except (JumeauError, json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelFileError(
            f"{path}: the fit file is damaged or inconsistent ({type(exc).__name__}); fit again"
        ) from None
    return fit


def _json_id(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    return value if isinstance(value, (int, str)) else str(value)
