"""A real S3-API server for tests: moto's standalone server (`python -m moto.server`) in a child process.

No MinIO server is installable here; moto's server speaks the S3 HTTP API over a socket, so s3fs, botocore's
signing and the HTTP round trips are the ones production takes. It accepts any credentials: the tests use dummy
ones, and what they check is that kgplatform never needs to see them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.env import free_port

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "kgp-test-key", "AWS_SECRET_ACCESS_KEY": "kgp-test-secret-do-not-print",
                     "AWS_DEFAULT_REGION": "us-east-1"}


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"moto server not listening on {port} after {timeout} s")


@contextmanager
def s3_server(log_path: Path) -> Iterator[str]:
    """The endpoint URL of a fresh moto S3 server on a free loopback port; skips the test when moto is missing."""
    pytest.importorskip("moto.server", reason="moto[server] is not installed: the S3 tests need its standalone "
                        "server (pip install 'moto[server]'); the file:// tests still run")
    pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'kgplatform[s3]')")
    port = free_port()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **DUMMY_CREDENTIALS})
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def make_bucket(endpoint: str, bucket: str) -> None:
    import s3fs

    s3fs.S3FileSystem(endpoint_url=endpoint, key=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                      secret=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]).mkdir(bucket)


def bucket_files(endpoint: str, prefix: str) -> set[str]:
    """Every key under s3://prefix, relative to it (a fresh client: no listing cache)."""
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=endpoint, key=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                           secret=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"], skip_instance_cache=True)
    return {path[len(prefix) + 1:] for path in fs.find(prefix)}
