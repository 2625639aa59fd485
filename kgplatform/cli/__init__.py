"""The `kgp` command line: one module per command group, shared options in common.py; app.py is the root."""
