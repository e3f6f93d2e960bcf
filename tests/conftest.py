"""Shared fixtures: small files written on the fly, and the bundled real datasets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from jumeau.datasets import load


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write text (or bytes) to a file in a temporary folder and return its path."""

    def _write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode(encoding))
        return path

    return _write


@pytest.fixture(scope="session")
def gbsg2():
    return load("gbsg2")


@pytest.fixture(scope="session")
def lung():
    return load("lung")
