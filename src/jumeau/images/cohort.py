"""`ImageCohort`: the images of a cohort, their labels, voxel spacing and ids, checked once.

Images are held as float32 in [0, 1] (intensities rescaled per cohort when loaded), shape
(n, H, W) for 2D or (n, D, H, W) for 3D. Ids are the file stems or positions — never identifiers
read from DICOM headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from jumeau.errors import DataError

MIN_IMAGES_PER_CLASS = 10


@dataclass(frozen=True)
class ImageCohort:
    images: np.ndarray  # float32, (n, H, W) or (n, D, H, W), values in [0, 1]
    labels: np.ndarray  # str labels, (n,)
    ids: np.ndarray  # str ids, (n,)
    spacing: tuple[float, ...] = ()  # physical size of a pixel/voxel per axis (1.0 when unknown)
    source: str = "<images>"

    def __post_init__(self) -> None:
        images = np.asarray(self.images)
        if images.ndim not in (3, 4):
            raise DataError(
                f"{self.source}: images must be 2D or 3D (array of shape (n, H, W) or "
                f"(n, D, H, W)), got shape {images.shape}"
            )
        if images.shape[0] == 0:
            raise DataError(f"{self.source}: no image")
        if not np.issubdtype(images.dtype, np.floating):
            raise DataError(f"{self.source}: images must be floats in [0, 1]; use from_uint8")
        if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
            raise DataError(f"{self.source}: image values must be finite and within [0, 1]")
        n = images.shape[0]
        for name in ("labels", "ids"):
            values = np.asarray(getattr(self, name))
            if values.shape != (n,):
                raise DataError(f"{self.source}: {n} images but {values.shape} {name}")
        if len(set(np.asarray(self.ids).tolist())) != n:
            raise DataError(f"{self.source}: image ids must be unique")
        spacing = tuple(float(s) for s in self.spacing) or (1.0,) * (images.ndim - 1)
        if len(spacing) != images.ndim - 1 or min(spacing) <= 0:
            raise DataError(f"{self.source}: spacing needs one positive value per image axis")
        object.__setattr__(self, "images", images.astype(np.float32, copy=False))
        object.__setattr__(self, "labels", np.asarray(self.labels).astype(str).astype(object))
        object.__setattr__(self, "ids", np.asarray(self.ids).astype(str).astype(object))
        object.__setattr__(self, "spacing", spacing)

    @classmethod
    def from_uint8(
        cls,
        images: np.ndarray,
        labels: Sequence[object] | np.ndarray,
        *,
        ids: Sequence[object] | np.ndarray | None = None,
        source: str = "<images>",
    ) -> ImageCohort:
        """8-bit grey levels (0–255) as [0, 1] floats."""
        array = np.asarray(images)
        if array.dtype != np.uint8:
            raise DataError(f"{source}: expected uint8 grey levels, got {array.dtype}")
        names = np.arange(len(array)).astype(str) if ids is None else np.asarray(ids)
        return cls(array.astype(np.float32) / 255.0, np.asarray(labels), names, source=source)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        counts = ", ".join(f"{c}: {int((self.labels == c).sum())}" for c in self.classes)
        return f"ImageCohort({len(self)} images {self.shape}, {counts})"

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one image: (H, W) or (D, H, W)."""
        return tuple(int(s) for s in self.images.shape[1:])

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels.tolist()))

    def subset(self, positions: Sequence[int] | np.ndarray) -> ImageCohort:
        rows = np.asarray(positions, dtype=np.int64)
        return ImageCohort(
            self.images[rows], self.labels[rows], self.ids[rows], self.spacing, self.source
        )

    def of_label(self, label: str) -> ImageCohort:
        """The images of one class (a clear error for an unknown label)."""
        chosen = np.flatnonzero(self.labels == str(label))
        if chosen.size == 0:
            raise DataError(f"{self.source}: no image labelled {label!r}; labels: {self.classes}")
        return self.subset(chosen)

    def require_trainable(self) -> None:
        small = [c for c in self.classes if (self.labels == c).sum() < MIN_IMAGES_PER_CLASS]
        if small:
            raise DataError(
                f"{self.source}: class(es) {small} have fewer than {MIN_IMAGES_PER_CLASS} images; "
                "a generator would memorise them"
            )
