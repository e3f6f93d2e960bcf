"""The server's side of jumeau's protocol on Flower: a strategy that asks the `Coordinator` for
each round's instruction, hands it the sites' replies, stops the run at the first failure and,
in one last round, tells every site how the run ended."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from jumeau.errors import JumeauError
from jumeau.federated.coordinator import Coordinator, FederatedFit
from jumeau.federated.messages import Instruction, Reply, pack, unpack

try:  # the `federated` extra
    from flwr.common import (
        EvaluateIns,
        EvaluateRes,
        FitIns,
        FitRes,
        Parameters,
        ndarrays_to_parameters,
        parameters_to_ndarrays,
    )
    from flwr.server.client_manager import ClientManager
    from flwr.server.client_proxy import ClientProxy
    from flwr.server.strategy import Strategy
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise JumeauError("federated training needs Flower: pip install 'jumeau[federated]'") from error

# The round after the last one tells every site how the run ended — "finished" (the model is
# complete) or "stopped" with the server's reason — so that a site whose consortium failed
# exits non-zero with that reason instead of "training finished" (Flower ends a run the same
# way whether it succeeded or not)
END_TASKS = ("finished", "stopped")
# The server says how many sites have joined this often while it waits for the rest (seconds)
WAIT_REPORT_SECONDS = 30.0
log = logging.getLogger("jumeau.federated")


class JumeauStrategy(Strategy):
    """Flower strategy driving a `Coordinator`: the same instruction to every site each round."""

    def __init__(
        self,
        coordinator: Coordinator,
        *,
        sites: int,
        timeout: float = 600.0,
        on_reply: Callable[[Reply], None] | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.on_reply = on_reply
        self.members: set[str] | None = None  # the clients that answered the first round
        self.sites = sites
        self.timeout = timeout
        self.error: Exception | None = None
        self.announced = False  # the end round (END_TASKS) has been sent

    def initialize_parameters(self, client_manager: ClientManager) -> Parameters | None:
        return ndarrays_to_parameters([])

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        if self.announced:
            return []
        if self.error is None and not self.coordinator.done:
            clients = self._round_clients(client_manager)
            if self.error is None:
                fit = _fit_ins(self.coordinator.instruction())
                return [(client, fit) for client in clients]
        return self._announce_end(client_manager)

    def _round_clients(self, client_manager: ClientManager) -> list[ClientProxy]:
        """The sites this round goes to: the first round waits for `sites` of them, every later
        round goes to the sites that answered the first (a late joiner gets nothing). Sets
        `error` when too few joined in time or one of them has left."""
        if self.members is not None:  # pinned after the first round
            clients = _connected(client_manager)
            clients = [client for client in clients if str(client.cid) in self.members]
            if len(clients) < len(self.members):
                self.error = JumeauError(
                    f"{len(self.members) - len(clients)} site(s) disconnected during training"
                )
                return []
            return clients
        if not self._wait_for_sites(client_manager):
            self.error = JumeauError(
                f"only {client_manager.num_available()} of {self.sites} sites connected within "
                f"{self.timeout:.0f} s; a site that cannot complete the connection (no "
                "--root-certificate for a TLS server, another CA, a wrong address) never reaches "
                "this server — its own output says why"
            )
            return []
        return _connected(client_manager)

    def _wait_for_sites(self, client_manager: ClientManager) -> bool:
        """Wait up to `timeout` for the sites, saying in the server's log every
        `WAIT_REPORT_SECONDS` how many have joined."""
        waited = 0.0
        while True:
            chunk = min(WAIT_REPORT_SECONDS, max(self.timeout - waited, 0.0))
            if client_manager.wait_for(self.sites, timeout=max(int(chunk), 1)):
                return True
            waited += max(chunk, 1.0)
            if waited >= self.timeout:
                return False
            log.warning(
                "waiting for sites: %d of %d connected after %.0f s (giving up after %.0f s)",
                client_manager.num_available(), self.sites, waited, self.timeout,
            )  # fmt: skip

    def _announce_end(self, client_manager: ClientManager) -> list[tuple[ClientProxy, FitIns]]:
        """Once, to every site still connected: whether the model is complete, or why not."""
        self.announced = True
        if self.error is None:
            end = Instruction("finished", len(self.coordinator.traffic))
        else:
            reason = " ".join(str(self.error).split())[:400]
            end = Instruction("stopped", len(self.coordinator.traffic), meta={"reason": reason})
        if client_manager is None:
            return []
        clients = _connected(client_manager)
        if self.members is not None:
            clients = [client for client in clients if str(client.cid) in self.members]
        fit = _fit_ins(end)
        return [(client, fit) for client in clients]

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[Any],
    ) -> tuple[Parameters | None, dict[str, Any]]:
        if self.error is not None or self.announced:  # nothing to learn from the end round
            return None, {}
        broken = [str(r.metrics.get("site")) for _, r in results if "error" in r.metrics]
        if failures or broken:
            kinds = ", ".join(
                f"{r.metrics['site']!s}: {r.metrics['error']!s}"
                for _, r in results
                if "error" in r.metrics
            )
            self.error = JumeauError(
                f"round {server_round}: {len(failures) + len(broken)} site(s) failed"
                + (f" ({kinds}; details are in each site's own log)" if kinds else "")
            )
            return None, {}
        if self.members is None:
            self.members = {str(proxy.cid) for proxy, _ in results}
        replies = []
        for _, result in results:
            arrays, meta = unpack(
                parameters_to_ndarrays(result.parameters), str(result.metrics["message"])
            )
            reply = Reply(str(result.metrics["site"]), int(result.num_examples), arrays, meta)
            if self.on_reply is not None:
                self.on_reply(reply)
            replies.append(reply)
        try:
            self.coordinator.absorb(replies)
        except Exception as error:
            self.error = error
        return None, {}

    def configure_evaluate(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, EvaluateIns]]:
        return []

    def aggregate_evaluate(
        self, server_round: int, results: list[tuple[ClientProxy, EvaluateRes]], failures: list[Any]
    ) -> tuple[float | None, dict[str, Any]]:
        return None, {}

    def evaluate(
        self, server_round: int, parameters: Parameters
    ) -> tuple[float, dict[str, Any]] | None:
        return None

    def outcome(self) -> FederatedFit:
        """The fitted model, or the error that stopped training."""
        if self.error is not None:
            raise self.error
        if not self.coordinator.done:
            raise JumeauError("federated training ended before the model was complete")
        return self.coordinator.result()


def _fit_ins(instruction: Instruction) -> FitIns:
    values, text = pack(instruction.arrays, instruction.meta)
    config: dict[str, bool | bytes | float | int | str] = {
        "task": instruction.task,
        "round": instruction.round,
        "message": text,
    }
    return FitIns(ndarrays_to_parameters(values), config)


def _connected(client_manager: ClientManager) -> list[ClientProxy]:
    """The clients connected now, in a stable order."""
    return sorted(client_manager.all().values(), key=lambda c: str(c.cid))
