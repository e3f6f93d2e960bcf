"""Model files: safetensors weights with a JSON header; never pickle, never the training rows.

Saving and loading gives the same artificial patients; every kind of bad file (corrupted,
truncated, empty, foreign, from another format version, missing, damaged header) is refused with
a ModelFileError naming the file; saving is atomic; unknown model names get a suggestion.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import jumeau
from jumeau import Cohort, JumeauError
from jumeau.generators import (
    ModelFileError,
    available_generators,
    generator_class,
    load_generator,
    make_generator,
)
from jumeau.generators.copula import GaussianCopula

COPULA_PARAMS = {
    "shrinkage": 0.05,
    "min_eigenvalue": 1e-3,
    "em_iterations": 40,
    "gibbs_burn_in": 30,
    "gibbs_thinning": 5,
    "shareable": False,
    "epsilon": None,
    "delta": None,
}


@pytest.fixture(scope="module")
def model(gbsg2: Cohort) -> GaussianCopula:
    return GaussianCopula(shrinkage=0.05).fit(gbsg2, seed=7)


@pytest.fixture(scope="module")
def model_file(model: GaussianCopula, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model.save(tmp_path_factory.mktemp("models") / "gbsg2.jumeau")


def _metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="numpy") as reader:
        return reader.metadata() or {}


def _header(path: Path) -> dict[str, Any]:
    return json.loads(_metadata(path)["jumeau"])


def _rewrite(source: Path, target: Path, **metadata: str) -> Path:
    """A copy of a model file with the same weights and some metadata replaced."""
    save_file(load_file(str(source)), str(target), metadata={**_metadata(source), **metadata})
    return target


# ------------------------------------------------------------------ round trip
def test_loaded_model_gives_identical_samples(model: GaussianCopula, model_file: Path) -> None:
    loaded = jumeau.load(str(model_file))
    assert isinstance(loaded, GaussianCopula)
    for seed in (0, 1, 123):
        pd.testing.assert_frame_equal(
            loaded.sample(150, seed=seed).data, model.sample(150, seed=seed).data
        )
    where = "age > 50 and tsize < 25"
    pd.testing.assert_frame_equal(
        loaded.sample(40, seed=3, where=where).data, model.sample(40, seed=3, where=where).data
    )


def test_loaded_model_has_the_same_state(model: GaussianCopula, model_file: Path) -> None:
    loaded = load_generator(model_file)
    assert loaded.get_params() == model.get_params() == COPULA_PARAMS
    assert loaded.schema == model.schema
    assert loaded.seed_ == 7
    assert loaded.training_rows_ == model.training_rows_ == 686
    assert loaded.training_sha256_ == model.training_sha256_
    assert np.array_equal(loaded.correlation_, model.correlation_)
    assert np.array_equal(loaded.numeric_mean_, model.numeric_mean_)
    assert np.array_equal(loaded.numeric_scale_, model.numeric_scale_)
    assert loaded.encoder_.blocks_ == model.encoder_.blocks_
    assert loaded.file_versions_["jumeau"] == jumeau.__version__


def test_save_returns_the_path_and_creates_folders(model: GaussianCopula, tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "model.jumeau"
    assert model.save(target) == target
    assert target.is_file()
    assert jumeau.load(target).seed_ == 7


# ------------------------------------------------------------------ what the file holds
def test_file_is_safetensors_with_a_jumeau_header(model: GaussianCopula, model_file: Path) -> None:
    metadata = _metadata(model_file)
    assert metadata["format"] == "jumeau-model"
    assert metadata["format_version"] == "1"
    header = _header(model_file)
    assert header["model"] == "copula"
    assert header["config"] == COPULA_PARAMS
    assert header["schema"] == model.schema.model_dump(mode="json")
    assert header["seed"] == 7
    assert header["training"] == {"rows": 686, "sha256": model.training_sha256_}
    assert len(header["training"]["sha256"]) == 64
    versions = header["versions"]
    assert versions["jumeau"] == jumeau.__version__
    assert {"python", "numpy", "pandas", "scipy", "scikit-learn"} <= set(versions)


def test_the_header_says_the_file_holds_personal_data_and_what(model_file: Path) -> None:
    """The encoder's knots hold real values (every column's smallest and largest): a file a
    data-protection officer must treat as personal data, and its header says so."""
    header = _header(model_file)
    assert header["personal_data"] is True
    assert any("values of training patients" in line for line in header["personal_data_held"])
    bounds = load_file(str(model_file))
    knots = [array for name, array in bounds.items() if name.startswith("encoder.knots.")]
    assert knots  # the reason is true: real minima and maxima are in the file


def test_an_rhvae_file_also_declares_its_training_codes(gbsg2: Cohort, tmp_path: Path) -> None:
    rhvae = make_generator("rhvae", epochs=2, flow_epochs=2, prior_weight=1.0)
    rhvae.fit(gbsg2, seed=0, progress=False)
    header = _header(rhvae.save(tmp_path / "rhvae.jumeau"))
    assert header["personal_data"] is True
    assert any("latent code per training patient" in line for line in header["personal_data_held"])


def test_weights_are_summaries_not_rows(model: GaussianCopula, model_file: Path) -> None:
    weights = load_file(str(model_file))
    width = model.encoder_.width_
    assert weights["copula.correlation"].shape[0] == weights["copula.correlation"].shape[1]
    for name, array in weights.items():
        assert 686 not in array.shape, name
        if name.startswith("encoder.atoms."):  # values ≥ 10 patients share: value, cdf jump
            assert array.ndim == 2 and array.shape[1] == 3, name
            assert array.shape[0] <= model.encoder_.max_knots, name
        elif name != "copula.correlation":
            assert array.ndim == 1 and array.size <= max(model.encoder_.max_knots, width), name


def test_header_never_holds_a_training_row(
    gbsg2: Cohort,
    model: GaussianCopula,
    model_file: Path,
    assert_no_training_row: Callable[..., None],
) -> None:
    text = _metadata(model_file)["jumeau"]
    numeric = ["age", "tsize", "pnodes", "progrec", "estrec", "time"]
    assert_no_training_row(text, gbsg2, numeric)


def test_header_is_plain_json_and_file_holds_no_pickle(model_file: Path) -> None:
    raw = model_file.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])  # the safetensors header itself is JSON
    assert header["__metadata__"]["format"] == "jumeau-model"
    assert b"\x80\x04\x95" not in raw and b"cnumpy" not in raw  # pickle protocol 4 / globals


# ------------------------------------------------------------------ bad files
def _random(path: Path, good: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def _truncated(path: Path, good: Path) -> None:
    raw = good.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _truncated_header(path: Path, good: Path) -> None:
    raw = good.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    path.write_bytes(raw[: 8 + length // 2])


def _empty(path: Path, good: Path) -> None:
    path.write_bytes(b"")


def _tiny(path: Path, good: Path) -> None:
    path.write_bytes(b"\x01\x02\x03")


def _csv(path: Path, good: Path) -> None:
    path.write_text("age,tsize\n70,21\n56,12\n", encoding="utf-8")


def _foreign(path: Path, good: Path) -> None:
    save_file({"w": np.zeros(3)}, str(path))


def _foreign_with_metadata(path: Path, good: Path) -> None:
    save_file({"w": np.zeros(3)}, str(path), metadata={"format": "pt"})


def _future_version(path: Path, good: Path) -> None:
    _rewrite(good, path, format_version="999")


def _no_header(path: Path, good: Path) -> None:
    metadata = {k: v for k, v in _metadata(good).items() if k != "jumeau"}
    save_file(load_file(str(good)), str(path), metadata=metadata)


def _damaged_json(path: Path, good: Path) -> None:
    text = _metadata(good)["jumeau"]
    _rewrite(good, path, jumeau=text[: len(text) // 2])


def _json_not_an_object(path: Path, good: Path) -> None:
    _rewrite(good, path, jumeau="[1, 2, 3]")


def _json_missing_part(path: Path, good: Path) -> None:
    header = json.loads(_metadata(good)["jumeau"])
    del header["encoder"]
    _rewrite(good, path, jumeau=json.dumps(header))


def _json_bad_config(path: Path, good: Path) -> None:
    header = json.loads(_metadata(good)["jumeau"])
    header["config"]["shrinkage"] = 5
    _rewrite(good, path, jumeau=json.dumps(header))


def _json_bad_schema(path: Path, good: Path) -> None:
    header = json.loads(_metadata(good)["jumeau"])
    header["schema"]["columns"]["age"]["kind"] = "number"
    _rewrite(good, path, jumeau=json.dumps(header))


def _missing_weight(path: Path, good: Path) -> None:
    weights = load_file(str(good))
    del weights["encoder.knots.age"]
    save_file(weights, str(path), metadata=_metadata(good))


BAD_FILES = {
    "random bytes": _random,
    "truncated": _truncated,
    "truncated header": _truncated_header,
    "empty": _empty,
    "three bytes": _tiny,
    "a CSV file": _csv,
    "foreign safetensors": _foreign,
    "foreign safetensors with metadata": _foreign_with_metadata,
    "format version 999": _future_version,
    "no jumeau header": _no_header,
    "damaged JSON header": _damaged_json,
    "JSON header not an object": _json_not_an_object,
    "JSON header without encoder": _json_missing_part,
    "JSON header with invalid config": _json_bad_config,
    "JSON header with invalid schema": _json_bad_schema,
    "weight missing": _missing_weight,
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_raises_model_file_error_naming_the_file(
    case: str, model_file: Path, tmp_path: Path
) -> None:
    path = tmp_path / f"{case.replace(' ', '_')}.jumeau"
    BAD_FILES[case](path, model_file)
    with pytest.raises(ModelFileError) as error:
        jumeau.load(str(path))
    message = str(error.value)
    assert str(path) in message
    if case != "JSON header with invalid schema":
        assert "\n" not in message
    assert issubclass(ModelFileError, JumeauError)


def test_missing_file_raises_model_file_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "model.jumeau"
    with pytest.raises(ModelFileError, match="not found") as error:
        jumeau.load(path)
    assert str(path) in str(error.value)


def test_messages_say_what_is_wrong(model_file: Path, tmp_path: Path) -> None:
    cases = {
        "format version 999": "format 999",
        "foreign safetensors": "not a jumeau-model file",
        "empty": "too short",
        "truncated": "corrupted or truncated",
        "damaged JSON header": "damaged",
    }
    for case, expected in cases.items():
        path = tmp_path / f"{case.replace(' ', '_')}.jumeau"
        BAD_FILES[case](path, model_file)
        with pytest.raises(ModelFileError, match=expected):
            jumeau.load(path)


def test_unknown_model_in_a_file_is_named_with_a_suggestion(
    model_file: Path, tmp_path: Path
) -> None:
    header = _header(model_file)
    header["model"] = "copla"
    path = _rewrite(model_file, tmp_path / "typo.jumeau", jumeau=json.dumps(header))
    with pytest.raises(ModelFileError, match="did you mean 'copula'") as error:
        jumeau.load(path)
    assert str(path) in str(error.value)


# ------------------------------------------------------------------ atomic saves
def test_saving_over_an_existing_file_replaces_it_atomically(
    gbsg2: Cohort, model: GaussianCopula, tmp_path: Path
) -> None:
    path = tmp_path / "model.jumeau"
    model.save(path)
    other = GaussianCopula().fit(gbsg2, seed=8)
    other.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.jumeau"]  # no .partial left
    loaded = jumeau.load(path)
    assert loaded.seed_ == 8
    pd.testing.assert_frame_equal(loaded.sample(30, seed=1).data, other.sample(30, seed=1).data)


def test_an_interrupted_save_keeps_the_old_file_and_leaves_nothing_behind(
    model: GaussianCopula, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = model.save(tmp_path / "model.jumeau")
    before = path.read_bytes()

    real_write_bytes = Path.write_bytes

    def crash(self: Path, data: bytes) -> int:
        real_write_bytes(self, data[: len(data) // 2])  # half a model, then the disk is full
        raise OSError(28, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", crash)
    with pytest.raises(OSError, match="No space left"):
        model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.jumeau"]


# ------------------------------------------------------------------ registry
def test_registry_knows_the_copula() -> None:
    assert "copula" in available_generators()
    assert generator_class("copula") is GaussianCopula
    made = make_generator("copula", shrinkage=0.3)
    assert isinstance(made, GaussianCopula) and made.get_params()["shrinkage"] == 0.3


@pytest.mark.parametrize("name", ["copla", "Copula", "copulas"])
def test_unknown_model_name_suggests_the_closest(name: str) -> None:
    with pytest.raises(JumeauError, match=rf"unknown model '{name}'.*did you mean 'copula'"):
        generator_class(name)
    with pytest.raises(JumeauError, match="did you mean 'copula'"):
        make_generator(name)


def test_unknown_model_name_lists_what_is_available() -> None:
    with pytest.raises(JumeauError, match=r"available: .*copula") as error:
        generator_class("xgboost-forest")
    assert "did you mean" not in str(error.value)


def test_invalid_parameters_through_the_registry_name_the_parameter() -> None:
    with pytest.raises(JumeauError, match="shrinkage"):
        make_generator("copula", shrinkage=2)


# ------------------------------------------------------------------ bugs found
def test_model_fitted_with_a_numpy_seed_can_be_saved(gbsg2: Cohort, tmp_path: Path) -> None:
    seed = np.random.default_rng(0).integers(0, 1000)  # a numpy int64, as rng code gives
    path = GaussianCopula().fit(gbsg2, seed=seed).save(tmp_path / "model.jumeau")
    assert jumeau.load(path).seed_ == int(seed)


def test_corrupted_weights_raise_model_file_error(model_file: Path, tmp_path: Path) -> None:
    raw = model_file.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    start = 8 + length
    path = tmp_path / "flipped.jumeau"
    path.write_bytes(raw[:start] + bytes(b ^ 0xFF for b in raw[start:]))
    with pytest.raises(ModelFileError, match=re.escape(str(path))):
        jumeau.load(path).sample(10, seed=0)


def test_invalid_schema_in_a_file_gives_a_one_line_message(
    model_file: Path, tmp_path: Path
) -> None:
    path = tmp_path / "bad_schema.jumeau"
    _json_bad_schema(path, model_file)
    with pytest.raises(ModelFileError) as error:
        jumeau.load(path)
    # actual: "...(ValidationError: 1 validation error for Schema\ncolumns.age.kind\n  Input ..."
    assert "\n" not in str(error.value)
