"""Recommendation dataset folders (kg.tsv + items.tsv + interactions_*.tsv [+ ctr_*.tsv]) against a real FalkorDB:
integer and string ids, 2- and 4-column interactions, sampled negatives, bad rows by file and line, reruns."""

from __future__ import annotations

import json

import pytest

from kgplatform.errors import InputError
from kgplatform.graph.schema import relation_registry
from kgplatform.ingest.load import ingest_path
from tests.support.datasets import counts
from tests.support.env import run_kgp
from tests.support.recfolders import INT_COUNTS, INT_FILES, STR_FILES, behaviour_counts, write_rec_folder


def test_integer_ids_two_columns_and_ctr(store, tmp_path):
    folder = write_rec_folder(tmp_path / "lastfm-like", INT_FILES)
    report = ingest_path(store, folder)
    assert (report["entities"], report["triples"], report["relationships_created"]) == (5, 4, 4)
    assert report["behaviour"]["relationships_created"] == 8 + 4
    labels = store.query("MATCH (n:Entity) RETURN n.id AS id, [x IN labels(n) WHERE x <> 'Entity'][0] AS label, "
                         "n.name AS name, n.description AS d, n.source_id AS s ORDER BY id", read_only=True)
    assert [r["label"] for r in labels] == ["Product", "Product", "Product", "Thing", "Thing"]
    assert labels[2] == {"id": "2", "label": "Product", "name": "Moi dix Mois", "d": "Visual kei band",
                         "s": "lastfm-artist:4"}
    assert relation_registry(store)["MUSIC_ARTIST_ORIGIN"] == {"source_id": "music.artist.origin",
                                                               "text": "music.artist.origin"}
    assert behaviour_counts(store) == {"users": 3, ("INTERACTED", "train"): 4, ("INTERACTED", "valid"): 2,
                                       ("INTERACTED", "test"): 2, ("SAMPLED_NEGATIVE", "train"): 2,
                                       ("SAMPLED_NEGATIVE", "valid"): 1, ("SAMPLED_NEGATIVE", "test"): 1}
    assert sum(v for k, v in behaviour_counts(store).items() if k[0] == "SAMPLED_NEGATIVE") == INT_COUNTS["negatives"]
    before = (counts(store), behaviour_counts(store))
    again = ingest_path(store, folder)
    assert again["relationships_created"] == again["behaviour"]["relationships_created"] == 0
    assert (counts(store), behaviour_counts(store)) == before


def test_string_ids_four_columns_typed_entities(store, tmp_path):
    folder = write_rec_folder(tmp_path / "amazon-like", STR_FILES)
    report = ingest_path(store, folder)
    assert report["behaviour"]["negatives"] == 0
    assert report["rel_types"] == ["ALSO_BOUGHT", "HAS_BRAND", "IN_CATEGORY"]
    rows = store.query("MATCH (n:Entity) RETURN n.id AS id, [x IN labels(n) WHERE x <> 'Entity'][0] AS label, "
                       "n.description AS d ORDER BY id", read_only=True)
    assert [(r["id"], r["label"]) for r in rows] == [
        ("brand:acme", "Brand"), ("category:cards", "Category"), ("product:A1", "Product"),
        ("product:B2", "Product"), ("product:C3", "Product")]
    assert rows[2]["d"] == "Delivered by e-mail"  # an item's text comes from items.tsv
    got = store.query("MATCH (u:User {id: 'user:X'})-[r:INTERACTED]->(t:Entity {id: 'product:A1'}) "
                      "RETURN r.split AS split, r.timestamp AS ts, r.rating AS rating ORDER BY ts", read_only=True)
    assert got == [{"split": "train", "ts": 1506902400000, "rating": 5.0},
                   {"split": "test", "ts": 1518307200000, "rating": 4.0}]


@pytest.mark.parametrize("changes, message", [
    ({"ctr_train": INT_FILES["ctr_train.tsv"] + ["1\t0\t1"]},
     "ctr_train.tsv:7: a positive that is not in interactions_train.tsv (user '1', item '0')"),
    ({"ctr_valid": INT_FILES["ctr_valid.tsv"][1:]},
     "interactions_valid.tsv:1: this interaction has no label-1 row in ctr_valid.tsv"),
    ({"ctr_test": INT_FILES["ctr_test.tsv"] + ["2\t2\t0"]},
     "ctr_test.tsv:4: user '2' and item '2' again (first at"),
    ({"ctr_test": INT_FILES["ctr_test.tsv"] + ["2\t0\t2"]}, "ctr_test.tsv:4: label '2' is not 0 or 1"),
    ({"interactions_test": ["1\t1", "2\t9"]}, "interactions_test.tsv:2: unknown item '9' (not in items.tsv)"),
    ({"interactions_test": ["1\t1", "2\t2\t5"]}, "interactions_test.tsv:2: expected 2 or 4 tab-separated fields"),
    ({"interactions_test": ["1\t1", "2\t2\tfive\t1"]}, "interactions_test.tsv:2: rating 'five' is not a number"),
    ({"interactions_test": ["1\t1", "2\t2\t5\tnoon"]}, "interactions_test.tsv:2: malformed timestamp 'noon'"),
    ({"interactions_train": INT_FILES["interactions_train.tsv"] + ["0\t0"]},
     "interactions_train.tsv:5: duplicate of"),
    ({"kg": INT_FILES["kg.tsv"] + ["0\t0\t99"]}, "kg.tsv:5: unknown entity '99'"),
    ({"kg": INT_FILES["kg.tsv"] + ["0\t7\t4"]}, "kg.tsv:5: unknown relation '7' (not in relations.tsv)"),
    ({"items": INT_FILES["items.tsv"] + ["3\t2\tagain\t\t"]}, "items.tsv:4: entity '2' is already item '2'"),
    ({"entities": INT_FILES["entities.tsv"] + ["5\tb\x01d\tx"]}, "entities.tsv:6: name contains control characters"),
])
def test_bad_rows_named_by_file_and_line_and_nothing_written(store, tmp_path, changes, message):
    folder = write_rec_folder(tmp_path / "bad", INT_FILES, **changes)
    with pytest.raises(InputError) as err:
        ingest_path(store, folder)
    assert message in str(err.value)
    assert counts(store) == (0, 0) and behaviour_counts(store) == {"users": 0}


def test_cli_detects_the_layout(cli_env, tmp_path):
    folder = write_rec_folder(tmp_path / "lastfm-like", INT_FILES, ctr_train=None, ctr_valid=None, ctr_test=None)
    result = run_kgp("ingest", str(folder), env=cli_env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ingested 5 entities and 4 relationships (4 new)" in result.stdout
    assert "ingested 3 people with 8 interactions (8 new relationships)" in result.stdout
    log = tmp_path / "events.jsonl"
    log.write_text('{"user_id": "9", "item_id": "0", "type": "viewed"}\n')
    result = run_kgp("ingest", str(log), "--behaviour", "--json", env=cli_env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["created_per_type"] == {"VIEWED": 1}
