"""The small CNN that every condition of the augmentation study trains, and its scores.

One architecture for all conditions (real only, real + artificial, artificial only, classic
augmentation) so that differences come from the training images alone: three convolution blocks
(3×3 convolution, batch norm, ReLU, 2× max-pool), global average pooling, dropout and a linear
layer. 3D images (D, H, W) get the same network with 3D convolutions.

The training epoch is chosen on the *real* validation split — best validation balanced accuracy,
ties broken by the lower (class-balanced) validation loss — and those weights are kept. The loss
is weighted by the inverse class frequencies of the training set, so an imbalanced cohort (or an
artificial set that tilts the balance) does not simply teach the majority class. Training is
deterministic for a seed on a given machine and thread count, and never disturbs the caller's
global torch random state.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sklearn.metrics import roc_auc_score
from torch import Tensor, nn

from jumeau.errors import DataError, JumeauError
from jumeau.images.cohort import ImageCohort

CHANNELS_2D = (16, 32, 64)
CHANNELS_3D = (8, 16, 32)
DROPOUT = 0.3
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-4
INFERENCE_BATCH = 256


class ImageCNN(nn.Module):
    """Conv blocks (conv, batch norm, ReLU, max-pool) → global average pool → dropout → linear."""

    def __init__(
        self,
        n_classes: int,
        *,
        dims: int = 2,
        channels: Sequence[int] | None = None,
        dropout: float = DROPOUT,
    ) -> None:
        super().__init__()
        if dims not in (2, 3):
            raise JumeauError(f"the image classifier handles 2D or 3D images, not {dims}D")
        conv: type[nn.Conv2d] | type[nn.Conv3d] = nn.Conv2d if dims == 2 else nn.Conv3d
        norm: type[nn.BatchNorm2d] | type[nn.BatchNorm3d] = (
            nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d
        )
        pool: type[nn.MaxPool2d] | type[nn.MaxPool3d] = nn.MaxPool2d if dims == 2 else nn.MaxPool3d
        average: type[nn.AdaptiveAvgPool2d] | type[nn.AdaptiveAvgPool3d] = (
            nn.AdaptiveAvgPool2d if dims == 2 else nn.AdaptiveAvgPool3d
        )
        widths = list(channels or (CHANNELS_2D if dims == 2 else CHANNELS_3D))
        blocks: list[nn.Module] = []
        previous = 1
        for width in widths:
            # ceil_mode: an axis already down to one pixel (thin 3D volumes) stays at one.
            blocks += [
                conv(previous, width, kernel_size=3, padding=1, bias=False),
                norm(width),
                nn.ReLU(inplace=True),
                pool(kernel_size=2, ceil_mode=True),
            ]
            previous = width
        self.dims = dims
        self.body = nn.Sequential(*blocks, average(1), nn.Flatten())
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(previous, n_classes)
        self.n_features = previous

    def features(self, x: Tensor) -> Tensor:
        """Penultimate layer: the globally pooled activations of the last block."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.features(x)))


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float  # class-balanced cross-entropy on the real validation split
    val_balanced_accuracy: float


@dataclass
class TrainedClassifier:
    """A trained `ImageCNN` with its classes (sorted) and the epoch chosen on real validation."""

    module: ImageCNN
    classes: list[str]
    image_shape: tuple[int, ...]
    seed: int
    n_train: int
    best_epoch: int  # 0-based
    stopped_early: bool
    history: list[EpochRecord] = field(default_factory=list)

    @property
    def val_balanced_accuracy(self) -> float:
        return self.history[self.best_epoch].val_balanced_accuracy

    def _batches(self, images: ImageCohort | np.ndarray) -> Iterator[Tensor]:
        array = images.images if isinstance(images, ImageCohort) else np.asarray(images)
        if tuple(array.shape[1:]) != self.image_shape:
            raise DataError(
                f"the classifier was trained on images of shape {self.image_shape}, "
                f"not {tuple(array.shape[1:])}"
            )
        x = torch.as_tensor(np.ascontiguousarray(array, dtype=np.float32)).unsqueeze(1)
        for start in range(0, len(x), INFERENCE_BATCH):
            yield x[start : start + INFERENCE_BATCH]

    def _evaluate(self, images: ImageCohort | np.ndarray, *, features: bool) -> np.ndarray:
        self.module.eval()
        outputs: list[Tensor] = []
        with torch.no_grad():
            for batch in self._batches(images):
                out = self.module.features(batch) if features else self.module(batch)
                outputs.append(out if features else torch.softmax(out, dim=1))
        width = self.module.n_features if features else len(self.classes)
        if not outputs:
            return np.zeros((0, width))
        return torch.cat(outputs).double().numpy()

    def predict_proba(self, images: ImageCohort | np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), columns in `classes` order."""
        return self._evaluate(images, features=False)

    def predict(self, images: ImageCohort | np.ndarray) -> np.ndarray:
        """The most probable class of each image (str labels)."""
        proba = self.predict_proba(images)
        return np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)]

    def features(self, images: ImageCohort | np.ndarray) -> np.ndarray:
        """Penultimate-layer features (n, n_features), e.g. for Fréchet distance and k-NN
        precision/recall."""
        return self._evaluate(images, features=True)


def class_weights(labels: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """Inverse-frequency loss weights, n / (n_classes · n_c): 1 for every class when balanced."""
    counts = np.array([(labels == c).sum() for c in classes], dtype=np.float64)
    if (counts == 0).any():
        missing = [c for c, n in zip(classes, counts, strict=True) if n == 0]
        raise DataError(f"no training image of class(es) {missing}")
    return counts.sum() / (len(classes) * counts)


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the classes present in `y_true` (scikit-learn's definition, without its
    warning when a prediction names a class absent from `y_true`)."""
    present = np.unique(y_true)
    if present.size == 0:
        return math.nan
    return float(np.mean([(y_pred[y_true == c] == c).mean() for c in present]))


def _balanced_loss(logits: Tensor, targets: Tensor) -> float:
    losses = nn.functional.cross_entropy(logits, targets, reduction="none")
    return float(torch.stack([losses[targets == c].mean() for c in targets.unique()]).mean())


def _label_indices(cohort: ImageCohort, classes: list[str], name: str) -> np.ndarray:
    unknown = sorted(set(cohort.classes) - set(classes))
    if unknown:
        raise DataError(f"{name} images have label(s) {unknown} outside the classes {classes}")
    position = {c: i for i, c in enumerate(classes)}
    return np.array([position[c] for c in cohort.labels], dtype=np.int64)


@contextlib.contextmanager
def _deterministic(seed: int, threads: int | None = None) -> Iterator[None]:
    """Seeded torch RNG, deterministic kernels and (optionally) a thread count, all restored
    afterwards."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        if threads is not None:
            torch.set_num_threads(max(1, int(threads)))
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous, warn_only=previous_warn)
            torch.set_num_threads(previous_threads)


def train_classifier(
    train: ImageCohort,
    val: ImageCohort,
    *,
    classes: Sequence[str] | None = None,
    seed: int = 0,
    max_epochs: int = 60,
    patience: int = 10,
    batch_size: int = 64,
    weights: Mapping[str, float] | None = None,
    learning_rate: float = LEARNING_RATE,
    weight_decay: float = WEIGHT_DECAY,
    channels: Sequence[int] | None = None,
    threads: int | None = None,
    progress: bool = False,
    label: str = "classifier",
) -> TrainedClassifier:
    """Train the study's CNN on `train`, choosing the epoch on the real `val` split.

    `classes` fixes the class order (default: the sorted labels of train and val); every class
    needs training images. `weights` overrides the loss weight of each class (default: inverse
    class frequencies of `train`). Stops after `patience` epochs without a better validation
    score and keeps the weights of the best epoch. `threads` sets torch's CPU thread count for
    the fit (then restores it): results are reproducible for a seed *and* a thread count, and one
    thread is often fastest for these small networks, above all on a busy machine.
    """
    if train.shape != val.shape:
        raise DataError(f"train images are {train.shape} but validation images are {val.shape}")
    if max_epochs < 1 or patience < 1 or batch_size < 2:
        raise JumeauError("max_epochs and patience must be ≥ 1 and batch_size ≥ 2")
    names = sorted({str(c) for c in classes} if classes else set(train.classes) | set(val.classes))
    if len(names) < 2:
        raise DataError(f"a classifier needs at least two classes, got {names}")
    y_train = _label_indices(train, names, "training")
    y_val = _label_indices(val, names, "validation")
    if weights is None:
        loss_weights = class_weights(train.labels, names)
    else:
        loss_weights = np.array([float(weights.get(c, 1.0)) for c in names])
    dims = len(train.shape)
    x = torch.as_tensor(train.images).unsqueeze(1)
    targets = torch.as_tensor(y_train)
    x_val = torch.as_tensor(val.images).unsqueeze(1)
    val_targets = torch.as_tensor(y_val)
    n = len(train)
    batch_size = min(batch_size, n)

    with _deterministic(seed, threads):
        module = ImageCNN(len(names), dims=dims, channels=channels)
        generator = torch.Generator().manual_seed(seed)
        optimiser = torch.optim.AdamW(
            module.parameters(), lr=learning_rate, weight_decay=weight_decay
        )
        criterion = nn.CrossEntropyLoss(weight=torch.as_tensor(loss_weights, dtype=torch.float32))
        result = TrainedClassifier(
            module=module,
            classes=names,
            image_shape=train.shape,
            seed=seed,
            n_train=n,
            best_epoch=0,
            stopped_early=False,
        )
        best_state = copy.deepcopy(module.state_dict())
        best: tuple[float, float] = (-math.inf, math.inf)
        with _progress(progress) as bar:
            task = bar.add_task(label, total=max_epochs, score="…")
            for epoch in range(max_epochs):
                module.train()
                order = torch.randperm(n, generator=generator)
                running, batches = 0.0, 0
                for start in range(0, n, batch_size):
                    index = order[start : start + batch_size]
                    if len(index) < 2:  # batch norm needs two images
                        continue
                    loss = criterion(module(x[index]), targets[index])
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                    running += float(loss.detach())
                    batches += 1
                _recalibrate_batch_norm(module, x, batch_size)
                module.eval()
                with torch.no_grad():
                    logits = torch.cat(
                        [
                            module(x_val[s : s + INFERENCE_BATCH])
                            for s in range(0, len(x_val), INFERENCE_BATCH)
                        ]
                    )
                val_loss = _balanced_loss(logits, val_targets)
                val_accuracy = balanced_accuracy(y_val, logits.argmax(dim=1).numpy())
                result.history.append(
                    EpochRecord(epoch, running / max(batches, 1), val_loss, val_accuracy)
                )
                if val_accuracy > best[0] or (val_accuracy == best[0] and val_loss < best[1]):
                    best = (val_accuracy, val_loss)
                    result.best_epoch = epoch
                    best_state = copy.deepcopy(module.state_dict())
                bar.update(task, advance=1, score=f"val bal. acc. {best[0]:.3f}")
                if epoch - result.best_epoch >= patience:
                    result.stopped_early = True
                    break
        module.load_state_dict(best_state)
        module.eval()
    return result


def _recalibrate_batch_norm(module: ImageCNN, x: Tensor, batch_size: int) -> None:
    """Batch-norm statistics of the current weights over the whole training set.

    The running averages (momentum 0.1) lag far behind the weights when an epoch has only a few
    batches, as with small cohorts, and then validation sees a network that never existed; one
    forward pass without gradients replaces them by the cumulative average of this epoch's
    batch statistics (Wu & Johnson's "precise BN")."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
    module.train()
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size]
            if len(batch) >= 2:
                module.features(batch)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum


def scores(classifier: TrainedClassifier, test: ImageCohort) -> dict[str, float | int | str]:
    """Balanced accuracy and ROC AUC on `test`.

    Binary: the AUC of the *positive class*, the second class in sorted order (reported as
    `positive_class`). Multiclass: the macro average of one-vs-rest AUCs over the classes that
    `test` contains. AUC is NaN when `test` holds a single class.
    """
    y = _label_indices(test, classifier.classes, "test")
    proba = classifier.predict_proba(test)
    result: dict[str, float | int | str] = {
        "balanced_accuracy": balanced_accuracy(y, proba.argmax(axis=1)),
        "n_test": len(test),
    }
    if len(classifier.classes) == 2:
        result["positive_class"] = classifier.classes[1]
        result["roc_auc"] = (
            float(roc_auc_score(y == 1, proba[:, 1])) if len(np.unique(y)) == 2 else math.nan
        )
    else:
        aucs = [
            float(roc_auc_score(y == c, proba[:, c]))
            for c in np.unique(y)
            if 0 < (y == c).sum() < len(y)
        ]
        result["roc_auc"] = float(np.mean(aucs)) if aucs else math.nan
        result["auc_average"] = "macro one-vs-rest"
    return result


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("epoch {task.completed}/{task.total}"),
        TextColumn("{task.fields[score]}"),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=True,
    )
