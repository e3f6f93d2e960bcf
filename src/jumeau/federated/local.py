"""Federated training in one process, without a transport: every site answers in turn.

For tests and for trying a consortium's configuration quickly; the protocol and the site code are
exactly those that Flower runs (`flower.py`). Each site's private state stays in its own
dictionary, as it would stay on its own machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from jumeau.federated.coordinator import Coordinator, FederatedFit
from jumeau.federated.messages import Reply
from jumeau.federated.site import Site, State


def run_locally(
    coordinator: Coordinator,
    sites: Sequence[Site],
    *,
    on_reply: Callable[[Reply], None] | None = None,
) -> FederatedFit:
    """Run `coordinator` to the end with `sites`; `on_reply` sees every message a site sends."""
    states: dict[str, State] = {site.name: {} for site in sites}
    while not coordinator.done:
        instruction = coordinator.instruction()
        replies = []
        for site in sites:
            reply = site.handle(instruction, states[site.name])
            if on_reply is not None:
                on_reply(reply)
            replies.append(reply)
        coordinator.absorb(replies)
    return coordinator.result()
