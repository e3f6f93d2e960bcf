"""`jumeau images evaluate`: fit the generators for each seed and run the augmentation protocol.

Generators are refitted for every seed (so the spread over seeds includes the generator's own
training noise, not only the classifier's), on the training split only; an RHVAE is measured with
both its geometry-aware sampler and its N(0, I) prior on the same fitted model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from jumeau.errors import JumeauError
from jumeau.images.cohort import ImageCohort
from jumeau.images.models import MODELS, ImageGenerator
from jumeau.images.protocol import StudyResult, augmentation_study

HOLDOUT_SHARES = (0.2, 0.2)  # validation, test — when a folder comes without splits


def fitted_generators(
    train: ImageCohort,
    models: Sequence[str],
    *,
    seed: int,
    params: dict[str, Any] | None = None,
    progress: bool = False,
) -> tuple[dict[str, Any], dict[str, ImageGenerator]]:
    """Samplers by name for the protocol ("vae", "rhvae-geometry", "rhvae-prior") and the
    fitted generators by model name."""
    samplers: dict[str, Any] = {}
    fitted: dict[str, ImageGenerator] = {}
    for model in models:
        if model not in MODELS:
            raise JumeauError(f"unknown image model {model!r}; available: {', '.join(MODELS)}")
        generator = ImageGenerator(model, **(params or {}).get(model, {}))
        generator.fit(train, seed=seed, progress=progress)
        fitted[model] = generator
        if model == "rhvae":
            samplers["rhvae-geometry"] = _sampler(generator, "geometry")
            samplers["rhvae-prior"] = _sampler(generator, "prior")
        else:
            samplers[model] = generator
    return samplers, fitted


def _sampler(generator: ImageGenerator, sampler: str) -> Any:
    def draw(n: int, *, label: str, seed: int) -> np.ndarray:
        return generator.sample(n, label=label, seed=seed, sampler=sampler)

    return draw


def evaluate_generators(
    train: ImageCohort,
    val: ImageCohort,
    test: ImageCohort,
    models: Sequence[str],
    *,
    ks: Sequence[int] = (1, 2, 5, 10),
    seeds: Sequence[int] = range(5),
    small_per_class: int | None = 50,
    params: dict[str, Any] | None = None,
    max_epochs: int = 60,
    progress: bool = True,
) -> tuple[StudyResult, dict[str, ImageGenerator]]:
    """The protocol over `seeds`, generators refitted per seed; returns the study and the
    generators of the first seed (for the report's image grids)."""
    runs, fidelity = [], []
    first: dict[str, ImageGenerator] = {}
    config: dict[str, Any] = {}
    for seed in seeds:
        samplers, fitted = fitted_generators(train, models, seed=seed, params=params)
        first = first or fitted

        def small(subset: ImageCohort, seed_: int) -> dict[str, Any]:
            return fitted_generators(subset, models, seed=seed_, params=params)[0]

        result = augmentation_study(
            train, val, test, samplers, ks=ks, seeds=[seed], small_per_class=small_per_class,
            make_generators=small if small_per_class else None, max_epochs=max_epochs,
            progress=progress,
        )  # fmt: skip
        runs.append(result.runs)
        fidelity.append(result.fidelity)
        config = result.config | {"seeds": list(seeds), "models": list(models)}
    return StudyResult(pd.concat(runs, ignore_index=True),
                       pd.concat(fidelity, ignore_index=True), config), first  # fmt: skip


def split_cohort(
    cohort: ImageCohort, *, seed: int = 0
) -> tuple[ImageCohort, ImageCohort, ImageCohort]:
    """Train / validation / test split stratified by label (60/20/20), for folders that come
    without official splits."""
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(cohort))
    val_share, test_share = HOLDOUT_SHARES
    rest, test = train_test_split(
        positions, test_size=test_share, random_state=seed, stratify=cohort.labels
    )
    train, val = train_test_split(
        rest, test_size=val_share / (1 - test_share), random_state=seed,
        stratify=cohort.labels[rest],
    )  # fmt: skip
    return cohort.subset(np.sort(train)), cohort.subset(np.sort(val)), cohort.subset(np.sort(test))
