"""The image classifier, classic augmentation, fidelity/memorisation measures and the
augmentation protocol, on small synthetic images (16×16 disks vs squares with noise)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm

from jumeau.errors import DataError, JumeauError
from jumeau.images.augment import classic_augment
from jumeau.images.classifier import balanced_accuracy, scores, train_classifier
from jumeau.images.cohort import ImageCohort
from jumeau.images.fidelity import (
    closest_distances,
    filter_memorised,
    frechet_distance,
    image_fidelity,
    pixel_statistics,
    precision_recall,
)
from jumeau.images.protocol import augmentation_study, draw_artificial, small_subset

SIZE = 16
FAST = {"threads": 1, "batch_size": 32}


def shapes(n: int, label: str, seed: int, size: int = SIZE) -> np.ndarray:
    """`n` noisy images of a bright disk or square of random size, position and brightness."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = np.empty((n, size, size), dtype=np.float32)
    for i in range(n):
        r = rng.uniform(3.0, 5.0)
        cy, cx = rng.uniform(r + 1, size - r - 1, size=2)
        if label == "disk":
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
        else:
            mask = (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
        image = 0.1 + rng.uniform(0.5, 0.8) * mask + rng.normal(0, 0.05, (size, size))
        images[i] = np.clip(image, 0, 1)
    return images


def cohort(per_class: int, seed: int, name: str = "set") -> ImageCohort:
    disks = shapes(per_class, "disk", seed)
    squares = shapes(per_class, "square", seed + 1000)
    labels = ["disk"] * per_class + ["square"] * per_class
    ids = [f"{name}-{i}" for i in range(2 * per_class)]
    return ImageCohort(np.concatenate([disks, squares]), np.array(labels), np.array(ids))


class StubGenerator:
    """Stands in for a fitted image generator: fresh shapes of the requested class."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, int]] = []

    def sample(self, n: int, *, label: str, seed: int) -> np.ndarray:
        self.calls.append((n, label, seed))
        return shapes(n, label, seed)


@pytest.fixture(scope="module")
def splits() -> tuple[ImageCohort, ImageCohort, ImageCohort]:
    return cohort(30, 1, "train"), cohort(15, 2, "val"), cohort(20, 3, "test")


@pytest.fixture(scope="module")
def trained(splits):
    train, val, _ = splits
    return train_classifier(train, val, seed=0, max_epochs=25, patience=8, **FAST)


# ---------------------------------------------------------------------- classifier
def test_classifier_learns_disks_versus_squares(splits, trained) -> None:
    _, _, test = splits
    result = scores(trained, test)
    assert result["balanced_accuracy"] > 0.9
    assert result["roc_auc"] > 0.9
    assert result["positive_class"] == "square"  # the second class in sorted order
    proba = trained.predict_proba(test)
    assert proba.shape == (len(test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert set(trained.predict(test)) <= {"disk", "square"}
    assert trained.features(test).shape == (len(test), trained.module.n_features)
    # The kept epoch is the best on validation balanced accuracy.
    best = max(record.val_balanced_accuracy for record in trained.history)
    assert trained.val_balanced_accuracy == best


def test_classifier_is_deterministic_and_leaves_the_global_rng_alone(splits) -> None:
    train, val, test = splits
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = train_classifier(train, val, seed=7, max_epochs=2, **FAST)
    assert torch.equal(torch.rand(3), expected_next)
    second = train_classifier(train, val, seed=7, max_epochs=2, **FAST)
    other = train_classifier(train, val, seed=8, max_epochs=2, **FAST)
    np.testing.assert_array_equal(first.predict_proba(test), second.predict_proba(test))
    assert not np.array_equal(first.predict_proba(test), other.predict_proba(test))
    assert not torch.are_deterministic_algorithms_enabled()


def test_classifier_checks_its_inputs(splits, trained) -> None:
    train, val, _ = splits
    with pytest.raises(DataError, match="shape"):
        trained.predict_proba(np.zeros((2, 8, 8), dtype=np.float32))
    with pytest.raises(DataError, match="no training image"):
        train_classifier(train, val, classes=["disk", "square", "star"], seed=0, max_epochs=1)


def test_multiclass_scores_and_3d_classifier() -> None:
    rng = np.random.default_rng(0)
    volumes = rng.random((36, 4, 8, 8)).astype(np.float32) * 0.5
    labels = np.repeat(["a", "b", "c"], 12)
    volumes[labels == "b", :, :4] += 0.5
    volumes[labels == "c", :, 4:] += 0.5
    data = ImageCohort(volumes, labels, np.arange(36).astype(str))
    model = train_classifier(data, data, seed=0, max_epochs=3, **FAST)
    result = scores(model, data)
    assert result["auc_average"] == "macro one-vs-rest"
    assert 0.0 <= result["roc_auc"] <= 1.0
    assert model.features(data).shape == (36, model.module.n_features)
    assert balanced_accuracy(np.array([0, 0, 1]), np.array([0, 1, 1])) == pytest.approx(0.75)


# ---------------------------------------------------------------------- classic augmentation
def test_classic_augment_shapes_range_ids_and_seed(splits) -> None:
    train = splits[0].subset(range(0, 60, 6))
    augmented = classic_augment(train, 3, seed=0)
    assert len(augmented) == 30 and augmented.shape == train.shape
    assert augmented.images.dtype == np.float32
    assert augmented.images.min() >= 0.0 and augmented.images.max() <= 1.0
    assert list(augmented.ids[:3]) == [f"aug-{j}-{train.ids[0]}" for j in range(3)]
    assert list(augmented.labels) == list(np.repeat(train.labels, 3))
    assert not np.allclose(augmented.images[0], train.images[0])
    np.testing.assert_array_equal(augmented.images, classic_augment(train, 3, seed=0).images)
    assert not np.array_equal(augmented.images, classic_augment(train, 3, seed=1).images)
    volumes = ImageCohort(
        np.random.default_rng(0).random((4, 6, 12, 12)).astype(np.float32),
        np.array(["a", "a", "b", "b"]),
        np.array(["v1", "v2", "v3", "v4"]),
    )
    augmented_3d = classic_augment(volumes, 2, seed=0)
    assert augmented_3d.images.shape == (8, 6, 12, 12)
    assert augmented_3d.images.min() >= 0.0 and augmented_3d.images.max() <= 1.0
    with pytest.raises(JumeauError, match="k ≥ 1"):
        classic_augment(train, 0, seed=0)


# ---------------------------------------------------------------------- fidelity
def test_frechet_distance() -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 8))
    assert frechet_distance(real, real) == pytest.approx(0.0, abs=1e-8)
    shifted = rng.normal(loc=3.0, size=(400, 8))
    assert frechet_distance(real, shifted) > 60  # ≈ 8 · 3²
    other = rng.normal(scale=2.0, size=(300, 8)) + 0.5
    c1, c2 = np.cov(real, rowvar=False), np.cov(other, rowvar=False)
    gap = real.mean(0) - other.mean(0)
    reference = gap @ gap + np.trace(c1 + c2 - 2 * np.real(sqrtm(c1 @ c2)))
    assert frechet_distance(real, other) == pytest.approx(reference, rel=1e-6)
    # Singular covariances (fewer samples than features, a constant feature) stay finite.
    few = rng.normal(size=(5, 8))
    few[:, 0] = 1.0
    assert np.isfinite(frechet_distance(few, real))


def test_precision_recall() -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(100, 4))
    assert precision_recall(real, real, k=3) == (1.0, 1.0)
    assert precision_recall(real, real + 100.0, k=3) == (0.0, 0.0)
    # A collapsed generator: precise (inside the real manifold) but with poor recall.
    collapsed = real[0] + rng.normal(scale=1e-3, size=(20, 4))
    precision, recall = precision_recall(real, collapsed, k=3)
    assert precision == 1.0 and recall < 0.1
    with pytest.raises(DataError, match="more than 3"):
        precision_recall(real, real[:3], k=3)


def test_image_fidelity_and_pixel_statistics(splits, trained) -> None:
    train, _, test = splits
    same = image_fidelity(trained, train, train)
    assert same["frechet_distance"] == pytest.approx(0.0, abs=1e-6)
    assert same["precision"] == same["recall"] == 1.0
    dark = ImageCohort(test.images * 0.2, test.labels, test.ids)
    assert image_fidelity(trained, train, dark)["frechet_distance"] > same["frechet_distance"]
    stats = pixel_statistics(train, dark)
    assert set(stats) == {"disk", "square"}
    assert stats["disk"]["artificial_mean"] < stats["disk"]["real_mean"]
    assert stats["disk"]["mean_image_difference"] > 0


def test_memorisation_filter_removes_copies_and_keeps_new_images(splits) -> None:
    train, val, _ = splits
    copies = train.images[:5]
    near_copies = np.clip(train.images[5:10] + 1e-4, 0, 1)
    new = shapes(5, "disk", seed=99)
    artificial = np.concatenate([copies, near_copies, new])
    distances, positions = closest_distances(copies, train)
    assert (distances == 0.0).all() and list(positions) == [0, 1, 2, 3, 4]
    result = filter_memorised(artificial, train, val)
    assert result.n_input == 15
    assert result.n_exact_copies == 5
    assert result.n_removed == 10
    assert list(result.kept_positions) == [10, 11, 12, 13, 14]
    np.testing.assert_array_equal(result.kept, new)
    assert result.pass_rate == pytest.approx(5 / 15)
    assert result.threshold == pytest.approx(np.percentile(result.holdout_to_train, 0.1))
    assert json.dumps(result.to_dict())
    with pytest.raises(JumeauError, match="percentile"):
        filter_memorised(artificial, train, val, percentile=150)


# ---------------------------------------------------------------------- protocol
def test_draw_artificial_validates_the_generator() -> None:
    def wrong_shape(n: int, *, label: str, seed: int) -> np.ndarray:
        return np.zeros((n, 8, 8), dtype=np.float32)

    with pytest.raises(JumeauError, match="shape"):
        draw_artificial(wrong_shape, {"disk": 2}, seed=0, shape=(SIZE, SIZE), name="bad")
    drawn = draw_artificial(shapes, {"disk": 2, "square": 3}, seed=0, shape=(SIZE, SIZE))
    assert list(drawn.labels) == ["disk"] * 2 + ["square"] * 3


def test_small_subset_is_seeded_and_per_class(splits) -> None:
    train = splits[0]
    subset = small_subset(train, 10, seed=0)
    assert [int((subset.labels == c).sum()) for c in ("disk", "square")] == [10, 10]
    assert list(subset.ids) == list(small_subset(train, 10, seed=0).ids)


def test_augmentation_study_end_to_end(splits) -> None:
    train, val, test = splits
    stub = StubGenerator()
    made: list[tuple[int, int]] = []

    def make_generators(subset: ImageCohort, seed: int) -> dict[str, object]:
        made.append((len(subset), seed))
        return {"stub": stub}

    result = augmentation_study(
        train,
        val,
        test,
        {"stub": stub},
        ks=(1,),
        seeds=range(2),
        small_per_class=10,
        make_generators=make_generators,
        max_epochs=2,
        patience=2,
        progress=False,
        **FAST,
    )
    assert made == [(20, 0), (20, 1)]
    # Per class, k × n_class images: 30 per class (full) and 10 per class (small).
    assert (30, "disk") in {(n, label) for n, label, _ in stub.calls}
    assert (10, "square") in {(n, label) for n, label, _ in stub.calls}
    table = result.table()
    expected = {
        ("full", "real", 0, 60),
        ("full", "real + stub", 1, 120),
        ("full", "stub only", 1, 60),
        ("full", "real + classic", 1, 120),
        ("small", "real", 0, 20),
        ("small", "real + stub", 1, 40),
        ("small", "stub only", 1, 20),
        ("small", "real + classic", 1, 40),
    }
    assert set(zip(table.regime, table.condition, table.k, table.n_train, strict=True)) == expected
    for column in ("balanced_accuracy_mean", "balanced_accuracy_sd", "auc_mean", "auc_sd"):
        assert table[column].notna().all()
    assert (table.n_seeds == 2).all()
    assert (table.loc[table.condition == "real", "balanced_accuracy_gain"] == 0).all()
    assert len(result.runs) == 16
    assert set(result.fidelity.generator) == {"stub"} and len(result.fidelity) == 4
    assert (result.fidelity.n_exact_copies == 0).all()
    assert len(result.fidelity_table()) == 2
    document = result.as_dict()
    assert json.loads(json.dumps(document))["config"]["positive_class"] == "square"
    # Same seeds, same numbers.
    again = augmentation_study(
        train,
        val,
        test,
        {"stub": StubGenerator()},
        ks=(1,),
        seeds=range(1),
        classic=False,
        artificial_only=False,
        fidelity=False,
        max_epochs=2,
        patience=2,
        progress=False,
        **FAST,
    )
    first = result.runs[(result.runs.seed == 0) & (result.runs.regime == "full")]
    np.testing.assert_allclose(
        again.runs.balanced_accuracy.to_numpy(),
        first[first.condition.isin(["real", "real + stub"])].balanced_accuracy.to_numpy(),
    )


def test_augmentation_study_checks_its_settings(splits) -> None:
    train, val, test = splits
    # Ids may repeat across splits (positions, as in MedMNIST files).
    tiny = augmentation_study(
        cohort(10, 4),
        cohort(5, 5),
        cohort(5, 6),
        {"stub": StubGenerator()},
        ks=(1,),
        seeds=[0],
        classic=False,
        max_epochs=1,
        progress=True,
        **FAST,
    )
    assert len(tiny.runs) == 3 and len(tiny.fidelity) == 1
    with pytest.raises(JumeauError, match="ks"):
        augmentation_study(train, val, test, {}, ks=(0,), progress=False)
    with pytest.raises(JumeauError, match="nothing to run"):
        augmentation_study(train, val, test, {}, full=False, progress=False)
