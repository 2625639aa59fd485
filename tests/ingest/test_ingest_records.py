"""Ingest against a real FalkorDB: a type change replaces the label, and every ingest records itself (KgpIngest)."""

from __future__ import annotations

import pytest

from kgplatform.errors import TransientStoreError
from kgplatform.graph.export import export_snapshot
from kgplatform.graph.store import execute
from kgplatform.ingest.load import ingest_id, ingest_path, ingests_in_progress, load_graph, parse_source
from kgplatform.ingest.records import EntityRow, ParsedGraph
from tests.support.datasets import ENTITIES, TRAIN, counts, write_dataset


def labels_of(store, ent_id: str) -> list[str]:
    rows = store.query("MATCH (n:Entity {id: $id}) RETURN labels(n) AS labels", {"id": ent_id}, read_only=True)
    return sorted(rows[0]["labels"])


def ingest_records(store) -> list[dict]:
    return store.query("MATCH (i:KgpIngest) RETURN i.id AS id, i.source AS source, i.status AS status, "
                       "i.attempts AS attempts, i.entities AS entities, i.triples AS triples, "
                       "i.relationships_created AS created, i.started_at AS started, i.finished_at AS finished "
                       "ORDER BY id", read_only=True)


# --- a type change on re-ingest replaces the label ------------------------------------------------------------

def test_type_change_on_reingest_replaces_the_label(store, tmp_path):
    folder = write_dataset(tmp_path / "d", ENTITIES, TRAIN)
    ingest_path(store, folder)
    assert labels_of(store, "p2") == ["Entity", "Product"]
    changed = [e if e[0] != "p2" else ("p2", "Sonique Cable", "", "Accessory") for e in ENTITIES]
    report = ingest_path(store, write_dataset(folder, changed, TRAIN))
    assert labels_of(store, "p2") == ["Accessory", "Entity"]  # before: ['Accessory', 'Entity', 'Product']
    assert report["relabelled"] == 1
    assert labels_of(store, "p1") == ["Entity", "Product"]
    snapshot = export_snapshot(store)
    i = snapshot.node_ids.index("p2")
    assert snapshot.type_names[int(snapshot.node_type[i])] == "Accessory"  # before: the first label, Product
    type_prop = store.query("MATCH (n:Entity {id: 'p2'}) RETURN n.type AS t", read_only=True)[0]["t"]
    assert type_prop == "Accessory"
    assert counts(store) == (3, 3)
    # and back again, through a graph built in memory
    load_graph(store, ParsedGraph([EntityRow("p2", "Product", "Product", "Sonique Cable", "")]))
    assert labels_of(store, "p2") == ["Entity", "Product"]


def test_labels_left_alone_when_nothing_changed(store, tmp_path):
    folder = write_dataset(tmp_path / "d", ENTITIES, TRAIN)
    ingest_path(store, folder)
    assert ingest_path(store, folder)["relabelled"] == 0


# --- KgpIngest ----------------------------------------------------------------------------------------------------

def test_ingest_records_itself_completed(store, tmp_path):
    folder = write_dataset(tmp_path / "d", ENTITIES, TRAIN)
    report = ingest_path(store, folder)
    [record] = ingest_records(store)
    assert record["id"] == report["ingest_id"] == ingest_id(parse_source(folder))
    assert record["source"] == str(folder.resolve())
    assert record["status"] == "completed" and record["attempts"] == 1
    assert (record["entities"], record["triples"], record["created"]) == (3, 3, 3)
    assert record["started"] <= record["finished"]
    assert ingests_in_progress(store) == []
    # a rerun finds the same record
    ingest_path(store, folder)
    [again] = ingest_records(store)
    assert again["id"] == record["id"] and again["attempts"] == 2 and again["created"] == 0
    # the record is not an entity: nothing counts it, export does not see it
    assert counts(store) == (3, 3)
    assert sorted(export_snapshot(store).node_ids) == ["b1", "p1", "p2"]


class DiesAfter:
    """The store as a killed server leaves it: every statement after the first `writes` writes fails."""

    def __init__(self, store, writes: int):
        self.store, self.left = store, writes
        self.backend, self.graph_name = store.backend, store.graph_name

    def query(self, text, params=None, *, read_only=False, **kwargs):
        if self.left <= 0:
            raise TransientStoreError("FalkorDB unreachable: connection refused (killed)")
        if not read_only:
            self.left -= 1
        return self.store.query(text, params, read_only=read_only, **kwargs)

    def apply_schema(self, rel_types=()):
        return self.store.apply_schema(rel_types)


def many(n: int):
    entities = [(f"p{i}", f"Product {i}", "", "Product") for i in range(n)] + [("b0", "Brand 0", "", "Brand")]
    triples = [(f"p{i}", "HAS_BRAND", "b0") for i in range(n)] + [(f"p{i}", "ALSO_BOUGHT", f"p{i + 1}")
                                                                  for i in range(n - 1)]
    return entities, triples


@pytest.mark.parametrize("writes", [1, 4, 9])
def test_crash_leaves_a_running_record_that_a_rerun_completes(store, tmp_path, writes):
    entities, triples = many(40)
    folder = write_dataset(tmp_path / "d", entities, triples)
    with pytest.raises(TransientStoreError):
        ingest_path(DiesAfter(store, writes), folder, batch_size=10)
    [stuck] = ingests_in_progress(store)
    assert stuck["status"] == "running" and stuck["source"] == str(folder.resolve())
    assert stuck["entities"] == 41 and stuck["triples"] == 79
    nodes, rels = counts(store)
    assert (nodes, rels) != (41, 79)  # partly written, and the record says so
    report = ingest_path(store, folder, batch_size=10)
    assert report["relationships_created"] == 79 - rels
    assert counts(store) == (41, 79)
    assert ingests_in_progress(store) == []
    [record] = ingest_records(store)
    assert record["status"] == "completed" and record["attempts"] == 2


def test_error_reported_by_a_live_store_marks_the_ingest_failed(store, tmp_path, monkeypatch):
    folder = write_dataset(tmp_path / "d", ENTITIES, TRAIN)
    import kgplatform.ingest.load as load

    real = load.write_rows

    def broken(store_, name, rows, **kwargs):
        if name == "ingest/create_asserted":
            raise RuntimeError("disk full")
        return real(store_, name, rows, **kwargs)

    monkeypatch.setattr(load, "write_rows", broken)
    with pytest.raises(RuntimeError):
        ingest_path(store, folder)
    [failed] = ingests_in_progress(store)
    assert failed["status"] == "failed" and "disk full" in failed["error"]
    monkeypatch.setattr(load, "write_rows", real)
    ingest_path(store, folder)
    assert ingests_in_progress(store) == []


def test_in_memory_graphs_get_a_content_id():
    a = ParsedGraph([EntityRow("x", "Product", "Product", "X", "")])
    b = ParsedGraph([EntityRow("x", "Product", "Product", "X", "changed")])
    assert ingest_id(a) == ingest_id(ParsedGraph([EntityRow("x", "Product", "Product", "X", "")]))
    assert ingest_id(a) != ingest_id(b)


def test_ingest_record_is_written_before_the_first_entity(store, tmp_path):
    folder = write_dataset(tmp_path / "d", ENTITIES, TRAIN)
    seen = []

    class Watch(DiesAfter):
        def query(self, text, params=None, *, read_only=False, **kwargs):
            if not read_only:
                seen.append(execute(self.store, "ingest/ingests_in_progress", read_only=True) != [])
            return self.store.query(text, params, read_only=read_only, **kwargs)

    ingest_path(Watch(store, 10**6), folder)
    # the first write is the record itself; every later write (until the last) sees it running
    assert seen[0] is False and all(seen[1:])
