"""Model files: one safetensors file holding the weights, with every other piece of state (schema,
encoder layout, config, versions, seed, a hash of the training data — never the data) as JSON in
its header. Loading never unpickles and never runs code from the file.
"""

from __future__ import annotations

import hashlib
import json
import platform
from contextlib import suppress
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save

import jumeau
from jumeau.data.publishing import write_atomically
from jumeau.data.schema import Schema
from jumeau.errors import JumeauError

if TYPE_CHECKING:
    from jumeau.generators.base import Generator

FILE_FORMAT = "jumeau-model"
FILE_FORMAT_VERSION = 1


class ModelFileError(JumeauError):
    """A model file is missing, corrupted, truncated, foreign or from an incompatible version."""


def save_generator(generator: Generator, path: Path) -> Path:
    header, arrays = generator_state(generator)
    return write_model_file(path, arrays, header, FILE_FORMAT, FILE_FORMAT_VERSION)


def generator_state(generator: Generator) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON header and the arrays of a fitted generator (also used to nest one generator
    inside another model's file, such as the baseline model of a longitudinal generator)."""
    from jumeau.generators.encoding import TabularEncoder

    encoder: TabularEncoder = generator.encoder_
    encoder_meta, arrays = encoder.state()
    model_meta, model_arrays = generator._state()
    arrays = {k: np.ascontiguousarray(v) for k, v in (arrays | model_arrays).items()}
    held = generator.personal_data_held()
    header = {
        "model": generator.name,
        # whether sharing this file shares personal data (GDPR art. 4(1)), and what of it
        "personal_data": bool(held),
        "personal_data_held": held,
        "config": generator.get_params(),
        "schema": generator.schema_.model_dump(mode="json"),
        "encoder": encoder_meta,
        "state": model_meta,
        "seed": generator.seed_,
        "training": {"rows": generator.training_rows_, "sha256": generator.training_sha256_},
        # ε, δ, the mechanisms and the accountant of a DP fit (None: an ordinary fit)
        "differential_privacy": getattr(generator, "privacy_", None),
        "versions": versions(),
        "weights_sha256": arrays_sha256(arrays),
    }
    return header, arrays


def write_model_file(
    path: Path, arrays: dict[str, np.ndarray], header: dict[str, Any], kind: str, version: int
) -> Path:
    """safetensors arrays with the JSON header in the file's metadata, written atomically: an
    interrupted save never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # serialised in memory, then written by Python: a full disk is an OSError naming the file,
    # not safetensors' own error type
    content = save(
        {k: np.ascontiguousarray(v) for k, v in arrays.items()},
        metadata={"format": kind, "format_version": str(version), "jumeau": json.dumps(header)},
    )
    return write_atomically(path, lambda temporary: temporary.write_bytes(content))


def load_generator(path: str | Path) -> Generator:
    """Read a model file written by `Generator.save`, with a clear error for any bad file."""
    path = Path(path)
    header_text, arrays = read_model_file(path)
    try:
        header = json.loads(header_text)
        if not isinstance(header, dict):
            raise TypeError("the JSON header is not an object")
    except (json.JSONDecodeError, TypeError, RecursionError) as exc:
        raise damaged(path, exc) from None
    not_finite = [k for k, v in arrays.items() if v.dtype.kind == "f" and not np.isfinite(v).all()]
    if not_finite:  # no jumeau model stores NaN or infinity: a crafted or corrupted file
        raise damaged(path, ValueError(f"array {not_finite[0]} holds NaN or infinite numbers"))
    if header.get("model") == "longitudinal_vae":
        raise ModelFileError(
            f"{path}: a longitudinal model; load it with "
            "jumeau.longitudinal.load_longitudinal_model"
        )
    return generator_from_state(header, arrays, path)


def generator_from_state(
    header: dict[str, Any], arrays: dict[str, np.ndarray], path: Path
) -> Generator:
    """The generator that `generator_state` described (a clear error when anything is off)."""
    from jumeau.generators.encoding import TabularEncoder
    from jumeau.generators.registry import generator_class

    try:
        if header.get("weights_sha256") != arrays_sha256(arrays):
            raise ModelFileError(
                f"{path}: the weights do not match their checksum (the file is corrupted); "
                "fit the model again or restore the file from a backup"
            )
        model_class = generator_class(header["model"])
        generator = model_class(**header["config"])
        schema = Schema.model_validate(header["schema"])
        generator.encoder_ = TabularEncoder.from_state(header["encoder"], arrays, schema)
        generator.schema_ = schema
        generator._load_state(header["state"], arrays)
        generator.seed_ = header["seed"]
        generator.training_rows_ = header["training"]["rows"]
        generator.training_sha256_ = header["training"]["sha256"]
        generator.privacy_ = header.get("differential_privacy")
    except ModelFileError:
        raise
    except LOAD_ERRORS as exc:  # a crafted file whose parts do not fit each other
        raise damaged(path, exc) from None
    generator.file_versions_ = header.get("versions", {})
    generator.file_path_ = path
    return generator


# What building or sampling a model from a file whose arrays and header do not fit each other
# raises: wrong shapes (numpy, LinAlgError, torch's "size mismatch"), missing keys, unknown
# columns, an allocation refused for a size the file asks for
LOAD_ERRORS = (
    JumeauError,
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    RuntimeError,
    MemoryError,
    np.linalg.LinAlgError,
)


def damaged(path: Path, exc: BaseException) -> ModelFileError:
    """One clear line for a model file whose content does not hold together."""
    detail = " ".join(str(exc).split())
    detail = detail if len(detail) <= 120 else detail[:117].rsplit(" ", 1)[0] + "..."
    return ModelFileError(
        f"{path}: the model file is damaged or inconsistent ({type(exc).__name__}: "
        f"{detail}); fit the model again"
    )


def read_model_file(
    path: Path, kind: str = FILE_FORMAT, version: int = FILE_FORMAT_VERSION
) -> tuple[str, dict[str, np.ndarray]]:
    """The JSON header text and the arrays of a file written by `write_model_file`; a clear
    `ModelFileError` for a truncated, corrupted or foreign file or another format version."""
    if not path.is_file():  # a folder, or a pipe that would block the read forever
        what = "not found" if not path.exists() else "is not a regular file"
        raise ModelFileError(f"{path}: model file {what}; give the path of a .jumeau file")
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
        if len(head) < 8:
            raise ModelFileError(
                f"{path}: not a jumeau model file (too short); fit the model again"
            )
        arrays = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as reader:
            metadata = reader.metadata() or {}
    except ModelFileError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(
            f"{path}: not a readable jumeau model file (corrupted or truncated: {str(exc)[:100]})"
        ) from None
    if metadata.get("format") != kind:
        found = metadata.get("format")
        what = f"a {found} file" if found else "a safetensors file"
        raise ModelFileError(f"{path}: {what}, not a {kind} file")
    written = metadata.get("format_version", "?")
    if written != str(version):
        raise ModelFileError(
            f"{path}: {kind} file format {written}, this jumeau {jumeau.__version__} reads format "
            f"{version}; fit again with this version"
        )
    return metadata.get("jumeau", ""), arrays


def versions() -> dict[str, Any]:
    """Package versions an output records, so that a result can be reproduced."""
    import pandas
    import scipy
    import sklearn

    found = {
        "jumeau": jumeau.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pandas.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
    }
    # read the installed version without importing torch (the copula needs none)
    with suppress(metadata.PackageNotFoundError):
        found["torch"] = metadata.version("torch")
    return found


def arrays_sha256(arrays: dict[str, np.ndarray]) -> str:
    """Checksum of the weights, so that a corrupted file is refused at load, not at sampling."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(name.encode())
        digest.update(str(array.dtype).encode() + str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
