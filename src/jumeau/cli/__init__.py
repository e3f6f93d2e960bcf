"""The `jumeau` command line: parses, calls the Python API, prints. No logic of its own.

One module per family of commands; each attaches its commands to the root `app` when imported,
so importing this package builds the whole command line.

Exit codes: 0 success, 1 the data break some rule (validate), 2 an error the user can fix.
"""

from __future__ import annotations

import sys

# `python -m jumeau.cli` imports this package before `__main__` can guard anything: a Ctrl-C
# during these seconds of imports ends in one line and exit 130, as with the `jumeau` script
try:
    # The order of these imports is the order of `jumeau --help`: from data to model to uses.
    # isort: off
    from jumeau.cli import data, generate, validation  # noqa: F401  (each registers commands)
    from jumeau.cli import score, review, twins, images, trials, federated  # noqa: F401

    # isort: on
    from jumeau.cli.app import app
    from jumeau.cli.common import err
except KeyboardInterrupt:
    sys.stderr.write("interrupted\n")
    raise SystemExit(130) from None

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
