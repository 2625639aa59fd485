"""`python -m kgplatform.cli`: the same as the `kgp` command."""

from kgplatform.cli.app import main

main()
