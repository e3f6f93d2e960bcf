"""What travels between the server and the sites, and how it is measured.

An `Instruction` (server → site) and a `Reply` (site → server) are named float arrays plus a small
JSON-able dictionary. Flower moves lists of arrays and flat dictionaries of scalars, so `pack`
and `unpack` turn one into the other; the same functions count the bytes of every message, which
the benchmark reports per round.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Scalar = bool | int | float | str | bytes


@dataclass(frozen=True)
class Instruction:
    """One round's request to every site: a task name, arrays and settings."""

    task: str
    round: int
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """A site's answer: aggregates and weights only (never a row, never a per-patient code)."""

    site: str
    n: int  # the number of patients behind the aggregates, the weight of this site
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def pack(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> tuple[list[np.ndarray], str]:
    """Arrays in a fixed order, and one JSON text carrying the meta and the arrays' names."""
    names = list(arrays)
    text = json.dumps({"names": names, "meta": meta}, separators=(",", ":"))
    return [np.ascontiguousarray(arrays[name]) for name in names], text


def unpack(values: list[np.ndarray], text: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    content = json.loads(text)
    names = content["names"]
    if len(names) != len(values):
        raise ValueError(f"message has {len(values)} arrays for {len(names)} names")
    return dict(zip(names, values, strict=True)), content["meta"]


def message_bytes(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> int:
    """Payload size: array bytes plus the JSON text (transport framing not counted)."""
    values, text = pack(arrays, meta)
    return sum(int(v.nbytes) for v in values) + len(text.encode())
