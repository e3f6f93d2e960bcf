"""Fidelity and memorisation of artificial images, without downloaded weights.

Fidelity is measured in the feature space of a CNN trained on the *real* training images (the
penultimate layer of `TrainedClassifier.features`), not Inception features pretrained on
photographs, which would need a download and know nothing of ultrasound or CT:

- Fréchet distance between the real and artificial feature distributions (the FID formula,
  Heusel et al. 2017, on these features);
- k-NN precision and recall (Kynkäänniemi et al. 2019): precision is the share of artificial
  images that fall inside the real feature manifold (the union of balls around each real image
  reaching its k-th nearest real neighbour), recall the share of real images inside the
  artificial manifold;
- per-class pixel statistics: mean and standard deviation of intensities, and the mean absolute
  difference between the real and artificial mean images.

Memorisation compares each artificial image's distance to the closest real *training* image with
the same distance for real images that were never used for training (validation/test): an
artificial image closer to a training image than nearly every independent real image comes is a
likely near-copy. `filter_memorised` removes those with the tabular similarity filter's rule
(`jumeau.evaluation.similarity`): below the `percentile`-th percentile of the holdout → train
distances, and exact copies always. Distances are pixel L2 distances divided by √(number of
pixels), i.e. root-mean-square intensity differences in [0, 1]. (SSIM is not computed:
scikit-image is not a dependency.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.linalg import eigh
from scipy.spatial.distance import cdist

from jumeau.errors import DataError, JumeauError
from jumeau.evaluation.similarity import DEFAULT_PERCENTILE, too_close
from jumeau.images.cohort import ImageCohort

if TYPE_CHECKING:
    from jumeau.images.classifier import TrainedClassifier

DEFAULT_K = 3
CHUNK = 1024

Images = ImageCohort | np.ndarray


def _array(images: Images) -> np.ndarray:
    return images.images if isinstance(images, ImageCohort) else np.asarray(images)


def _matrix(features: np.ndarray, name: str) -> np.ndarray:
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2:
        raise DataError(f"{name} features must be a matrix (n, d), got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise DataError(f"{name} features contain non-finite values")
    return matrix


# ---------------------------------------------------------------------- feature-space fidelity
def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(real_features: np.ndarray, artificial_features: np.ndarray) -> float:
    """‖μ_r − μ_a‖² + tr(Σ_r + Σ_a − 2 (Σ_r Σ_a)^½) between Gaussian fits of two feature sets.

    The trace of the matrix square root is computed as tr((Σ_r^½ Σ_a Σ_r^½)^½), which is equal
    but symmetric positive semi-definite: no complex parts from `sqrtm` round-off, and singular
    covariances (fewer images than features, dead units) are exact rather than regularised.
    """
    real = _matrix(real_features, "real")
    artificial = _matrix(artificial_features, "artificial")
    if real.shape[1] != artificial.shape[1]:
        raise DataError(f"feature widths differ: {real.shape[1]} vs {artificial.shape[1]}")
    if len(real) < 2 or len(artificial) < 2:
        raise DataError("the Fréchet distance needs at least two images on each side")
    mean_gap = real.mean(axis=0) - artificial.mean(axis=0)
    cov_real = np.atleast_2d(np.cov(real, rowvar=False))
    cov_artificial = np.atleast_2d(np.cov(artificial, rowvar=False))
    root_real = _psd_sqrt(cov_real)
    middle = root_real @ cov_artificial @ root_real
    cross = np.sqrt(np.clip(eigh((middle + middle.T) / 2, eigvals_only=True), 0.0, None)).sum()
    distance = mean_gap @ mean_gap + np.trace(cov_real) + np.trace(cov_artificial) - 2 * cross
    return max(float(distance), 0.0)


def _kth_neighbour_radii(points: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest *other* point."""
    radii = np.empty(len(points))
    for start in range(0, len(points), CHUNK):
        block = cdist(points[start : start + CHUNK], points)
        # Position 0 of each sorted row is the point itself (distance 0).
        radii[start : start + CHUNK] = np.partition(block, k, axis=1)[:, k]
    return radii


def _inside_manifold(queries: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    inside = np.empty(len(queries), dtype=bool)
    for start in range(0, len(queries), CHUNK):
        block = cdist(queries[start : start + CHUNK], centres)
        inside[start : start + CHUNK] = (block <= radii[None, :]).any(axis=1)
    return inside


def precision_recall(
    real_features: np.ndarray, artificial_features: np.ndarray, *, k: int = DEFAULT_K
) -> tuple[float, float]:
    """k-NN precision and recall (Kynkäänniemi et al. 2019): (share of artificial images inside
    the real manifold, share of real images inside the artificial manifold)."""
    real = _matrix(real_features, "real")
    artificial = _matrix(artificial_features, "artificial")
    if real.shape[1] != artificial.shape[1]:
        raise DataError(f"feature widths differ: {real.shape[1]} vs {artificial.shape[1]}")
    if k < 1 or min(len(real), len(artificial)) <= k:
        raise DataError(f"k-NN precision/recall with k={k} needs more than {k} images per side")
    precision = _inside_manifold(artificial, real, _kth_neighbour_radii(real, k)).mean()
    recall = _inside_manifold(real, artificial, _kth_neighbour_radii(artificial, k)).mean()
    return float(precision), float(recall)


def pixel_statistics(real: ImageCohort, artificial: ImageCohort) -> dict[str, dict[str, float]]:
    """Per class (present on both sides): mean and sd of pixel intensities, real and artificial,
    and the mean absolute difference between the two mean images."""
    if real.shape != artificial.shape:
        raise DataError(f"real images are {real.shape} but artificial images {artificial.shape}")
    result: dict[str, dict[str, float]] = {}
    for label in sorted(set(real.classes) & set(artificial.classes)):
        r = real.images[real.labels == label].astype(np.float64)
        a = artificial.images[artificial.labels == label].astype(np.float64)
        result[label] = {
            "n_real": len(r),
            "n_artificial": len(a),
            "real_mean": float(r.mean()),
            "artificial_mean": float(a.mean()),
            "real_sd": float(r.std()),
            "artificial_sd": float(a.std()),
            "mean_image_difference": float(np.abs(r.mean(axis=0) - a.mean(axis=0)).mean()),
        }
    return result


def image_fidelity(
    classifier: TrainedClassifier,
    real: ImageCohort,
    artificial: ImageCohort,
    *,
    k: int = DEFAULT_K,
) -> dict[str, object]:
    """Fréchet distance and k-NN precision/recall in the features of `classifier` (a CNN trained
    on the real training images), overall and per class, with per-class pixel statistics.
    Per-class values are NaN for a class with too few images on either side."""
    real_features = classifier.features(real)
    artificial_features = classifier.features(artificial)
    precision, recall = precision_recall(real_features, artificial_features, k=k)
    per_class: dict[str, dict[str, float]] = {}
    pixels = pixel_statistics(real, artificial)
    for label, stats in pixels.items():
        r = real_features[real.labels == label]
        a = artificial_features[artificial.labels == label]
        entry: dict[str, float] = {"frechet_distance": math.nan, "precision": math.nan}
        entry["recall"] = math.nan
        if min(len(r), len(a)) > k:
            entry["frechet_distance"] = frechet_distance(r, a)
            entry["precision"], entry["recall"] = precision_recall(r, a, k=k)
        per_class[label] = {**entry, **stats}
    return {
        "frechet_distance": frechet_distance(real_features, artificial_features),
        "precision": precision,
        "recall": recall,
        "k": k,
        "n_real": len(real),
        "n_artificial": len(artificial),
        "per_class": per_class,
    }


# ---------------------------------------------------------------------- memorisation
def closest_distances(images: Images, train: Images) -> tuple[np.ndarray, np.ndarray]:
    """For each image, the root-mean-square pixel difference to the closest training image, and
    that training image's position. Exact copies get exactly 0."""
    queries = _array(images).reshape(len(_array(images)), -1).astype(np.float64)
    reference = _array(train).reshape(len(_array(train)), -1).astype(np.float64)
    if queries.shape[1] != reference.shape[1]:
        raise DataError(
            f"images of {queries.shape[1]} pixels cannot be compared with training images of "
            f"{reference.shape[1]}"
        )
    if len(reference) == 0:
        raise DataError("no training image to compare with")
    squared_reference = (reference**2).sum(axis=1)
    distances = np.empty(len(queries))
    positions = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), CHUNK):
        block = queries[start : start + CHUNK]
        squared = (block**2).sum(axis=1)[:, None] + squared_reference[None, :]
        nearest = np.argmin(squared - 2 * block @ reference.T, axis=1)
        # Recompute the winner's distance directly: the expansion above is not exact at 0.
        exact = np.sqrt(((block - reference[nearest]) ** 2).mean(axis=1))
        distances[start : start + CHUNK] = exact
        positions[start : start + CHUNK] = nearest
    return distances, positions


@dataclass(frozen=True)
class MemorisationFilter:
    """What the memorisation filter kept and why."""

    kept: np.ndarray  # the kept artificial images
    kept_positions: np.ndarray  # their positions in the input (to subset labels or a cohort)
    threshold: float  # RMS distance: artificial images closer than this were removed
    percentile: float  # of the holdout → train distances that set the threshold
    n_input: int
    n_removed: int
    n_exact_copies: int  # among the removed
    to_train: np.ndarray  # each artificial image's distance to the closest training image
    holdout_to_train: np.ndarray  # the same for each holdout image

    @property
    def pass_rate(self) -> float:
        """Share of artificial images kept (1.0 for an empty input)."""
        return 1.0 - self.n_removed / self.n_input if self.n_input else 1.0

    def to_dict(self) -> dict[str, float | int]:
        def median(values: np.ndarray) -> float:
            return float(np.median(values)) if len(values) else math.nan

        return {
            "threshold": self.threshold,
            "percentile": self.percentile,
            "n_input": self.n_input,
            "n_removed": self.n_removed,
            "n_exact_copies": self.n_exact_copies,
            "pass_rate": self.pass_rate,
            "median_artificial_to_train": median(self.to_train),
            "median_holdout_to_train": median(self.holdout_to_train),
        }


def filter_memorised(
    artificial_images: Images,
    train: Images,
    holdout: Images,
    percentile: float = DEFAULT_PERCENTILE,
) -> MemorisationFilter:
    """Remove artificial images closer to a training image than the `percentile`-th percentile
    (0–100) of the holdout images' distances to the training set; exact copies are always
    removed. The holdout (validation or test images) must not have been used for training, the
    generator's or the classifier's."""
    artificial = _array(artificial_images)
    if len(_array(holdout)) == 0:
        raise JumeauError("the memorisation filter needs holdout images to set its threshold")
    holdout_to_train, _ = closest_distances(holdout, train)
    to_train = closest_distances(artificial, train)[0] if len(artificial) else np.zeros(0)
    removed, copies, threshold = too_close(
        to_train, holdout_to_train, percentile=percentile, what="images"
    )
    kept_positions = np.flatnonzero(~removed)
    return MemorisationFilter(
        kept=artificial[kept_positions],
        kept_positions=kept_positions,
        threshold=threshold,
        percentile=percentile,
        n_input=len(artificial),
        n_removed=int(removed.sum()),
        n_exact_copies=int(copies.sum()),
        to_train=to_train,
        holdout_to_train=holdout_to_train,
    )
