"""Classic augmentation: the baseline a generator must beat.

Each copy of an image gets a random left–right flip, a small in-plane rotation (±15°), a small
translation (±10 % of the image size), a Simard-style elastic deformation (Simard et al. 2003:
uniform random displacements smoothed by a Gaussian and scaled) and an intensity jitter
(contrast × brightness). The geometric transforms are composed into one displacement of the
sampling grid and applied with a single linear interpolation (`scipy.ndimage.map_coordinates`,
reflecting at the borders), which blurs less than rotating, shifting and warping in turn. 3D
volumes (D, H, W) rotate in the (H, W) plane and deform along all three axes. No torchvision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

from jumeau.errors import JumeauError
from jumeau.images.cohort import ImageCohort

MAX_ROTATION = 15.0  # degrees, in the (H, W) plane
MAX_SHIFT = 0.1  # share of each axis
# Simard et al. used alpha = 34 and sigma = 4 pixels on 28 × 28 digits; we scale both by each
# axis's size so that a deformation looks the same at any resolution.
ELASTIC_ALPHA = 34 / 28
ELASTIC_SIGMA = 4 / 28
CONTRAST = 0.1  # gain drawn in [1 - CONTRAST, 1 + CONTRAST]
BRIGHTNESS = 0.05  # offset drawn in [-BRIGHTNESS, BRIGHTNESS]


def augment_image(
    image: np.ndarray,
    rng: np.random.Generator,
    *,
    flip_axes: Sequence[int] = (-1,),
    max_rotation: float = MAX_ROTATION,
    max_shift: float = MAX_SHIFT,
    elastic_alpha: float = ELASTIC_ALPHA,
    elastic_sigma: float = ELASTIC_SIGMA,
    contrast: float = CONTRAST,
    brightness: float = BRIGHTNESS,
) -> np.ndarray:
    """One randomly augmented copy of a 2D (H, W) or 3D (D, H, W) image, values in [0, 1]."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim not in (2, 3):
        raise JumeauError(f"classic augmentation handles 2D or 3D images, not shape {image.shape}")
    for axis in flip_axes:
        if rng.random() < 0.5:
            image = np.flip(image, axis=axis)
    shape = np.array(image.shape, dtype=np.float64)
    centre = (shape - 1) / 2
    grid = np.stack(
        np.meshgrid(*[np.arange(s, dtype=np.float64) for s in image.shape], indexing="ij")
    )

    # Output pixel p samples the input at R (p - c) + c - t (+ elastic displacement).
    angle = np.deg2rad(rng.uniform(-max_rotation, max_rotation))
    rotation = np.eye(image.ndim)
    cos, sin = np.cos(angle), np.sin(angle)
    rotation[-2:, -2:] = [[cos, -sin], [sin, cos]]
    shift = rng.uniform(-max_shift, max_shift, size=image.ndim) * shape
    if image.ndim == 3:
        shift[0] = 0.0  # no shift across slices: thin volumes would lose their edge slices
    axes = (-1, *([1] * image.ndim))
    relative = (grid - centre.reshape(axes)).reshape(image.ndim, -1)
    coords = (rotation @ relative).reshape(grid.shape) + (centre - shift).reshape(axes)

    if elastic_alpha > 0 and elastic_sigma > 0:
        for axis in range(image.ndim):
            noise = rng.uniform(-1.0, 1.0, size=image.shape)
            smooth = gaussian_filter(noise, sigma=elastic_sigma * shape, mode="constant")
            coords[axis] += smooth * elastic_alpha * shape[axis]

    warped = map_coordinates(image, coords, order=1, mode="reflect")
    gain = rng.uniform(1 - contrast, 1 + contrast)
    offset = rng.uniform(-brightness, brightness)
    return np.clip(warped * gain + offset, 0.0, 1.0).astype(np.float32)


def classic_augment(
    cohort: ImageCohort,
    k: int,
    *,
    seed: int,
    flip_axes: Sequence[int] = (-1,),
    max_rotation: float = MAX_ROTATION,
    max_shift: float = MAX_SHIFT,
    elastic_alpha: float = ELASTIC_ALPHA,
    elastic_sigma: float = ELASTIC_SIGMA,
    contrast: float = CONTRAST,
    brightness: float = BRIGHTNESS,
) -> ImageCohort:
    """`k` augmented copies of every image (the originals are not included), with the labels of
    their originals and ids "aug-<copy>-<original id>"; image-major order (all copies of the
    first image, then of the second, …). Deterministic for a seed."""
    if k < 1:
        raise JumeauError(f"classic augmentation needs k ≥ 1 copies per image, not {k}")
    rng = np.random.default_rng(seed)
    images = np.empty((len(cohort) * k, *cohort.shape), dtype=np.float32)
    for i, image in enumerate(cohort.images):
        for j in range(k):
            images[i * k + j] = augment_image(
                image,
                rng,
                flip_axes=flip_axes,
                max_rotation=max_rotation,
                max_shift=max_shift,
                elastic_alpha=elastic_alpha,
                elastic_sigma=elastic_sigma,
                contrast=contrast,
                brightness=brightness,
            )
    ids = [f"aug-{j}-{name}" for name in cohort.ids for j in range(k)]
    return ImageCohort(
        images,
        np.repeat(cohort.labels, k),
        np.asarray(ids),
        cohort.spacing,
        source=f"{cohort.source} (classic augmentation ×{k})",
    )
