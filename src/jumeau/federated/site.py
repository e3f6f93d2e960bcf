"""A hospital's side of federated training: it answers the server's instructions from its own
patients and sends back aggregates and weights only.

What leaves a site, by task: `check` — problems by column and count; `sketch` — per-column level
counts, value counts of heavily tied numbers, 32 interpolated quantiles of other numbers, the row
count and a hash of the table; `copula-*` — sums over all its patients of latent scores and their
products (d and d² numbers); `neural-train` — network weights after a few local epochs and two
mean losses. Never a row, never one patient's latent code.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module

import numpy as np
import pandas as pd

from jumeau.data.cohort import MIN_ROWS_TO_MODEL, Cohort
from jumeau.data.schema import Schema
from jumeau.errors import JumeauError, JumeauWarning
from jumeau.federated.checks import check_site_data
from jumeau.federated.context import read_schema
from jumeau.federated.messages import Instruction, Reply
from jumeau.generators.sketches import column_sketches

State = dict[str, np.ndarray]
Handler = Callable[["Site", Instruction, State], Reply]


class Site:
    """One hospital's data and its answers to the server (see module docstring)."""

    def __init__(
        self, data: pd.DataFrame | Cohort, name: str, *, seed: int = 0, key: bytes | None = None
    ) -> None:
        if not name or not isinstance(name, str):
            raise JumeauError("every site needs a name (the server's reports use it)")
        self.frame = data.data if isinstance(data, Cohort) else data
        if not isinstance(self.frame, pd.DataFrame):
            raise JumeauError(f"site {name}: expected a DataFrame or Cohort")
        self.name = name
        self.seed = seed
        self.key = key  # PEM of the site's Ed25519 private key (see auth.py); stays here
        self._cohorts: dict[str, Cohort] = {}

    def __repr__(self) -> str:
        return f"<Site {self.name!r}: {len(self.frame)} rows>"

    def cohort(self, schema: Schema) -> Cohort:
        """The site's table typed by the consortium's schema (cached per schema)."""
        key = schema.model_dump_json()
        if key not in self._cohorts:
            with quiet_constant_columns():
                cohort = Cohort(self.frame, schema, source=f"site {self.name}")
            self._cohorts = {key: cohort}
        return self._cohorts[key]

    def rng(self, round_: int, purpose: str = "") -> np.random.Generator:
        """A stream of its own for each site, round and purpose (reproducible from the seed)."""
        tag = zlib.crc32(f"{self.name}|{purpose}".encode())
        return np.random.default_rng([self.seed, round_, tag])

    def handle(self, instruction: Instruction, state: State) -> Reply:
        """Answer one instruction; `state` persists between rounds at this site only."""
        if instruction.task in HANDLERS:
            return HANDLERS[instruction.task](self, instruction, state)
        if instruction.task not in MODEL_TASKS:
            raise JumeauError(f"site {self.name}: unknown task {instruction.task!r}")
        module, function = MODEL_TASKS[instruction.task]
        handler: Handler = getattr(import_module(module), function)
        return handler(self, instruction, state)


@contextmanager
def quiet_constant_columns() -> Iterator[None]:
    """A column constant at one site is expected (hospitals split by a category: one treats
    only the high grades); it is not constant across the consortium, so no warning here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is constant", category=JumeauWarning)
        yield


def _check(site: Site, instruction: Instruction, state: State) -> Reply:
    schema = read_schema(instruction.meta)
    with quiet_constant_columns():
        problems = [str(p) for p in check_site_data(site.frame, schema, site.cohort)]
    if not problems and len(site.frame) < MIN_ROWS_TO_MODEL:
        problems.append(f"{len(site.frame)} patients, fewer than {MIN_ROWS_TO_MODEL}")
    meta: dict[str, object] = {"problems": problems}
    challenge = instruction.meta.get("challenge")
    if site.key is not None and challenge:
        from jumeau.federated.auth import load_private_pem, sign

        meta["signature"] = sign(load_private_pem(site.key), str(challenge), site.name)
    return Reply(site.name, len(site.frame), meta=meta)


def _sketch(site: Site, instruction: Instruction, state: State) -> Reply:
    schema = read_schema(instruction.meta)
    cohort = site.cohort(schema)
    privacy = instruction.meta.get("sketch_privacy")
    if privacy is None:
        return Reply(
            site.name, len(cohort), column_sketches(cohort.data, schema), {"sha256": cohort.sha256}
        )
    from jumeau.dp.mechanisms import rho_for
    from jumeau.generators.private_sketches import (
        SketchBudgetTooSmallError,
        private_column_sketches,
    )

    epsilon, delta = float(privacy["epsilon"]), float(privacy["delta"])
    spent = instruction.meta.get("bounds_spent", [])
    try:
        sketches = private_column_sketches(
            cohort.data, schema, rho=rho_for(epsilon, delta), bounds_spent=spent
        )
    except SketchBudgetTooSmallError as error:
        raise error.refusal("--sketch-epsilon", epsilon, delta) from None
    # the table's hash is a function of every value: under DP it does not leave the site
    return Reply(site.name, len(cohort), sketches, {"sketch_epsilon": epsilon})


def _bounds(site: Site, instruction: Instruction, state: State) -> Reply:
    """The first release of the sketch budget: noisy power-of-2 histograms of the numbers
    whose range nobody wrote down, which the server sums (`merged_bounds`)."""
    from jumeau.dp.mechanisms import rho_for
    from jumeau.generators.private_sketches import private_bound_histograms

    schema = read_schema(instruction.meta)
    cohort = site.cohort(schema)
    privacy = instruction.meta["sketch_privacy"]
    rho = rho_for(float(privacy["epsilon"]), float(privacy["delta"]))
    return Reply(site.name, len(cohort), private_bound_histograms(cohort.data, schema, rho=rho))


def _idle(site: Site, instruction: Instruction, state: State) -> Reply:
    return Reply(site.name, len(site.frame))


HANDLERS: dict[str, Handler] = {
    "check": _check,
    "bounds": _bounds,
    "sketch": _sketch,
    "idle": _idle,
}


# Model tasks, imported when first asked for: a copula consortium never imports torch.
MODEL_TASKS: dict[str, tuple[str, str]] = {
    "copula-pairs": ("jumeau.federated.copula", "site_pairs"),
    "copula-em": ("jumeau.federated.copula", "site_em_sweep"),
    "copula-flags": ("jumeau.federated.copula", "site_flag_sweep"),
    "neural-train": ("jumeau.federated.neural", "site_train"),
    "rhvae-sample": ("jumeau.federated.rhvae", "site_sample"),
}
