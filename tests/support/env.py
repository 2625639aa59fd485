"""The test environment: the shared datasets beside the repository, free ports, and the real CLI in a child."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO.parent / "shared" / "datasets"


def run_kgp(*args: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real CLI in a child process (`python -m kgplatform.cli ARGS`), with env on top of this environment."""
    return subprocess.run([sys.executable, "-m", "kgplatform.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_dataset(name: str) -> Path:
    path = DATASETS / name
    if not (path / "entities.tsv").is_file():
        pytest.skip(f"dataset {name} not found at {path} (expected ../shared/datasets beside the repo)")
    return path
