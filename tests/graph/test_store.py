"""The embedded FalkorDB lifecycle and the store port, against a real server."""

from __future__ import annotations

import pytest

from kgplatform.errors import KgpError, SchemaError, StoreError
from kgplatform.graph import cypher_files
from kgplatform.graph.store import embedded_server, execute, open_store
from kgplatform.settings import Settings
from tests.support.env import free_port


def test_stop_then_start_loses_nothing(tmp_path):
    settings = Settings(KGP_STORE="falkordb", KGP_HOME=tmp_path, KGP_FALKORDB_PORT=free_port(), KGP_GRAPH="g")
    server = embedded_server(settings)
    assert not server.is_running()
    store = open_store(settings)  # starts the server on demand
    assert server.is_running()
    store.query("CREATE (:Entity {id: 'x', name: 'kept'})")
    store.close()
    assert server.stop() is True
    assert not server.is_running()
    assert server.start() is True
    store = open_store(settings)
    assert store.query("MATCH (n:Entity {id: 'x'}) RETURN n.name AS name") == [{"name": "kept"}]
    assert "g" in server.status()["graphs"]
    store.close()
    server.stop()
    assert server.status()["running"] is False


def test_port_owned_by_another_server_is_refused(base_settings, tmp_path):
    other = embedded_server(base_settings.model_copy(update={"home": tmp_path}))
    with pytest.raises(StoreError, match="another Redis"):
        other.start()


def test_read_only_query_refuses_writes(store):
    with pytest.raises(StoreError):
        store.query("CREATE (:Entity {id: 'nope'})", read_only=True)
    assert store.query("MATCH (n:Entity) RETURN count(n) AS n", read_only=True) == [{"n": 0}]


def test_statement_names_are_validated():
    with pytest.raises(KgpError, match="invalid statement name"):
        cypher_files.load("../../etc/passwd")
    with pytest.raises(KgpError, match="no Cypher statement"):
        cypher_files.load("ingest/does_not_exist")


@pytest.mark.parametrize("evil", ["HAS_BRAND`]->() DETACH DELETE n //", "has_brand", "A B", "", "X" * 100,
                                  "HAS_BRAND\u0060"])
def test_rel_type_injection_never_reaches_cypher(store, evil):
    store.query("CREATE (:Entity {id: 'a'})-[:HAS_BRAND]->(:Entity {id: 'b'})")
    with pytest.raises(SchemaError):
        execute(store, "runs/retract_batch", {"run_id": "r", "batch": 10, "include_accepted": True}, rel_type=evil)
    assert store.query("MATCH ()-[r]->() RETURN count(r) AS n") == [{"n": 1}]


def test_label_injection_never_reaches_cypher(store):
    with pytest.raises(SchemaError):
        execute(store, "ingest/merge_entities", {"rows": [{"id": "x", "name": "", "description": "", "type": ""}]},
            label="Product`) DETACH DELETE n //")
    assert store.query("MATCH (n) RETURN count(n) AS n") == [{"n": 0}]


def test_every_statement_file_loads():
    names = [n for folder in ("ingest", "export", "writeback", "runs") for n in cypher_files.statement_names(folder)]
    assert len(names) >= 12
    for name in names:
        text = cypher_files.load(name)
        assert text and not text.startswith("//")
        assert cypher_files.header(name), f"{name} has no header comment"
