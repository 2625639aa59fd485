"""Integration fixtures: one real embedded FalkorDB server per test session, a fresh graph per test."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from kgplatform.graph.store import embedded_broker, embedded_server, open_store
from kgplatform.settings import Settings
from tests.support.env import free_port


@pytest.fixture(scope="session")
def kgp_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kgp-home")


@pytest.fixture(scope="session")
def base_settings(kgp_home) -> Settings:
    settings = Settings(KGP_STORE="falkordb", KGP_HOME=kgp_home, KGP_FALKORDB_PORT=free_port())
    server = embedded_server(settings)
    server.start()
    yield settings
    server.stop()
    embedded_broker(settings).stop()  # started by the tests that run workers


@pytest.fixture
def settings(base_settings) -> Settings:
    """Settings pointing at a graph of this test's own."""
    return base_settings.model_copy(update={"graph": f"t_{uuid.uuid4().hex[:10]}"})


@pytest.fixture
def store(settings):
    store = open_store(settings)
    yield store
    store.delete_graph()
    store.close()


@pytest.fixture
def cli_env(settings, monkeypatch) -> dict:
    """Environment for running `kgp` in a subprocess against this test's graph."""
    env = {"KGP_STORE": "falkordb", "KGP_HOME": str(settings.home), "KGP_FALKORDB_PORT": str(settings.falkordb_port),
           "KGP_GRAPH": settings.graph}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


