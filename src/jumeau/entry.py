"""The `jumeau` command's entry point: the command line loads pandas, torch and every command
module (seconds), and a Ctrl-C during that start-up ends in one line and exit code 130, as it
does once the command runs."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from jumeau.cli import main as command_line
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    command_line()
