"""File-level steps behind `jumeau images fit` and `jumeau images sample`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from jumeau.data.loading import write_text_atomically
from jumeau.errors import DataError
from jumeau.generators.persistence import versions
from jumeau.generators.provenance import file_sha256
from jumeau.images.cohort import ImageCohort
from jumeau.images.datasets import list_image_datasets, load_image_dataset
from jumeau.images.loading import load_image_folder
from jumeau.images.models import ImageGenerator, load_image_generator

TOP_UP_ROUNDS = 5  # extra draws to replace images the memorisation filter removed


def load_images(source: str, labels: Path | None = None, *, split: str = "train") -> ImageCohort:
    """A bundled dataset by name (its `split`), or a folder of images with a labels CSV."""
    names = {info.name for info in list_image_datasets()}
    if source in names:
        return load_image_dataset(source)[split]
    folder = Path(source)
    if not folder.is_dir():
        raise DataError(
            f"{source}: neither a folder of images nor a bundled dataset ({', '.join(names)})"
        )
    if labels is None:
        raise DataError(f"{source}: give the labels CSV with --labels (columns id, label)")
    return load_image_folder(folder, labels)


def fit_images_file(
    source: str,
    output: Path,
    *,
    labels: Path | None,
    model: str,
    params: dict[str, Any],
    seed: int,
    progress: bool,
    device: str = "auto",
) -> str:
    generator = ImageGenerator(model, device=device, **params)  # bad settings fail before loading
    cohort = load_images(source, labels)
    generator.fit(cohort, seed=seed, progress=progress)
    generator.save(output)
    counts = ", ".join(f"{c}: {int((cohort.labels == c).sum())}" for c in cohort.classes)
    trained_on = {m.device_ for m in generator.models_.values()}
    return (
        f"fitted one {model} per class on {len(cohort)} images {cohort.shape} ({counts}, "
        f"trained on {', '.join(sorted(trained_on))}) -> {output}"
    )


def sample_images_file(
    model_file: Path,
    output: Path,
    *,
    n: int,
    label: str,
    seed: int,
    sampler: str | None,
    real: str | None = None,
    labels: Path | None = None,
) -> str:
    """Write n artificial images of `label` to a folder: PNG files for 2D images, one .npy
    array for 3D volumes, and a provenance record. With `real` (the training images, a bundled
    dataset name or a folder with `labels`), the memorisation filter runs before the export and
    removed images are replaced by fresh draws (a few rounds)."""
    generator = load_image_generator(model_file)
    account: dict[str, Any] = {"applied": False, "why": "no --real images given"}
    if real is None:
        images = generator.sample(n, label=label, seed=seed, sampler=sampler)
    else:
        images, account = _filtered(generator, n, label, seed, sampler, real, labels)
    output.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    if images.ndim == 3:
        from PIL import Image

        for index, image in enumerate(images):
            name = f"artificial-{label}-{index + 1:05d}.png"
            Image.fromarray(np.round(image * 255).astype(np.uint8), mode="L").save(output / name)
            written.append(name)
    else:
        name = f"artificial-{label}.npy"
        np.save(output / name, images, allow_pickle=False)
        written.append(name)
    record = {
        "model_file": {"path": str(model_file), "sha256": file_sha256(Path(model_file))},
        "label": label,
        "n": len(images),
        "seed": seed,
        "sampler": sampler or "model default",
        "similarity_filter": account,
        "versions": versions(),
    }
    write_text_atomically(output / "provenance.json", json.dumps(record, indent=2) + "\n")
    removed = int(account.get("n_removed", 0))
    if not account["applied"]:
        note = "; no memorisation filter (give --real to apply it)"
    elif removed:
        note = f"; the memorisation filter removed {removed}, replaced by new draws"
    else:
        note = "; every image passed the memorisation filter"
    return f"wrote {len(images)} artificial {label!r} images to {output}{note}"


def _filtered(
    generator: ImageGenerator,
    n: int,
    label: str,
    seed: int,
    sampler: str | None,
    real: str,
    labels: Path | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    from jumeau.evaluation.similarity import too_close
    from jumeau.images.fidelity import closest_distances

    if real in {info.name for info in list_image_datasets()}:
        # a bundled dataset: the model was fitted on its train split; val + test never seen
        splits = load_image_dataset(real)
        reference = splits["train"].of_label(label).images
        unseen = np.concatenate([splits["val"].images, splits["test"].images])
        baseline, _ = closest_distances(unseen, reference)
    else:
        # a folder: the model saw every image; how close real images come to one another (each
        # half against the other) stands in for the holdout → train distances
        reference = load_images(real, labels).of_label(label).images
        half = len(reference) // 2
        first, second = reference[:half], reference[half:]
        baseline = np.concatenate(
            [closest_distances(first, second)[0], closest_distances(second, first)[0]]
        )
    kept: list[np.ndarray] = []
    removed = copies = 0
    for round_ in range(TOP_UP_ROUNDS + 1):
        missing = n - sum(len(k) for k in kept)
        if missing <= 0:
            break
        draws = generator.sample(missing, label=label, seed=seed + round_, sampler=sampler)
        to_train, _ = closest_distances(draws, reference)
        close, exact, _threshold = too_close(to_train, baseline, what="images")
        kept.append(draws[~close])
        removed, copies = removed + int(close.sum()), copies + int(exact.sum())
    images = np.concatenate(kept)[:n]
    return images, {"applied": True, "n_removed": removed, "n_exact_copies": copies,
                    "rounds": round_ + 1}  # fmt: skip


def evaluate_images_file(
    source: str,
    output: Path,
    *,
    labels: Path | None,
    models: list[str],
    ks: list[int],
    seeds: int,
    small_per_class: int | None,
    max_epochs: int,
    show_real: bool,
    progress: bool,
    params: dict[str, Any] | None = None,
) -> tuple[Path, Path, str]:
    """Run the augmentation protocol and write report.html / report.json; returns their paths
    and the table as text."""
    from jumeau.images.datasets import list_image_datasets
    from jumeau.images.evaluate import evaluate_generators, split_cohort
    from jumeau.report import report_meta
    from jumeau.report.images import write_images_report

    if source in {info.name for info in list_image_datasets()}:
        splits = load_image_dataset(source)
        train, val, test = splits["train"], splits["val"], splits["test"]
    else:
        train, val, test = split_cohort(load_images(source, labels), seed=0)
    study, generators = evaluate_generators(
        train, val, test, models, ks=ks, seeds=range(seeds), small_per_class=small_per_class,
        max_epochs=max_epochs, progress=progress, params=params,
    )  # fmt: skip
    meta = report_meta(
        seed=0,
        inputs={"train_images": _images_sha256(train)},
        title=f"{source}: image augmentation",
        extra={
            "models": models,
            "ks": ks,
            "seeds": seeds,
            "small_per_class": small_per_class,
            "params": params or {},
        },
    )
    html, json_path = write_images_report(
        study, generators, train, output, meta, show_real=show_real
    )
    return html, json_path, study.table().to_string(index=False)


def _images_sha256(cohort: ImageCohort) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(cohort.images).tobytes()).hexdigest()
