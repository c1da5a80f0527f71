"""`python -m anticipate.cli`: the command line."""

from anticipate.cli import main

main()
