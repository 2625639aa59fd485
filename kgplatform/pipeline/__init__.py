"""A full prediction run: its config, the pure stages, the same stages with their I/O (steps), and the run directory."""
