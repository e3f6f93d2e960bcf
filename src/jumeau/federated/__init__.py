"""Federated training: generators learned across hospitals whose patient records never leave them.

The protocol (`coordinator.py` on the server, `site.py` at each hospital) is independent of the
transport; `flower.py` runs it on Flower's simulation runtime (one machine) or over gRPC between
machines, and `local.py` runs it in-process for tests and for trying a configuration quickly.
"""
