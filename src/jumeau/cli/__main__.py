"""`python -m jumeau.cli`: the same entry point as the `jumeau` script (a Ctrl-C while the
command line loads ends in one line, not a traceback)."""

from jumeau.entry import main

main()
