"""The augmentation protocol: do artificial images help a classifier?

The same CNN (`jumeau.images.classifier`) is trained, for every seed, on

- **real**: the real training images only (k = 0);
- **real + <generator>**: the real images plus k× as many artificial images, per class (for a
  class with n_c real images, `generator.sample(k * n_c, label=c, seed=…)`);
- **<generator> only**: artificial images only, as many per class as the real training set
  (k = 1);
- **real + classic**: the real images plus k classically augmented copies of each
  (`jumeau.images.augment`), the baseline a generator has to beat;

the training epoch is always chosen on the *real* validation split, and balanced accuracy and ROC
AUC are measured on the *real* test split; the table reports mean ± sd over seeds and the mean
paired gain over the real-only classifier of the same seed.

For each seed the artificial images are drawn once, at the largest k, and smaller k use the first
k × n_c of them (likewise for classic augmentation, copy-major within each image): the k's are
nested, which makes their comparison less noisy. Seeds for drawing are derived from the study
seed, the regime and the class, so every number can be reproduced.

A **small-data** regime (`small_per_class=50`) repeats the study on a seeded subset of 50 real
training images per class (validation and test unchanged). Generators fitted on the whole
training set would have seen more data than that subset, so that regime takes its generators from
`make_generators(train_subset, seed)`; without it, it runs the real and classic conditions only.

With `fidelity=True` the study also measures, per seed and generator, the Fréchet distance and
k-NN precision/recall of the "<generator> only" images against the real training images in the
features of the real-only classifier, and the memorisation filter's counts with the validation
and test images as holdout (`jumeau.images.fidelity`). This assumes the generators were fitted on
the training images only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from jumeau.errors import DataError, JumeauError
from jumeau.images.augment import classic_augment
from jumeau.images.classifier import TrainedClassifier, scores, train_classifier
from jumeau.images.cohort import ImageCohort
from jumeau.images.fidelity import filter_memorised, image_fidelity

# A generator: an object with `sample(n, *, label, seed)`, or such a function itself.
GeneratorLike = Any
MakeGenerators = Callable[[ImageCohort, int], Mapping[str, GeneratorLike]]

REAL = "real"
CLASSIC = "classic"
FULL = "full"
SMALL = "small"
_REGIME_CODE = {FULL: 0, SMALL: 1}


def derived_seed(*parts: int) -> int:
    """A 32-bit seed determined by `parts` (study seed, regime, class, purpose)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def draw_artificial(
    generator: GeneratorLike,
    counts: Mapping[str, int],
    *,
    seed: int,
    shape: tuple[int, ...],
    name: str = "generator",
) -> ImageCohort:
    """`counts[c]` artificial images of each class c, drawn with a seed derived from `seed` and
    the class's position in sorted order; ids "<name>-<class>-<i>"."""
    sampler = getattr(generator, "sample", None)
    if not callable(sampler):
        if not callable(generator):
            raise JumeauError(f"generator {name!r} has no sample(n, *, label, seed) method")
        sampler = generator
    images, labels, ids = [], [], []
    for position, label in enumerate(sorted(counts)):
        n = int(counts[label])
        if n <= 0:
            continue
        drawn = np.asarray(sampler(n, label=label, seed=derived_seed(seed, position)))
        if drawn.shape != (n, *shape):
            raise JumeauError(
                f"generator {name!r} returned images of shape {drawn.shape} for class {label!r}; "
                f"expected {(n, *shape)}"
            )
        if not np.isfinite(drawn).all():
            raise JumeauError(f"generator {name!r} returned non-finite pixel values")
        images.append(np.clip(drawn.astype(np.float32), 0.0, 1.0))
        labels += [label] * n
        ids += [f"{name}-{label}-{i}" for i in range(n)]
    if not images:
        raise DataError(f"no artificial image requested from generator {name!r}")
    return ImageCohort(
        np.concatenate(images), np.asarray(labels), np.asarray(ids), source=f"<{name}>"
    )


def small_subset(train: ImageCohort, per_class: int, *, seed: int) -> ImageCohort:
    """A seeded subset of `per_class` images of each class (all of a smaller class)."""
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(rows, size=min(per_class, len(rows)), replace=False)
        for rows in (np.flatnonzero(train.labels == c) for c in train.classes)
    ]
    return train.subset(np.sort(np.concatenate(chosen)))


def _concat(*cohorts: ImageCohort) -> ImageCohort:
    first = cohorts[0]
    ids = np.concatenate([c.ids for c in cohorts])
    if len(set(ids.tolist())) < len(ids):  # e.g. positions as ids in both validation and test
        ids = np.concatenate([[f"{i}:{name}" for name in c.ids] for i, c in enumerate(cohorts)])
    return ImageCohort(
        np.concatenate([c.images for c in cohorts]),
        np.concatenate([c.labels for c in cohorts]),
        ids,
        first.spacing,
        source=first.source,
    )


def _first_per_class(cohort: ImageCohort, counts: Mapping[str, int]) -> ImageCohort:
    """The first counts[c] images of each class c (in order)."""
    rows = [np.flatnonzero(cohort.labels == c)[: counts[c]] for c in sorted(counts)]
    return cohort.subset(np.sort(np.concatenate(rows)))


def _first_copies(augmented: ImageCohort, n_images: int, k_max: int, k: int) -> ImageCohort:
    """The first k of the k_max classic copies of each image (image-major order)."""
    rows = (np.arange(n_images)[:, None] * k_max + np.arange(k)[None, :]).ravel()
    return augmented.subset(rows)


def _clean(value: Any) -> Any:
    """JSON-ready: numpy scalars as Python numbers, NaN as None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class StudyResult:
    """Every trained classifier's scores (`runs`), the generators' fidelity (`fidelity`) and the
    study's settings; `table()` summarises over seeds."""

    runs: pd.DataFrame
    fidelity: pd.DataFrame
    config: dict[str, Any] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per (regime, condition, k): n_train, n_seeds, balanced accuracy and ROC AUC
        (mean and sd over seeds), and their mean paired gain over the real-only classifier."""
        runs = self.runs.copy()
        real = runs[runs["condition"] == REAL].set_index(["regime", "seed"])
        key = pd.MultiIndex.from_frame(runs[["regime", "seed"]])
        runs["balanced_accuracy_gain"] = (
            runs["balanced_accuracy"].to_numpy() - real["balanced_accuracy"].reindex(key).to_numpy()
        )
        runs["auc_gain"] = runs["roc_auc"].to_numpy() - real["roc_auc"].reindex(key).to_numpy()
        grouped = runs.groupby(["regime", "condition", "k"], sort=False)
        table = grouped.agg(
            n_train=("n_train", "mean"),
            n_seeds=("seed", "nunique"),
            balanced_accuracy_mean=("balanced_accuracy", "mean"),
            balanced_accuracy_sd=("balanced_accuracy", "std"),
            auc_mean=("roc_auc", "mean"),
            auc_sd=("roc_auc", "std"),
            balanced_accuracy_gain=("balanced_accuracy_gain", "mean"),
            auc_gain=("auc_gain", "mean"),
        ).reset_index()
        table["n_train"] = table["n_train"].round().astype(int)
        return table

    def fidelity_table(self) -> pd.DataFrame:
        """Mean over seeds of each generator's fidelity and memorisation measures."""
        if self.fidelity.empty:
            return self.fidelity
        numeric = self.fidelity.drop(columns=["seed"]).select_dtypes("number").columns
        return (
            self.fidelity.groupby(["regime", "generator"], sort=False)[list(numeric)]
            .mean()
            .reset_index()
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: settings, summary table, every run, fidelity (NaN as null)."""
        return _clean(
            {
                "config": self.config,
                "table": self.table().to_dict(orient="records"),
                "runs": self.runs.to_dict(orient="records"),
                "fidelity": self.fidelity.to_dict(orient="records"),
            }
        )


def augmentation_study(
    train: ImageCohort,
    val: ImageCohort,
    test: ImageCohort,
    generators: Mapping[str, GeneratorLike] | None = None,
    *,
    ks: Sequence[int] = (1, 2, 5, 10),
    seeds: Iterable[int] = range(5),
    small_per_class: int | None = None,
    make_generators: MakeGenerators | None = None,
    full: bool = True,
    classic: bool = True,
    artificial_only: bool = True,
    fidelity: bool = True,
    max_epochs: int = 60,
    patience: int = 10,
    batch_size: int = 64,
    threads: int | None = None,
    progress: bool = True,
) -> StudyResult:
    """Train the same CNN under every condition and seed; see the module docstring.

    `generators` maps a name to a generator fitted on `train` (an object with
    `sample(n, *, label, seed) -> float32 images in [0, 1]`, or that function). `full=False`
    skips the full-data regime (then `small_per_class` is needed).
    """
    ks = sorted({int(k) for k in ks})
    seeds = [int(s) for s in seeds]
    if not ks or ks[0] < 1:
        raise JumeauError(f"ks must be positive multiples of the real images, got {ks}")
    if not seeds:
        raise JumeauError("the study needs at least one seed")
    if not full and small_per_class is None:
        raise JumeauError("nothing to run: full=False and no small_per_class")
    if small_per_class is not None and small_per_class < 2:
        raise JumeauError(f"small_per_class must be at least 2, not {small_per_class}")
    for name, cohort in (("validation", val), ("test", test)):
        if cohort.shape != train.shape:
            raise DataError(f"{name} images are {cohort.shape} but train images are {train.shape}")
        unknown = sorted(set(cohort.classes) - set(train.classes))
        if unknown:
            raise DataError(f"{name} images have label(s) {unknown} absent from the train images")
    generators = dict(generators or {})
    regimes = ([FULL] if full else []) + ([SMALL] if small_per_class is not None else [])
    holdout = _concat(val, test)
    fit: dict[str, Any] = {
        "max_epochs": max_epochs,
        "patience": patience,
        "batch_size": batch_size,
        "threads": threads,
    }
    runs: list[dict[str, Any]] = []
    fidelity_rows: list[dict[str, Any]] = []

    with _progress(progress) as bar:
        task = bar.add_task("augmentation study", total=0)
        total = 0
        for seed in seeds:
            for regime in regimes:
                code = _REGIME_CODE[regime]
                if regime == FULL:
                    real, models = train, generators
                else:
                    assert small_per_class is not None
                    real = small_subset(train, small_per_class, seed=derived_seed(seed, code))
                    models = dict(make_generators(real, seed)) if make_generators else {}
                counts = {c: int((real.labels == c).sum()) for c in real.classes}
                n_runs = 1 + len(models) * (len(ks) + artificial_only) + classic * len(ks)
                total += n_runs
                bar.update(task, total=total)

                def run(
                    condition: str,
                    k: int,
                    cohort: ImageCohort,
                    n_artificial: int,
                    regime: str = regime,
                    seed: int = seed,
                ) -> TrainedClassifier:
                    bar.update(task, description=f"{regime} · {condition} · k={k} · seed {seed}")
                    model = train_classifier(cohort, val, classes=train.classes, seed=seed, **fit)
                    runs.append(
                        {
                            "regime": regime,
                            "condition": condition,
                            "k": k,
                            "seed": seed,
                            "n_train": len(cohort),
                            "n_artificial": n_artificial,
                            **_scores(model, test),
                            "best_epoch": model.best_epoch,
                            "val_balanced_accuracy": model.val_balanced_accuracy,
                        }
                    )
                    bar.advance(task)
                    return model

                baseline = run(REAL, 0, real, 0)
                for name, generator in models.items():
                    largest = {c: ks[-1] * n for c, n in counts.items()}
                    drawn = draw_artificial(
                        generator,
                        largest,
                        seed=derived_seed(seed, code, 1),
                        shape=train.shape,
                        name=name,
                    )
                    for k in ks:
                        extra = _first_per_class(drawn, {c: k * n for c, n in counts.items()})
                        run(f"{REAL} + {name}", k, _concat(real, extra), len(extra))
                    alone = _first_per_class(drawn, counts)
                    if artificial_only:
                        run(f"{name} only", 1, alone, len(alone))
                    if fidelity:
                        fidelity_rows.append(
                            _fidelity(baseline, real, alone, holdout, regime, name, seed)
                        )
                if classic:
                    augmented = classic_augment(real, ks[-1], seed=derived_seed(seed, code, 2))
                    for k in ks:
                        extra = _first_copies(augmented, len(real), ks[-1], k)
                        run(f"{REAL} + {CLASSIC}", k, _concat(real, extra), len(extra))

    config = {
        "ks": ks,
        "seeds": seeds,
        "regimes": regimes,
        "small_per_class": small_per_class,
        "generators": sorted(generators),
        "classic": classic,
        "artificial_only": artificial_only,
        "classes": train.classes,
        "image_shape": list(train.shape),
        "n_train": len(train),
        "n_val": len(val),
        "n_test": len(test),
        "positive_class": train.classes[1] if len(train.classes) == 2 else None,
        **fit,
    }
    return StudyResult(pd.DataFrame(runs), pd.DataFrame(fidelity_rows), config)


def _scores(model: TrainedClassifier, test: ImageCohort) -> dict[str, float]:
    measured = scores(model, test)
    return {
        "balanced_accuracy": float(measured["balanced_accuracy"]),
        "roc_auc": float(measured["roc_auc"]),
    }


def _fidelity(
    baseline: TrainedClassifier,
    real: ImageCohort,
    artificial: ImageCohort,
    holdout: ImageCohort,
    regime: str,
    name: str,
    seed: int,
) -> dict[str, Any]:
    measured = image_fidelity(baseline, real, artificial)
    memorised = filter_memorised(artificial, real, holdout)
    return {
        "regime": regime,
        "generator": name,
        "seed": seed,
        "frechet_distance": measured["frechet_distance"],
        "precision": measured["precision"],
        "recall": measured["recall"],
        "n_artificial": len(artificial),
        "n_exact_copies": memorised.n_exact_copies,
        "n_memorised": memorised.n_removed,
        "memorisation_pass_rate": memorised.pass_rate,
        "median_artificial_to_train": float(np.median(memorised.to_train)),
        "median_holdout_to_train": float(np.median(memorised.holdout_to_train)),
    }


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=True,
    )
