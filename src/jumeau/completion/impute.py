"""`complete`: fit a generator on an incomplete cohort (or take a fitted one) and fill its holes
m times. The model learns from every patient, missing values included: the VAE and RHVAE count
only observed numbers in their likelihood (MIWAE-style), the copula fits its latent Gaussian by
stochastic EM over the missing entries — nobody is dropped or imputed before training."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.generators.base import Generator, check_seed
from jumeau.generators.completion import CompletionReport, check_completion_request
from jumeau.generators.registry import make_generator


@dataclass
class Completion:
    """The m completed cohorts, the report of what was filled, and the model that filled it.

    Iterates (and indexes) over the completed cohorts, so ``for c in complete(...)`` works."""

    cohorts: list[Cohort]
    report: CompletionReport
    generator: Generator

    def __iter__(self) -> Iterator[Cohort]:
        return iter(self.cohorts)

    def __len__(self) -> int:
        return len(self.cohorts)

    def __getitem__(self, index: int) -> Cohort:
        return self.cohorts[index]


def complete(
    cohort: Cohort,
    m: int = 5,
    *,
    model: str | Generator = "copula",
    seed: int = 0,
    max_attempts: int = 20,
    progress: bool = False,
    **params: object,
) -> Completion:
    """`m` completed copies of `cohort` (multiple imputation).

    `model`: a generator's name (fitted here on `cohort` itself, with `seed` and `params`) or a
    fitted generator (for instance one trained on a larger cohort with the same schema).
    """
    seed = check_seed(seed)
    check_completion_request(m, max_attempts)
    if isinstance(model, Generator):
        if params:
            raise JumeauError("parameters go to an unfitted model's name, not a fitted generator")
        generator = model
    elif isinstance(model, str):
        generator = make_generator(model, **params).fit(cohort, seed=seed, progress=progress)
    else:
        raise JumeauError(f"model must be a generator's name or a fitted generator, not {model!r}")
    cohorts = generator.complete(cohort, m, seed=seed, max_attempts=max_attempts)
    return Completion(cohorts=cohorts, report=generator.last_completion_, generator=generator)
