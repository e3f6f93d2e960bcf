"""Image VAE/RHVAE per class: the tabular latent machinery on convolutional modules."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jumeau.errors import JumeauError
from jumeau.generators import ModelFileError, NotFittedError
from jumeau.generators.rhvae.model import RHVAE
from jumeau.images.cohort import ImageCohort
from jumeau.images.models import ImageGenerator, ImageRHVAE, load_image_generator

QUICK = {"epochs": 3, "patience": 3, "flow_epochs": 2, "flow_patience": 2, "latent_dim": 4,
         "hidden_dim": 32, "mcmc_steps": 4}  # fmt: skip


def shapes(n_per_class: int = 24, size: int = 12, seed: int = 0, depth: int = 0) -> ImageCohort:
    """Bright disks vs bright squares on a dark, noisy background (2D, or 3D with `depth`)."""
    rng = np.random.default_rng(seed)
    grid = np.indices((size, size)) - (size - 1) / 2
    images, labels = [], []
    for label in ("disk", "square"):
        for _ in range(n_per_class):
            radius = rng.uniform(2.5, 4.5)
            distance = np.hypot(*grid) if label == "disk" else np.abs(grid).max(0)
            inside = distance < radius
            image = 0.15 + 0.7 * inside + rng.normal(0, 0.05, (size, size))
            images.append(np.repeat(image[None], depth, 0) if depth else image)
            labels.append(label)
    array = np.clip(np.array(images), 0, 1).astype(np.float32)
    return ImageCohort(array, np.array(labels), np.arange(len(array)).astype(str))


def image_folder(tmp_path, cohort: ImageCohort):
    """The cohort as PNG files and a labels CSV, as a user would bring them."""
    from PIL import Image

    folder = tmp_path / "scans"
    folder.mkdir()
    for image, name in zip(cohort.images, cohort.ids, strict=True):
        Image.fromarray((image * 255).astype(np.uint8)).save(folder / f"{name}.png")
    labels = tmp_path / "labels.csv"
    rows = "".join(f"{i},{lab}\n" for i, lab in zip(cohort.ids, cohort.labels, strict=True))
    labels.write_text("id,label\n" + rows)
    return folder, labels


@pytest.fixture(scope="module")
def fitted() -> ImageGenerator:
    return ImageGenerator("rhvae", **QUICK).fit(shapes(), seed=0, progress=False)


def test_the_image_rhvae_is_the_tabular_rhvae_with_other_modules() -> None:
    assert issubclass(ImageRHVAE, RHVAE)
    for shared in ("_flow", "_loss", "_geometry_samples", "_after_training"):
        assert getattr(ImageRHVAE, shared) is getattr(RHVAE, shared)


def test_samples_have_the_shape_range_and_label_asked_for(fitted) -> None:
    assert fitted.classes == ["disk", "square"]
    images = fitted.sample(10, label="disk", seed=1)
    assert images.shape == (10, 12, 12) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    again = fitted.sample(10, label="disk", seed=1)
    assert np.array_equal(images, again)
    assert not np.array_equal(images, fitted.sample(10, label="disk", seed=2))
    prior = fitted.sample(10, label="disk", seed=1, sampler="prior")
    assert prior.shape == images.shape and not np.array_equal(prior, images)


def test_artificial_cohort_holds_the_requested_counts(fitted) -> None:
    cohort = fitted.sample_cohort({"disk": 3, "square": 5}, seed=0)
    assert len(cohort) == 8 and list(cohort.labels).count("square") == 5
    assert all(i.startswith("artificial-") for i in cohort.ids)


def test_save_and_load_give_the_same_images(fitted, tmp_path) -> None:
    path = fitted.save(tmp_path / "images.jumeau")
    loaded = load_image_generator(path)
    assert loaded.classes == fitted.classes
    for label in fitted.classes:
        assert np.array_equal(
            loaded.sample(6, label=label, seed=3), fitted.sample(6, label=label, seed=3)
        )
    raw = bytearray(path.read_bytes())
    raw[-40] ^= 0xFF
    (tmp_path / "bad.jumeau").write_bytes(bytes(raw))
    with pytest.raises(ModelFileError):
        load_image_generator(tmp_path / "bad.jumeau")


def test_a_vae_on_3d_volumes() -> None:
    volumes = shapes(n_per_class=12, size=8, depth=4)
    generator = ImageGenerator("vae", epochs=2, latent_dim=3, hidden_dim=16)
    generator.fit(volumes, seed=0, progress=False)
    assert generator.sample(4, label="square", seed=0).shape == (4, 4, 8, 8)


def test_clear_errors(fitted) -> None:
    with pytest.raises(JumeauError, match="no model for label"):
        fitted.sample(2, label="triangle")
    with pytest.raises(JumeauError, match="positive whole number"):
        fitted.sample(0, label="disk")
    with pytest.raises(JumeauError, match="unknown image model"):
        ImageGenerator("gan")
    with pytest.raises(JumeauError, match="invalid parameter"):
        ImageGenerator("vae", latent_dim=0)
    with pytest.raises(NotFittedError):
        ImageGenerator("vae").sample(1, label="disk")
    with pytest.raises(JumeauError, match="fewer than"):
        ImageGenerator("vae").fit(shapes(n_per_class=4))


def test_cli_fits_and_samples_images(tmp_path) -> None:
    from typer.testing import CliRunner

    from jumeau.cli import app

    folder, labels = image_folder(tmp_path, shapes(n_per_class=12))
    runner = CliRunner(env={"COLUMNS": "200"})
    model = tmp_path / "m.jumeau"
    fit = runner.invoke(app, ["images", "fit", str(folder), "--labels", str(labels), "--model",
                              "vae", "-o", str(model), "--quiet", "-p", "epochs=2", "-p",
                              "latent_dim=3"])  # fmt: skip
    assert fit.exit_code == 0, fit.output
    out = tmp_path / "out"
    sampled = runner.invoke(app, ["images", "sample", str(model), "-n", "4", "--label", "disk",
                                  "-o", str(out)])  # fmt: skip
    assert sampled.exit_code == 0, sampled.output
    assert len(list(out.glob("*.png"))) == 4 and (out / "provenance.json").is_file()
    filtered = tmp_path / "filtered"
    checked = runner.invoke(app, ["images", "sample", str(model), "-n", "4", "--label", "disk",
                                  "--real", str(folder), "--labels", str(labels), "-o",
                                  str(filtered)])  # fmt: skip
    assert checked.exit_code == 0, checked.output
    record = json.loads((filtered / "provenance.json").read_text())
    assert record["similarity_filter"]["applied"] and record["n"] == 4
    removed = record["similarity_filter"]["n_removed"]
    said = "passed the memorisation filter" if removed == 0 else f"filter removed {removed}"
    assert said in " ".join(checked.output.split())
    missing = runner.invoke(app, ["images", "fit", str(folder), "-o", str(model)])
    assert missing.exit_code != 0 and "--labels" in missing.output


def test_cli_evaluate_writes_the_augmentation_report(tmp_path) -> None:
    from typer.testing import CliRunner

    from jumeau.cli import app

    folder, labels = image_folder(tmp_path, shapes(n_per_class=20))
    runner = CliRunner(env={"COLUMNS": "200"})
    out = tmp_path / "report"
    result = runner.invoke(app, ["images", "evaluate", str(folder), "--labels", str(labels),
                                 "--models", "vae", "--ks", "1", "--seeds", "1", "--small", "0",
                                 "--max-epochs", "3", "-p", "vae.epochs=2", "-p",
                                 "vae.latent_dim=3", "--quiet", "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    assert "real + vae" in html and "data:image/png;base64" in html
    assert "Real training images" not in html  # real images only on request
    payload = (out / "report.json").read_text()
    assert '"condition": "real + classic"' in payload or "real + classic" in payload
    bad = runner.invoke(app, ["images", "evaluate", str(folder), "--labels", str(labels),
                              "-p", "epochs=2", "-o", str(out)])  # fmt: skip
    assert bad.exit_code != 0 and "model.key=value" in bad.output


def test_training_device_is_resolved_with_clear_errors(monkeypatch) -> None:
    import torch

    from jumeau.images.models import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"
    with pytest.raises(JumeauError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(JumeauError, match="no CUDA GPU"):
        ImageGenerator("vae", device="cuda")  # refused before any data is loaded
    with pytest.raises(JumeauError, match="device must be one of"):
        ImageGenerator("vae", device="tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"


def test_the_fitted_model_lives_on_the_cpu_whatever_trained_it(fitted) -> None:
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    for model in fitted.models_.values():
        assert model.device_ == expected
        assert {p.device.type for p in model.module_.parameters()} == {"cpu"}
        assert model.centroids_.device.type == "cpu" and model.matrices_.device.type == "cpu"


def test_cpu_training_is_what_auto_does_without_a_gpu(monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    small = shapes(n_per_class=10, size=8)
    settings = {"epochs": 2, "latent_dim": 3, "hidden_dim": 16}
    auto = ImageGenerator("vae", **settings).fit(small, seed=0, progress=False)
    cpu = ImageGenerator("vae", device="cpu", **settings).fit(small, seed=0, progress=False)
    assert np.array_equal(auto.sample(3, label="disk", seed=0), cpu.sample(3, label="disk", seed=0))


@pytest.mark.skipif(
    not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU (none on this machine)"
)
def test_training_on_a_gpu_gives_a_cpu_model_that_samples_and_saves(tmp_path) -> None:
    generator = ImageGenerator("rhvae", device="cuda", **QUICK)
    generator.fit(shapes(n_per_class=12), seed=0, progress=False)
    images = generator.sample(4, label="disk", seed=0)
    assert images.shape == (4, 12, 12) and np.isfinite(images).all()
    loaded = load_image_generator(generator.save(tmp_path / "gpu.jumeau"))
    assert np.array_equal(loaded.sample(4, label="disk", seed=0), images)
