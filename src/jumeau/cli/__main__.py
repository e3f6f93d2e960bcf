"""`python -m jumeau.cli`."""

from jumeau.cli import main

main()
