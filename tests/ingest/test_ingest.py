"""Ingest against a real FalkorDB: datasets, catalogs, bad rows, idempotency."""

from __future__ import annotations

import json

import pytest

from kgplatform.errors import InputError
from kgplatform.graph.schema import relation_registry
from kgplatform.ingest.load import ingest_path, parse_source
from tests.support.datasets import ENTITIES, TRAIN, counts, write_dataset
from tests.support.env import require_dataset


def test_ingest_dataset_folder_labels_and_text(store, tmp_path):
    report = ingest_path(store, write_dataset(tmp_path / "d", ENTITIES, TRAIN))
    assert report["relationships_created"] == 3
    rows = store.query("MATCH (n:Product) RETURN n.id AS id, n.name AS name, n.description AS d ORDER BY id")
    assert rows == [{"id": "p1", "name": "Aurora Headphones", "d": "Wireless headphones by Sonique"},
                    {"id": "p2", "name": "Sonique Cable", "d": ""}]
    split = store.query("MATCH (:Product)-[r:HAS_BRAND]->(:Brand) RETURN collect(DISTINCT r.split) AS s")
    assert split[0]["s"] == ["train"]


def test_ingest_twice_changes_nothing(store, tmp_path):
    folder = write_dataset(tmp_path / "d", ENTITIES, TRAIN)
    ingest_path(store, folder)
    before = counts(store)
    again = ingest_path(store, folder)
    assert again["relationships_created"] == 0
    assert counts(store) == before == (3, 3)


@pytest.mark.parametrize("bad_line, message", [
    ("p9\tonly three\tfields\n", "expected 4 tab-separated fields"),
    ("\tno id\t\tProduct\n", "empty id"),
    ("p1\tduplicate\t\tProduct\n", "duplicate id 'p1'"),
    ("p9\tbad\x01control\t\tProduct\n", "control characters"),
    ("p9\tx\t\tBr\x01and\n", "type contains control characters"),
])
def test_bad_entity_row_names_file_and_line_and_writes_nothing(store, tmp_path, bad_line, message):
    folder = write_dataset(tmp_path / "d", ENTITIES, TRAIN)
    with (folder / "entities.tsv").open("a", encoding="utf-8") as fh:
        fh.write(bad_line)
    with pytest.raises(InputError) as err:
        ingest_path(store, folder)
    assert "entities.tsv:4: " in str(err.value)
    assert message in str(err.value)
    assert counts(store) == (0, 0)


def test_bad_triple_rows_reported_with_line(store, tmp_path):
    folder = write_dataset(tmp_path / "d", ENTITIES, TRAIN + [("p1", "HAS_BRAND", "nope"), ("p1", "HAS_BRAND")])
    with pytest.raises(InputError) as err:
        ingest_path(store, folder)
    text = str(err.value)
    assert "triples_train.tsv:4: unknown entity 'nope'" in text
    assert "triples_train.tsv:5: expected 3 tab-separated fields" in text
    assert counts(store) == (0, 0)


def test_not_utf8_reported(store, tmp_path):
    folder = write_dataset(tmp_path / "d", ENTITIES, TRAIN)
    with (folder / "entities.tsv").open("ab") as fh:
        fh.write(b"p9\t\xff\xfe\t\tProduct\n")
    with pytest.raises(InputError, match=r"entities.tsv:4: not UTF-8"):
        ingest_path(store, folder)


def test_huge_string_rejected(store, tmp_path):
    folder = write_dataset(tmp_path / "d", [*ENTITIES, ("p9", "x" * 5000, "", "Product")], TRAIN)
    with pytest.raises(InputError, match=r"entities.tsv:4: name is 5,000 characters"):
        ingest_path(store, folder)


def test_jsonl_catalog(store, tmp_path):
    path = tmp_path / "catalog.jsonl"
    lines = [
        {"kind": "brand", "id": "brand:acme", "name": "Acme"},
        {"kind": "category", "id": "cat:audio", "name": "Audio"},
        {"kind": "category", "id": "cat:hp", "name": "Headphones", "parent": "cat:audio"},
        {"kind": "product", "id": "p:1", "name": "Acme Over-Ear", "description": "Closed-back headphones",
         "brand": "brand:acme", "category": "cat:hp"},
        {"kind": "product", "id": "p:2", "name": "Acme Cable", "brand": "brand:acme"},
        {"kind": "relation", "head": "p:1", "type": "BOUGHT_TOGETHER", "tail": "p:2"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    report = ingest_path(store, path)
    assert report["rel_types"] == ["BOUGHT_TOGETHER", "HAS_BRAND", "IN_CATEGORY", "SUBCATEGORY_OF"]
    rows = store.query("MATCH (p:Product)-[:HAS_BRAND]->(b:Brand) RETURN count(*) AS n")
    assert rows[0]["n"] == 2


def test_csv_catalog_with_bad_row(store, tmp_path):
    folder = tmp_path / "cat"
    folder.mkdir()
    (folder / "brands.csv").write_text("id,name,description\nbrand:a,Acme,\n")
    (folder / "products.csv").write_text("id,name,description,brand,category\np1,Thing,,brand:a,\np2,,,brand:a,\n")
    with pytest.raises(InputError, match=r"products.csv:3: empty name"):
        ingest_path(store, folder)
    assert counts(store) == (0, 0)
    (folder / "products.csv").write_text("id,name,description,brand,category\np1,Thing,,brand:a,\n")
    assert ingest_path(store, folder)["relationships_created"] == 1


def test_injection_through_relation_type_is_folded_into_a_plain_name(store, tmp_path):
    """Any relation text now maps to a name (graph/names.py); what could break out of the quoting is folded away."""
    path = tmp_path / "evil.jsonl"
    evil = "X]->() WITH 1 AS x MATCH (n) DETACH DELETE n //"
    lines = [{"kind": "brand", "id": "b", "name": "B"}, {"kind": "product", "id": "p", "name": "P"},
             {"kind": "relation", "head": "p", "type": evil, "tail": "b"}]
    path.write_text("\n".join(json.dumps(x) for x in lines))
    report = ingest_path(store, path)
    assert report["rel_types"] == ["X_WITH_1_AS_X_MATCH_N_DETACH_DELETE_N"]
    assert counts(store) == (2, 1)
    assert relation_registry(store)["X_WITH_1_AS_X_MATCH_N_DETACH_DELETE_N"]["source_id"] == evil


def test_injection_through_entity_type_is_folded_into_a_plain_label(store, tmp_path):
    folder = write_dataset(tmp_path / "d", [*ENTITIES, ("p9", "x", "", "Brand`) DETACH DELETE n //")], TRAIN)
    report = ingest_path(store, folder)
    assert "BrandDETACHDELETEN" in report["labels"]
    assert counts(store) == (4, 3)


def test_dataset_relation_names_normalised(tmp_path):
    folder = write_dataset(tmp_path / "d", ENTITIES, [("p1", "_hypernym", "p2"), ("p1", "has`brand", "b1")])
    assert parse_source(folder).rel_types == ["HAS_BRAND", "HYPERNYM"]
    (folder / "triples_train.tsv").write_text("p1\t_hypernym\tp2\n")
    assert parse_source(folder).rel_types == ["HYPERNYM"]


def test_real_dataset_codex_s_counts(store):
    folder = require_dataset("codex-s")
    report = ingest_path(store, folder)
    stats = json.loads((folder / "stats.json").read_text())
    assert report["entities"] == stats.get("n_entities", 2034)
    assert report["relationships_created"] == report["triples"] == 32888 + 1827 + 1828
    assert counts(store) == (2034, 36543)
