"""Crafted model files — their checksum recomputed, so that they pass the integrity check — end
in one clear ModelFileError, never a traceback, a hang or a huge allocation (issue 31 item 6)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from jumeau.datasets import load
from jumeau.generators import load_generator, persistence
from jumeau.generators.persistence import ModelFileError
from jumeau.generators.registry import make_generator

Arrays = dict[str, np.ndarray]


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    lung = load("lung")
    files = {}
    for name, params in (("copula", {}), ("vae", {"epochs": 2})):
        files[name] = (
            make_generator(name, **params)
            .fit(lung, seed=0, progress=False)
            .save(folder / f"{name}.jumeau")
        )
    return files


def _craft(
    source: Path,
    target: Path,
    arrays: Callable[[Arrays], Arrays] = lambda a: a,
    header: Callable[[dict], None] = lambda h: None,
    raw_header: str | None = None,
) -> Path:
    """A copy of `source` with its arrays or header changed and the checksum recomputed."""
    with safe_open(str(source), framework="numpy") as reader:
        metadata = dict(reader.metadata())
    content = arrays(load_file(str(source)))
    record = json.loads(metadata["jumeau"])
    header(record)
    record["weights_sha256"] = persistence.arrays_sha256(content)
    metadata["jumeau"] = raw_header if raw_header is not None else json.dumps(record)
    save_file(content, str(target), metadata=metadata)
    return target


def _load_and_sample(path: Path) -> None:
    load_generator(path).sample(5, seed=0)


def _set_state_sizes(record: dict, size: int) -> None:
    for key in record["state"]:
        if key.endswith("_dim"):
            record["state"][key] = size


CASES = {
    "wrong correlation shape": (
        "copula",
        {"arrays": lambda a: {k: v[:-1] if "correlation" in k else v for k, v in a.items()}},
        "LinAlgError",
    ),
    "NaN weights": (
        "vae",
        {
            "arrays": lambda a: {
                k: np.full_like(v, np.nan) if "decoder" in k else v for k, v in a.items()
            }
        },
        "NaN or infinite",
    ),
    "a missing array": (
        "vae",
        {"arrays": lambda a: {k: v for k, v in a.items() if not k.endswith("decoder.0.bias")}},
        "do not fit the sizes",
    ),
    "a latent size of 10^9": (
        "vae",
        {"header": lambda h: _set_state_sizes(h, 10**9)},
        "do not fit the sizes",
    ),
    "a column the encoder never saw": (
        "copula",
        {"header": lambda h: h["schema"]["columns"].__setitem__("ghost", {"kind": "continuous"})},
        "ghost",
    ),
    "a header nested 100,000 deep": (
        "copula",
        {"raw_header": "[" * 100_000 + "]" * 100_000},
        "RecursionError",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_crafted_model_file_ends_in_one_clear_error(model_files, tmp_path, case):
    model, change, said = CASES[case]
    path = _craft(model_files[model], tmp_path / "crafted.jumeau", **change)
    with pytest.raises(ModelFileError, match="damaged or inconsistent") as error:
        _load_and_sample(path)
    assert said in str(error.value) and str(path) in str(error.value)


def test_the_untouched_files_still_load_and_sample(model_files, tmp_path):
    for path in model_files.values():
        _load_and_sample(_craft(path, tmp_path / path.name))


def test_a_pipe_given_as_model_file_is_refused_without_blocking(tmp_path):
    pipe = tmp_path / "model.jumeau"
    os.mkfifo(pipe)
    with pytest.raises(ModelFileError, match="not a regular file"):
        load_generator(pipe)
    with pytest.raises(ModelFileError, match="not found"):
        load_generator(tmp_path / "absent.jumeau")


def test_the_longitudinal_check_before_sampling_survives_a_deeply_nested_header(
    model_files, tmp_path
):
    """`jumeau sample` asks whether a file is longitudinal before loading it: a header nested
    100,000 deep is 'not longitudinal' there, and the loader then gives its one clear error."""
    from jumeau.longitudinal.workflow import is_longitudinal_model

    nested = "[" * 100_000 + "]" * 100_000
    path = _craft(model_files["copula"], tmp_path / "crafted.jumeau", raw_header=nested)
    assert is_longitudinal_model(path) is False
