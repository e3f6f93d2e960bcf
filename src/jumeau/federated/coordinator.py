"""The server's side of federated training: one instruction per round, the same for every site,
and the aggregation of their replies into one fitted jumeau generator.

The protocol is written as a coroutine — `yield` an instruction, receive the sites' replies — so
the whole sequence (check the schema, merge the sketches, fit the model) reads top to bottom, and
any transport can drive it: `local.py` in-process, `flower.py` over Flower.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Generator as Coroutine
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from jumeau.data.schema import Schema
from jumeau.errors import JumeauError
from jumeau.federated.checks import SiteDataError
from jumeau.federated.config import FederatedConfig
from jumeau.federated.context import context_message, schema_meta
from jumeau.federated.messages import Instruction, Reply, message_bytes
from jumeau.generators.base import Generator, check_seed
from jumeau.generators.private_sketches import unbounded_numbers
from jumeau.generators.registry import make_generator
from jumeau.generators.sketches import merged_encoder

FEDERATED_MODELS = ("copula", "vae", "rhvae")


@dataclass(frozen=True)
class RoundTraffic:
    """What one round cost: bytes each way (payload, all sites together) and wall time."""

    round: int
    task: str
    sites: int
    bytes_to_sites: int
    bytes_from_sites: int
    seconds: float


@dataclass
class FederatedFit:
    """A federated training's outcome: the fitted generator and what it took."""

    generator: Generator
    model: str
    seed: int
    sites: dict[str, int]  # site name → patients
    traffic: list[RoundTraffic] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    artificial: Any = None  # rhvae: the Cohort the sites drew from their own codes, if asked
    site_sampling: dict[str, dict[str, int]] = field(default_factory=dict)  # drawn, removed…
    epsilon: dict[str, float] = field(default_factory=dict)  # DP-SGD: (ε, δ) spent per site
    sketch_epsilon: dict[str, float] = field(default_factory=dict)  # DP sketches: ε per site

    @property
    def patients(self) -> int:
        return sum(self.sites.values())

    def traffic_table(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(t) for t in self.traffic])

    def summary(self) -> dict[str, Any]:
        table = self.traffic_table()
        return {
            "model": self.model,
            "seed": self.seed,
            "sites": self.sites,
            "settings": self.settings,
            "rounds": len(table),
            "epsilon": self.epsilon,
            "sketch_epsilon": self.sketch_epsilon,
            "bytes_to_sites": int(table["bytes_to_sites"].sum()) if len(table) else 0,
            "bytes_from_sites": int(table["bytes_from_sites"].sum()) if len(table) else 0,
        }


class Coordinator:
    """Drives one federated fit (see module docstring). Use `instruction()` to get the current
    round's instruction and `absorb(replies)` to hand back the sites' answers."""

    def __init__(
        self,
        schema: Schema,
        model: str = "copula",
        *,
        seed: int = 0,
        settings: FederatedConfig | None = None,
        artificial: int = 0,
        authorised: dict[str, Any] | None = None,
        **params: Any,
    ) -> None:
        if model not in FEDERATED_MODELS:
            raise JumeauError(
                f"federated model must be one of {', '.join(FEDERATED_MODELS)}, not {model!r}"
            )
        if not isinstance(schema, Schema):
            raise JumeauError(f"expected a jumeau Schema, got {type(schema).__name__}")
        self.schema = schema
        self.model = model
        self.seed = check_seed(seed)
        self.settings = settings or FederatedConfig()
        if isinstance(artificial, bool) or not isinstance(artificial, int) or artificial < 0:
            raise JumeauError(f"artificial must be a whole number ≥ 0, not {artificial!r}")
        if artificial and model != "rhvae":
            raise JumeauError(
                "sites draw artificial patients only for rhvae (its geometry-aware sampler needs "
                "their codes); sample other models from the returned generator"
            )
        self.artificial = artificial
        self.authorised = authorised  # site name → Ed25519 public key (auth.py); None: open
        self.artificial_: Any = None
        self.site_sampling_: dict[str, dict[str, int]] = {}
        self.epsilon_: dict[str, float] = {}
        self.sketch_epsilon_: dict[str, float] = {}
        self.generator = make_generator(model, **params)  # invalid parameters fail here
        self.traffic: list[RoundTraffic] = []
        self.sites: dict[str, int] = {}
        self._protocol = self._run()
        self._current: Instruction | None = next(self._protocol)
        self._started = time.perf_counter()

    @property
    def max_rounds(self) -> int:
        """Rounds the fit may take (transports that need the number up front use it): check,
        the private ranges when some are unwritten, sketches, then the model's own."""
        opening = 2 + self._bounds_rounds()
        if self.model == "copula":
            from jumeau.federated.copula import copula_rounds

            return opening + copula_rounds(self.generator)  # type: ignore[arg-type]
        if self.model == "rhvae":
            flow = self._flow_rounds() + (1 if self.artificial else 0)
            return opening + self.settings.rounds + flow
        return opening + self.settings.rounds

    def _bounds_rounds(self) -> int:
        """1 when DP sketches need the sites' summed histograms to find unwritten ranges."""
        return int(
            self.settings.sketch_epsilon is not None and bool(unbounded_numbers(self.schema))
        )

    def _flow_rounds(self) -> int:
        config = self.generator.config
        return max(1, -(-int(getattr(config, "flow_epochs", 1)) // self.settings.local_epochs))

    @property
    def done(self) -> bool:
        return self._current is None

    def instruction(self) -> Instruction:
        """This round's instruction (`idle` once the fit is complete)."""
        if self._current is None:
            return Instruction("idle", len(self.traffic))
        return replace(self._current, round=len(self.traffic))  # sites seed their streams by it

    def absorb(self, replies: list[Reply]) -> None:
        """The sites' replies to the current instruction; moves the protocol one round on."""
        if self._current is None:
            return
        instruction = self._current
        names = [r.site for r in replies]
        if len(set(names)) != len(names):
            raise JumeauError(f"two sites share a name: {sorted(names)}; give each site its own")
        if len(replies) < self.settings.min_sites:
            raise JumeauError(
                f"{len(replies)} site(s) answered; the consortium needs {self.settings.min_sites}"
            )
        if self.sites and set(names) != set(self.sites):
            raise JumeauError(
                f"sites changed during training: expected {sorted(self.sites)}, got {sorted(names)}"
            )
        now = time.perf_counter()
        self.traffic.append(
            RoundTraffic(
                len(self.traffic), instruction.task, len(replies),
                message_bytes(instruction.arrays, instruction.meta) * len(replies),
                sum(message_bytes(r.arrays, r.meta) for r in replies), now - self._started,
            )
        )  # fmt: skip
        self._started = now
        try:
            self._current = self._protocol.send(sorted(replies, key=lambda r: r.site))
        except StopIteration:
            self._current = None

    def result(self) -> FederatedFit:
        if not self.done:
            raise JumeauError("the federated fit has not finished")
        settings = {} if self.model == "copula" else self.settings.model_dump()
        if settings:  # record the rate the sites used
            model_rate = float(getattr(self.generator.config, "learning_rate", 0.0))
            settings["local_learning_rate"] = self.settings.local_rate(model_rate)
        return FederatedFit(
            self.generator, self.model, self.seed, dict(self.sites), list(self.traffic), settings,
            artificial=self.artificial_, site_sampling=self.site_sampling_, epsilon=self.epsilon_,
            sketch_epsilon=self.sketch_epsilon_,
        )  # fmt: skip

    # ------------------------------------------------------------------ protocol
    def _run(self) -> Coroutine[Instruction, list[Reply], None]:
        meta = schema_meta(self.schema)
        challenge = secrets.token_hex(16)
        replies = yield Instruction("check", 0, meta=meta | {"challenge": challenge})
        if self.authorised is not None:
            from jumeau.federated.auth import SiteAuthError, verify

            refused = {
                r.site: why
                for r in replies
                if (why := verify(self.authorised, challenge, r.site, r.meta.get("signature")))
            }
            if refused:
                lines = "; ".join(f"site {site}: {why}" for site, why in refused.items())
                raise SiteAuthError(
                    f"site(s) not authorised, nothing but the schema was sent — {lines}"
                )
        problems = {r.site: r.meta.get("problems", []) for r in replies if r.meta.get("problems")}
        if problems:
            lines = "; ".join(
                f"site {site}: " + ", ".join(found) for site, found in problems.items()
            )
            raise SiteDataError(f"data do not match the schema — {lines}")
        sketch_meta = dict(meta)
        schema = self.schema
        if self.settings.sketch_epsilon is not None:
            privacy = {"epsilon": self.settings.sketch_epsilon, "delta": self.settings.dp_delta}
            sketch_meta["sketch_privacy"] = privacy
            if self._bounds_rounds():  # ranges nobody wrote: found on the sites' sum
                replies = yield Instruction("bounds", 1, meta=sketch_meta)
                schema = self._merged_bounds(replies)
                sketch_meta |= schema_meta(schema) | {
                    "bounds_spent": unbounded_numbers(self.schema)
                }
        replies = yield Instruction("sketch", 1, meta=sketch_meta)
        self.sites = {r.site: r.n for r in replies}
        self.sketch_epsilon_ = {
            r.site: float(r.meta["sketch_epsilon"]) for r in replies if "sketch_epsilon" in r.meta
        }
        encoder, counts = merged_encoder(schema, [r.arrays for r in replies])
        model = self.generator
        model.encoder_, model.schema_ = encoder, encoder.schema_
        context = context_message(self.schema, encoder)
        if self.model == "copula":
            from jumeau.federated.copula import copula_protocol

            yield from copula_protocol(model, encoder, counts, context)  # type: ignore[arg-type]
        else:
            yield from self._neural(context)
        model.seed_ = self.seed
        model.training_rows_ = sum(self.sites.values())
        hashes = sorted(str(r.meta.get("sha256", "")) for r in replies)
        model.training_sha256_ = hashlib.sha256("|".join(hashes).encode()).hexdigest()

    def _merged_bounds(self, replies: list[Reply]) -> Schema:
        """The schema with the ranges read off the sum of the sites' DP bound histograms; a
        range even the sum cannot find is refused with the sketch budget that would do."""
        from jumeau.dp.mechanisms import rho_for
        from jumeau.generators.private_sketches import SketchBudgetTooSmallError, merged_bounds

        epsilon, delta = float(self.settings.sketch_epsilon or 0.0), self.settings.dp_delta
        try:
            return merged_bounds(
                self.schema,
                [r.arrays for r in replies],
                rho=rho_for(epsilon, delta),
                patients=sum(r.n for r in replies),
            )
        except SketchBudgetTooSmallError as error:
            raise error.refusal("--sketch-epsilon", epsilon, delta) from None

    def _neural(
        self, context: tuple[dict[str, np.ndarray], dict[str, Any]]
    ) -> Coroutine[Instruction, list[Reply], None]:
        import torch

        from jumeau.federated.neural import neural_protocol
        from jumeau.generators.vae.model import VAE

        model = self.generator
        assert isinstance(model, VAE)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            model._build(model.encoder_.width_, sum(self.sites.values()))
        settings = self.settings
        adam = settings.strategy == "fedadam"
        common: dict[str, Any] = {
            "local_epochs": settings.local_epochs,
            "proximal_mu": settings.proximal_mu if settings.strategy == "fedprox" else 0.0,
            "server_learning_rate": settings.server_learning_rate if adam else None,
            "local_learning_rate": settings.local_rate(model.config.learning_rate),
        }
        if settings.dp_noise_multiplier is not None:
            if self.model != "vae":
                raise JumeauError("differential privacy (DP-SGD) is available for the vae only")
            common["privacy"] = {
                "noise_multiplier": settings.dp_noise_multiplier,
                "max_grad_norm": settings.dp_max_grad_norm,
                "delta": settings.dp_delta,
            }
        patience = settings.patience or max(10, -(-model.config.patience // settings.local_epochs))
        if self.model != "rhvae":
            self.epsilon_ = yield from neural_protocol(
                model, context, rounds=settings.rounds, patience=patience, **common
            )
            return
        # The RHVAE as it trains centrally: the VAE objective first, then the Riemannian flow.
        # The metric's centroids are each batch's own codes, computed at the site: they never
        # travel; only the networks (encoder, decoder, metric) are averaged.
        yield from neural_protocol(
            model, context, rounds=settings.rounds, patience=patience, phase="vae", **common
        )
        config = model.config
        flow_patience = settings.patience or max(
            5, -(-int(getattr(config, "flow_patience", 20)) // settings.local_epochs)
        )
        yield from neural_protocol(
            model, context, rounds=self._flow_rounds(), patience=flow_patience, phase="flow",
            **common,
        )  # fmt: skip
        from jumeau.federated.rhvae import seal_without_codes, site_sampling
        from jumeau.generators.rhvae.model import RHVAE

        assert isinstance(model, RHVAE)
        seal_without_codes(model)
        if self.artificial:
            self.artificial_, self.site_sampling_ = yield from site_sampling(
                model, context, self.artificial, self.sites
            )
