"""Interaction logs against a real FalkorDB: CSV, TSV and JSONL, typed behaviour with its properties, every bad
input named by file and line with nothing written, and idempotent reruns."""

from __future__ import annotations

import json
import re

import pytest

from kgplatform.errors import InputError
from kgplatform.graph.schema import behaviour_types
from kgplatform.ingest.behaviour import epoch_ms, parse_interaction_log
from kgplatform.ingest.load import ingest_path, ingests_in_progress
from tests.support.datasets import ENTITIES, TRAIN, write_dataset
from tests.support.recfolders import behaviour_counts

HEADER = "user,item,type,timestamp,rating,weight,review\n"
ROWS = ('u1,p1,purchased,1700000000,5,2,"great, really"\n'
        "u1,p2,Viewed,2024-05-01T12:30:00Z,,,\n"
        "u2,p1,,1700000000123,,,\n")


@pytest.fixture
def catalog(store, tmp_path):
    """The items behaviour may point at: p1, p2 (Product) and b1 (Brand)."""
    ingest_path(store, write_dataset(tmp_path / "catalog", ENTITIES, TRAIN))
    return store


def edges(store) -> list[dict]:
    return store.query("MATCH (u:User)-[r]->(t:Entity) RETURN u.id AS user, type(r) AS type, t.id AS item, "
                       "properties(r) AS p ORDER BY user, type, item", read_only=True)


def test_csv_log_writes_people_and_typed_behaviour(catalog, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(HEADER + ROWS)
    report = ingest_path(catalog, path)  # detected as a log: a single .csv file
    assert (report["users"], report["interactions"], report["relationships_created"]) == (2, 3, 3)
    rows = edges(catalog)
    assert [(r["user"], r["type"], r["item"]) for r in rows] == [
        ("u1", "PURCHASED", "p1"), ("u1", "VIEWED", "p2"), ("u2", "INTERACTED", "p1")]
    purchased, viewed, interacted = (r["p"] for r in rows)
    assert (purchased["timestamp"], purchased["rating"], purchased["weight"]) == (1700000000000, 5.0, 2.0)
    assert purchased["review"] == "great, really" and purchased["created_at"] > 0
    assert viewed["timestamp"] == 1714566600000
    assert interacted["timestamp"] == 1700000000123  # already ms
    for p in (viewed, interacted):  # what the source does not give is absent; behaviour is never predicted
        assert "rating" not in p and "weight" not in p and "review" not in p and "split" not in p
    assert all("predicted" not in r["p"] for r in rows)
    users = catalog.query("MATCH (u:User) RETURN u.id AS id, labels(u) AS labels ORDER BY id", read_only=True)
    assert users == [{"id": "u1", "labels": ["User"]}, {"id": "u2", "labels": ["User"]}]  # never :Entity
    assert sorted(behaviour_types(catalog)) == ["INTERACTED", "PURCHASED", "VIEWED"]
    assert ingests_in_progress(catalog) == []  # its KgpIngest record completed


def test_tsv_and_jsonl_logs_with_aliases_integer_ids_and_iso_times(catalog, tmp_path):
    tsv = tmp_path / "log.tsv"
    tsv.write_text("user_id\titem_id\ttimestamp\tsplit\n7\tp1\t2024-05-01 12:30:00\ttrain\n7\tb1\t2024-05-01\ttest\n")
    jsonl = tmp_path / "log.jsonl"
    jsonl.write_text("\n".join(json.dumps(x) for x in [
        {"user": 7, "item": "p2", "type": "add to cart", "timestamp": "2024-05-01T14:30:00+02:00", "weight": 0.5},
        {"user_id": "8", "item_id": "p2", "timestamp": 1714566600.5, "rating": "4.5"}]) + "\n")
    assert ingest_path(catalog, tsv)["relationships_created"] == 2
    assert ingest_path(catalog, jsonl)["relationships_created"] == 2  # detected: the first object has "user"
    got = {(r["user"], r["type"], r["item"]): r["p"] for r in edges(catalog)}
    assert got[("7", "INTERACTED", "p1")]["timestamp"] == 1714566600000  # no zone: UTC
    assert got[("7", "INTERACTED", "p1")]["split"] == "train"
    assert got[("7", "INTERACTED", "b1")]["timestamp"] == 1714521600000
    assert got[("7", "ADD_TO_CART", "p2")]["timestamp"] == 1714566600000
    assert got[("7", "ADD_TO_CART", "p2")]["weight"] == 0.5
    assert got[("8", "INTERACTED", "p2")]["timestamp"] == 1714566600500
    assert got[("8", "INTERACTED", "p2")]["rating"] == 4.5


def test_epoch_ms_forms():
    assert epoch_ms(1700000000) == epoch_ms("1700000000") == epoch_ms(1700000000000) == 1700000000000
    assert epoch_ms("2023-11-14T22:13:20Z") == epoch_ms("2023-11-14T23:13:20+01:00") == 1700000000000
    for bad in ("yesterday", "-5", True, "2024-13-01"):
        with pytest.raises(ValueError):
            epoch_ms(bad)


@pytest.mark.parametrize("line, message", [
    ("u3,p1,,yesterday,,,", "malformed timestamp 'yesterday'"),
    ("u3,p1,,,five,,", "rating 'five' is not a number"),
    ("u3,p1,,,,heavy,", "weight 'heavy' is not a number"),
    (",p1,,,,,", "missing user"),
    ("u3,,,,,,", "missing item"),
    ("u1,p1,PURCHASED,1700000000000,,,", "duplicate of line 2"),
    ("u\x013,p1,,,,,", "user contains control characters"),
    ("u3,p1,,,,," + "x" * 60000, "review is 60,000 characters"),
    ("u3,p1,recommended,,,,", "behaviour type 'RECOMMENDED' is reserved"),
    ("u3,p1,buy!,,,,", "behaviour type 'buy!' is not a name"),
    ("u3,p1,,,,", "expected 7 fields"),
    ("u3,nope,,,,,", "unknown item 'nope': no entity with this id in the store"),
    ("u3,p1,has brand,,,,", "behaviour type 'HAS_BRAND' is a relationship type of the knowledge graph"),
])
def test_bad_row_is_named_by_file_and_line_and_nothing_is_written(catalog, tmp_path, line, message):
    path = tmp_path / "log.csv"
    path.write_text(HEADER + ROWS + line + "\n")
    with pytest.raises(InputError) as err:
        ingest_path(catalog, path)
    assert f"log.csv:5: {message}" in str(err.value)
    assert behaviour_counts(catalog) == {"users": 0}
    assert behaviour_types(catalog) == []


@pytest.mark.parametrize("name, text, message", [
    ("log.csv", "user,item,timestmap\nu1,p1,1\n", "log.csv:1: unknown field 'timestmap'"),
    ("log.csv", "item,type\np1,viewed\n", "log.csv:1: the header needs a user"),
    ("log.csv", "user,user_id,item\nu1,u1,p1\n", "log.csv:1: field 'user' given twice"),
    ("log.jsonl", '{"user": "u1", "item": "p1"}\n[1, 2]\n', "log.jsonl:2: expected a JSON object"),
    ("log.jsonl", '{"user": "u1", "item": "p1", "rating": true}\n', "log.jsonl:1: rating 'True' is not a number"),
    ("log.jsonl", '{"user": "u1", "item": "p1"}\n{"user": "u1", "item": 1.5}\n',
     "log.jsonl:2: item must be text or an integer, got float"),
    ("log.csv", "user,item\n", "log.csv: no interactions"),
])
def test_bad_file_shapes(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=re.escape(message)):
        parse_interaction_log(path)


def test_reingest_changes_nothing_and_new_rows_are_added(catalog, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(HEADER + ROWS)
    ingest_path(catalog, path)
    before = behaviour_counts(catalog)
    again = ingest_path(catalog, path)
    assert again["relationships_created"] == 0 and behaviour_counts(catalog) == before
    # the same user, item and type at another time is another event; without a timestamp, once
    path.write_text(HEADER + ROWS + "u1,p1,purchased,1800000000,,,\nu1,p1,purchased,,,,\n")
    assert ingest_path(catalog, path)["relationships_created"] == 2
    assert ingest_path(catalog, path)["relationships_created"] == 0
    assert behaviour_counts(catalog)[("PURCHASED", None)] == 3
    records = catalog.query("MATCH (i:KgpIngest) WHERE 'User' IN i.labels RETURN i.status AS s, i.attempts AS a",
                            read_only=True)
    assert records == [{"s": "completed", "a": 4}]


def test_forced_behaviour_flag_reads_a_jsonl_without_user_key_as_a_log(catalog, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"user_id": "u1", "item_id": "p1"}\n')
    assert ingest_path(catalog, path, behaviour=True)["relationships_created"] == 1
