"""Image VAE and RHVAE, one per class (as in Chadebec et al.'s augmentation experiments).

`ImageVAE` and `ImageRHVAE` *are* jumeau's tabular `VAE` and `RHVAE` with three hooks changed
(`_make_likelihood`, `_make_module`, `_default_latent_dim`): the training loop with early
stopping, the RHVAE's generalised-leapfrog flow, its metric and the geometry-aware HMC sampler are
the same code. Images enter as rows of pixels; the convolutional modules reshape inside.

`ImageGenerator` fits one such model per class and answers `sample(n, label=...)`.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field

from jumeau.errors import JumeauError
from jumeau.generators.base import NotFittedError, check_seed
from jumeau.generators.neural.likelihood import Likelihood
from jumeau.generators.persistence import (
    FILE_FORMAT,
    FILE_FORMAT_VERSION,
    ModelFileError,
    arrays_sha256,
    damaged,
    read_model_file,
    versions,
    write_model_file,
)
from jumeau.generators.rhvae.config import RHVAEConfig
from jumeau.generators.rhvae.model import RHVAE
from jumeau.generators.vae.model import VAE
from jumeau.images.cohort import ImageCohort
from jumeau.images.networks import ConvRHVAEModule, ConvVAEModule, PixelLikelihood

DEFAULT_LATENT = 16
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """The torch device that trains the image models: "auto" takes a CUDA GPU when one is
    present (3D volumes and large images are impractical on a CPU), the CPU otherwise."""
    if device not in DEVICES:
        raise JumeauError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise JumeauError(
            "device 'cuda' was asked for, but this torch sees no CUDA GPU "
            f"(torch {torch.__version__}); use device 'auto' or 'cpu'"
        )
    return device


class _ImageHooks:
    """What makes a VAE an image VAE (mixed in before VAE/RHVAE)."""

    shape_: tuple[int, ...]
    latent_dim_: int
    hidden_dim_: int

    def _make_likelihood(self) -> Likelihood:
        return PixelLikelihood(math.prod(self.shape_))

    def _default_latent_dim(self) -> int:
        return DEFAULT_LATENT

    def _data_width(self) -> int:
        return math.prod(self.shape_)

    def fit_images(
        self, images: np.ndarray, *, seed: int = 0, progress: bool = True, device: str = "cpu"
    ) -> Any:
        """Fit on an array of images (n, H, W) or (n, D, H, W) in [0, 1]; training runs on
        `device` (see `resolve_device`), the fitted model is kept on the CPU. The same seed gives
        the same model on the same device; a GPU's floating-point order differs from a CPU's."""
        seed = check_seed(seed)
        array = np.ascontiguousarray(images, dtype=np.float32)
        self.shape_ = tuple(int(s) for s in array.shape[1:])
        rows = array.reshape(len(array), -1)
        self.device_ = resolve_device(device)
        self._fit_matrix(rows, np.ones_like(rows), seed=seed, progress=progress,  # type: ignore[attr-defined]
                         device=self.device_)  # fmt: skip
        self.seed_ = seed
        self.training_rows_ = len(array)
        self.training_sha256_ = hashlib.sha256(array.tobytes()).hexdigest()
        return self

    @torch.no_grad()
    def sample_images(self, n: int, *, seed: int, sampler: str | None = None) -> np.ndarray:
        """n images (decoder means) with latent codes from the model's sampler."""
        generator = torch.Generator().manual_seed(check_seed(seed))
        if sampler is not None:
            self._active_sampler = sampler
        try:
            z = self._latent_samples(n, generator)  # type: ignore[attr-defined]
        finally:
            if sampler is not None:
                del self._active_sampler
        pixels = torch.sigmoid(self.module_.decode(z))  # type: ignore[attr-defined]
        return pixels.numpy().reshape(n, *self.shape_)


class ImageVAE(_ImageHooks, VAE):
    name: ClassVar[str] = "image_vae"

    def _make_module(self, width: int) -> ConvVAEModule:  # type: ignore[override]
        return ConvVAEModule(self.shape_, self.latent_dim_, self.hidden_dim_)


class ImageRHVAEConfig(RHVAEConfig):
    """The tabular RHVAE's settings, but the sampler's λ floor stays at training's 0.01: the
    tabular default (1.0, the prior's identity metric) was measured on tables only, and the
    images benchmark (benchmarks/results/images.txt) was measured with 0.01."""

    sampling_floor: float = Field(default=0.01, gt=0)


class ImageRHVAE(_ImageHooks, RHVAE):
    name: ClassVar[str] = "image_rhvae"
    config_class = ImageRHVAEConfig
    config: ImageRHVAEConfig

    def _make_module(self, width: int) -> ConvRHVAEModule:  # type: ignore[override]
        return ConvRHVAEModule(self.shape_, self.latent_dim_, self.hidden_dim_)


MODELS: dict[str, type[ImageVAE] | type[ImageRHVAE]] = {"vae": ImageVAE, "rhvae": ImageRHVAE}


class ImageGenerator:
    """One image model per class: `fit(cohort)`, then `sample(n, label=...)`."""

    name: ClassVar[str] = "image_generator"

    def __init__(self, model: str = "rhvae", *, device: str = "auto", **params: Any) -> None:
        if model not in MODELS:
            raise JumeauError(f"unknown image model {model!r}; available: {', '.join(MODELS)}")
        resolve_device(device)  # an unknown or absent device fails here, not after loading data
        self.model = model
        self.device = device
        self.params = params
        MODELS[model](**params)  # invalid parameters fail here, not after a long fit

    def fit(self, cohort: ImageCohort, *, seed: int = 0, progress: bool = True) -> ImageGenerator:
        if not isinstance(cohort, ImageCohort):
            raise JumeauError(f"expected an ImageCohort, got {type(cohort).__name__}")
        cohort.require_trainable()
        seed = check_seed(seed)
        self.models_: dict[str, ImageVAE | ImageRHVAE] = {}
        for index, label in enumerate(cohort.classes):
            model = MODELS[self.model](**self.params)
            images = cohort.of_label(label).images
            self.models_[label] = model.fit_images(
                images, seed=seed + index, progress=progress, device=self.device
            )
        self.shape_, self.spacing_, self.seed_ = cohort.shape, cohort.spacing, seed
        return self

    @property
    def classes(self) -> list[str]:
        self._check_fitted()
        return list(self.models_)

    def sample(
        self, n: int, *, label: str, seed: int | None = None, sampler: str | None = None
    ) -> np.ndarray:
        """n artificial images of class `label`, float32 in [0, 1]."""
        self._check_fitted()
        if label not in self.models_:
            raise JumeauError(f"no model for label {label!r}; labels: {self.classes}")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise JumeauError(f"n must be a positive whole number of images, not {n!r}")
        seed = secrets.randbits(32) if seed is None else check_seed(seed)
        return self.models_[label].sample_images(int(n), seed=seed, sampler=sampler)

    def sample_cohort(self, counts: dict[str, int], *, seed: int = 0) -> ImageCohort:
        """An artificial ImageCohort with `counts[label]` images of each label."""
        parts, labels, ids = [], [], []
        for index, (label, n) in enumerate(counts.items()):
            parts.append(self.sample(n, label=label, seed=seed + index))
            labels += [label] * n
            ids += [f"artificial-{label}-{i + 1:05d}" for i in range(n)]
        return ImageCohort(np.concatenate(parts), np.array(labels), np.array(ids),
                           self.spacing_, source=f"jumeau:{self.name}:seed={seed}")  # fmt: skip

    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise NotFittedError("this image generator is not fitted yet; call fit(cohort)")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """One safetensors file, every class's weights inside; JSON header; never pickle.
        An RHVAE keeps each training image's latent code and metric factor (not the images):
        treat the file with the care due to the training data."""
        self._check_fitted()
        arrays: dict[str, np.ndarray] = {}
        classes = {}
        for index, (label, model) in enumerate(self.models_.items()):
            meta, model_arrays = model._state()
            arrays |= {f"class{index}.{k}": v for k, v in model_arrays.items()}
            classes[label] = {"index": index, "state": meta, "seed": model.seed_,
                              "images": model.training_rows_,
                              "sha256": model.training_sha256_}  # fmt: skip
        header = {
            "model": f"image_{self.model}",
            "config": self.params,
            "shape": list(self.shape_),
            "spacing": list(self.spacing_),
            "seed": self.seed_,
            "classes": classes,
            "versions": versions(),
            "weights_sha256": arrays_sha256(arrays),
        }
        return write_model_file(Path(path), arrays, header, FILE_FORMAT, FILE_FORMAT_VERSION)


def load_image_generator(path: str | Path) -> ImageGenerator:
    """An image generator written by `ImageGenerator.save` (clear error for any bad file)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    text, arrays = read_model_file(path)
    try:
        header = json.loads(text)
        kind = str(header.get("model", ""))
        if not kind.startswith("image_"):
            raise ModelFileError(f"{path}: a {kind!r} model, not an image model")
        if header.get("weights_sha256") != arrays_sha256(arrays):
            raise ModelFileError(f"{path}: the weights do not match their checksum (corrupted)")
        generator = ImageGenerator(kind.removeprefix("image_"), **header["config"])
        generator.shape_ = tuple(header["shape"])
        generator.spacing_ = tuple(header["spacing"])
        generator.seed_ = header["seed"]
        generator.models_ = {}
        for label, entry in header["classes"].items():
            model = MODELS[generator.model](**header["config"])
            model.shape_ = generator.shape_
            prefix = f"class{entry['index']}."
            own = {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
            model._load_state(entry["state"], own)
            model.seed_, model.training_rows_ = entry["seed"], entry["images"]
            model.training_sha256_ = entry["sha256"]
            generator.models_[label] = model
    except ModelFileError:
        raise
    except (JumeauError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise damaged(path, exc) from None
    return generator
