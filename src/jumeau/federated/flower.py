"""jumeau's federated protocol on Flower: its simulation runtime on one machine, gRPC between
machines.

Flower carries the messages; jumeau decides what is in them. A `JumeauStrategy` (server) asks the
`Coordinator` for each round's instruction and hands it the sites' replies; a `JumeauClient`
(hospital) passes each instruction to its `Site`. Every message is a list of float arrays and one
JSON text (`messages.pack`): no pickled object crosses the wire, and what a site sends is exactly
what `Site.handle` returns — aggregates and weights, never rows.

Deployment uses Flower's gRPC server and client (`start_server` / `start_client`), with TLS when
certificates are given. Flower marks these entry points as superseded by its SuperLink/SuperNode
runtime, which needs a packaged Flower App per run; they remain supported in Flower 1.x and map
one to one onto `jumeau federated server` and `jumeau federated client`.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from safetensors.numpy import load as load_arrays
from safetensors.numpy import save as save_arrays

from jumeau.data.schema import Schema
from jumeau.errors import JumeauError
from jumeau.federated.config import FederatedConfig
from jumeau.federated.coordinator import Coordinator, FederatedFit
from jumeau.federated.messages import Instruction, Reply, pack, unpack
from jumeau.federated.site import Site, State
from jumeau.federated.strategy import END_TASKS, JumeauStrategy

try:  # the `federated` extra
    from flwr.client import ClientApp, NumPyClient
    from flwr.common import Context
    from flwr.server import ServerApp, ServerAppComponents, ServerConfig
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise JumeauError("federated training needs Flower: pip install 'jumeau[federated]'") from error

_STATE_KEY = "jumeau-site-state"
# A site started before its server knocks again after these pauses (seconds), then gives up
CONNECT_WAITS = (1.0, 2.0, 4.0, 8.0, 15.0)
log = logging.getLogger("jumeau.federated")


class JumeauClient(NumPyClient):
    """A hospital's Flower client: answers each instruction with its `Site`.

    The site's private state (its Gibbs chain, its optimiser's moments) lives in this object and,
    under the simulation runtime (which rebuilds clients every round), in the node's own Flower
    context — never in a message."""

    def __init__(self, site: Site, context: Context | None = None) -> None:
        self.site = site
        self.flower_context = context
        self.memory: State = {}
        self.tasks: list[str] = []  # what this site answered, for its own log
        self.ending: tuple[str, str] | None = None  # (END_TASKS entry, the server's reason)

    def get_parameters(self, config: dict[str, Any]) -> list[np.ndarray]:
        return []

    def fit(
        self, parameters: list[np.ndarray], config: dict[str, Any]
    ) -> tuple[list[np.ndarray], int, dict[str, Any]]:
        arrays, meta = unpack(parameters, str(config["message"]))
        instruction = Instruction(str(config["task"]), int(config["round"]), arrays, meta)
        if instruction.task in END_TASKS:  # the server's last word: how the run ended
            self.ending = (instruction.task, str(meta.get("reason", "")))
            return [], 0, {"site": self.site.name, "message": ""}
        self.tasks.append(instruction.task)
        state = self._load_state()
        try:
            reply = self.site.handle(instruction, state)
        except Exception as error:  # reported by type only: a message might quote a value
            log.exception("site %s failed on task %s", self.site.name, instruction.task)
            return [], 0, {"site": self.site.name, "error": type(error).__name__, "message": ""}
        self._save_state(state)
        values, text = pack(reply.arrays, reply.meta)
        return values, reply.n, {"site": reply.site, "message": text}

    def evaluate(
        self, parameters: list[np.ndarray], config: dict[str, Any]
    ) -> tuple[float, int, dict[str, Any]]:
        return 0.0, 0, {}

    def _load_state(self) -> State:
        if self.memory or self.flower_context is None:
            return self.memory
        record = self.flower_context.state
        if _STATE_KEY in record:
            blob = record[_STATE_KEY]["arrays"]
            if isinstance(blob, bytes):
                self.memory = dict(load_arrays(blob))
        return self.memory

    def _save_state(self, state: State) -> None:
        self.memory = state
        if self.flower_context is not None and state:
            from flwr.app import ConfigRecord

            blob = save_arrays({k: np.ascontiguousarray(v) for k, v in state.items()})
            self.flower_context.state[_STATE_KEY] = ConfigRecord({"arrays": blob})


def simulate(
    sites: Sequence[Site],
    schema: Schema,
    model: str = "copula",
    *,
    seed: int = 0,
    settings: FederatedConfig | None = None,
    verbose: bool = False,
    on_reply: Callable[[Reply], None] | None = None,
    artificial: int = 0,
    **params: Any,
) -> FederatedFit:
    """Train across `sites` on Flower's simulation runtime (every site on this machine);
    `on_reply` sees every message a site sends, as the server received it."""
    from flwr.simulation import run_simulation

    if len({site.name for site in sites}) != len(sites):
        raise JumeauError(
            "two sites share a name; give each site its own (a site file is named by its stem)"
        )
    settings = settings or FederatedConfig(min_sites=len(sites))
    coordinator = Coordinator(
        schema, model, seed=seed, settings=settings, artificial=artificial, **params
    )
    strategy = JumeauStrategy(coordinator, sites=len(sites), on_reply=on_reply)
    rounds = coordinator.max_rounds + 1  # + the end round
    site_list = list(sites)

    def server_fn(context: Context) -> ServerAppComponents:
        return ServerAppComponents(strategy=strategy, config=ServerConfig(num_rounds=rounds))

    def client_fn(context: Context) -> Any:
        site = site_list[int(context.node_config["partition-id"])]
        return JumeauClient(site, context).to_client()

    cpus = max(1, min(len(site_list), os.cpu_count() or 1))
    backend = {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {"num_cpus": cpus, "include_dashboard": False, "log_to_driver": verbose},
    }
    with _quiet(verbose):
        run_simulation(
            ServerApp(server_fn=server_fn),
            ClientApp(client_fn=client_fn),
            num_supernodes=len(site_list),
            backend_config=backend,  # type: ignore[arg-type]
        )
    return strategy.outcome()


def serve(
    schema: Schema,
    model: str = "copula",
    *,
    address: str = "0.0.0.0:8080",
    seed: int = 0,
    settings: FederatedConfig | None = None,
    certificates: tuple[bytes, bytes, bytes] | None = None,
    timeout: float = 600.0,
    verbose: bool = False,
    artificial: int = 0,
    authorised: dict[str, Any] | None = None,
    **params: Any,
) -> FederatedFit:
    """Run the server of a consortium: waits for `settings.min_sites` sites, trains, returns the
    model. `certificates`: (CA certificate, server certificate, server private key) for TLS;
    `authorised`: site name → public key (`auth.load_authorised`): only those sites may join."""
    from flwr.server import start_server

    settings = settings or FederatedConfig()
    coordinator = Coordinator(
        schema, model, seed=seed, settings=settings, artificial=artificial,
        authorised=authorised, **params,
    )  # fmt: skip
    strategy = JumeauStrategy(coordinator, sites=settings.min_sites, timeout=timeout)
    with _quiet(verbose):
        start_server(
            server_address=address,
            strategy=strategy,
            config=ServerConfig(num_rounds=coordinator.max_rounds + 1),  # + the end round
            certificates=certificates,
        )
    return strategy.outcome()


def connect(
    site: Site,
    server: str,
    *,
    root_certificate: bytes | None = None,
    verbose: bool = False,
) -> list[str]:
    """Take part in a consortium's training as `site` until the server ends it; returns the
    tasks the site answered. Without a root certificate the connection is not encrypted (for a
    closed network or a test only)."""
    import grpc
    from flwr.client import start_client

    client = JumeauClient(site)
    waits = iter(CONNECT_WAITS)
    while True:
        try:
            with _quiet(verbose):
                start_client(
                    server_address=server,
                    client=client.to_client(),
                    root_certificates=root_certificate,
                    insecure=root_certificate is None,
                )
            return _completed_tasks(client, server)
        except grpc.RpcError as exc:
            code = exc.code() if callable(getattr(exc, "code", None)) else None
            wait = next(waits, None)
            # a server not up yet: wait and knock again, a bounded number of times
            if not client.tasks and code == grpc.StatusCode.UNAVAILABLE and wait is not None:
                time.sleep(wait)
                continue
            problem = _connection_problem(server, exc, client.tasks, root_certificate)
            raise JumeauError(problem) from None


def _completed_tasks(client: JumeauClient, server: str) -> list[str]:
    """The tasks a site answered, once the server said the model is complete; otherwise the
    server's reason as one JumeauError line (the site then exits non-zero)."""
    if client.ending is None:
        raise JumeauError(
            f"the server at {server} ended the run after {len(client.tasks)} round(s) without "
            "saying the model was complete; its operator has the reason"
        )
    task, reason = client.ending
    if task != "finished":
        raise JumeauError(f"the server stopped the training: {reason or 'no reason given'}")
    return client.tasks


def _connection_problem(
    server: str, exc: Exception, tasks: list[str], root_certificate: bytes | None
) -> str:
    """One line for a connection the site could not make or keep."""
    details = getattr(exc, "details", None)
    reason = " ".join(str(details() if callable(details) else exc).split())[:160]
    if tasks:
        return (
            f"lost the server at {server} after {len(tasks)} round(s) ({reason}); the run did "
            "not finish — its operator has the reason"
        )
    advice = (
        "check the address and that the server runs"
        if root_certificate is not None
        else "check the address, that the server runs, and give --root-certificate if the "
        "server uses TLS"
    )
    waited = sum(CONNECT_WAITS)
    return f"cannot reach the server at {server} (tried for {waited:.0f} s: {reason}); {advice}"


@contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """Flower logs every round at INFO and warns about its own deprecations; jumeau reports
    progress itself."""
    logger = logging.getLogger("flwr")
    level = logger.level
    if not verbose:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            if not verbose:
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        logger.setLevel(level)
