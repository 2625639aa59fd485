"""export_recdata against a real FalkorDB: the entity index (items first), the remapped knowledge graph, typed and
timed interactions, item attributes, CTR rows from sampled negatives, and the real lastfm-kgcn round trip."""

from __future__ import annotations

import json
import math

import pytest
import torch

from kgplatform.errors import SchemaError
from kgplatform.graph.export_behaviour import export_recdata
from kgplatform.ingest.load import ingest_path
from kgplatform.recommend.data import NO_TIMESTAMP
from kgplatform.snapshot import SPLIT_CODES, SPLIT_NONE, SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID
from tests.support.env import require_dataset
from tests.support.recfolders import INT_COUNTS, INT_FILES, write_rec_folder

CATALOG = [
    {"kind": "brand", "id": "b:acme", "name": "Acme"},
    {"kind": "category", "id": "c:audio", "name": "Audio"},
    {"kind": "product", "id": "p:2", "name": "Plug", "description": "A plug", "brand": "b:acme",
     "attributes": {"price": 2.5, "colour": "red", "fits": "eu"}},
    {"kind": "product", "id": "p:1", "name": "Cable", "brand": "b:acme", "category": "c:audio",
     "attributes": {"price": 9, "colour": "blue"}},
    {"kind": "product", "id": "p:3", "name": "Lamp", "attributes": {"colour": "red"}},
]
LOG = ("user,item,type,timestamp,weight\n"
       "u:b,p:1,purchased,1700000000,3\n"
       "u:a,p:2,viewed,,\n"
       "u:a,p:1,viewed,1700000001,\n"
       "u:a,b:acme,viewed,1700000002,\n")


@pytest.fixture
def shop(store, tmp_path):
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in CATALOG) + "\n")
    ingest_path(store, path)
    (tmp_path / "log.csv").write_text(LOG)
    ingest_path(store, tmp_path / "log.csv")
    return store


def test_index_kg_interactions_and_attributes(shop):
    data = export_recdata(shop, page_size=2)  # pages smaller than the data
    # items: every Product and everything someone behaved towards (the brand), sorted; then the rest
    assert data.entity_ids == ["b:acme", "p:1", "p:2", "p:3", "c:audio"] and data.num_items == 4
    assert data.entity_text[2] == "Plug. A plug"
    assert data.user_ids == ["u:a", "u:b"]
    triples = {(data.entity_ids[h], data.rel_names[r], data.entity_ids[t]) for h, r, t in data.kg.tolist()}
    assert triples == {("p:1", "HAS_BRAND", "b:acme"), ("p:2", "HAS_BRAND", "b:acme"),
                       ("p:1", "IN_CATEGORY", "c:audio")}
    assert data.behaviour_names == ["PURCHASED", "VIEWED"]
    got = [(data.user_ids[u], data.entity_ids[i], data.behaviour_names[b], int(ts), float(w), int(s))
           for (u, i), b, ts, w, s in zip(data.interactions.tolist(), data.behaviour, data.timestamp, data.weight,
                                          data.split)]
    assert got == [("u:a", "p:2", "VIEWED", NO_TIMESTAMP, 1.0, SPLIT_NONE),  # by user, then time
                   ("u:a", "p:1", "VIEWED", 1700000001000, 1.0, SPLIT_NONE),
                   ("u:a", "b:acme", "VIEWED", 1700000002000, 1.0, SPLIT_NONE),
                   ("u:b", "p:1", "PURCHASED", 1700000000000, 3.0, SPLIT_NONE)]
    assert data.numeric_names == ["price"]
    prices = data.item_numeric[:, 0].tolist()
    assert math.isnan(prices[0]) and prices[1:3] == [9.0, 2.5] and math.isnan(prices[3])
    assert data.categorical_names == ["colour", "fits"]
    assert data.categorical_values == [["blue", "red"], ["eu"]]
    assert data.item_categorical.tolist() == [[-1, -1], [0, -1], [1, 0], [1, -1]]
    assert data.ctr.shape == (0, 3)  # no sampled negatives, no CTR rows
    assert export_recdata(shop).content_hash() == data.content_hash()  # deterministic, whatever the page size


def test_behaviour_types_and_item_label_choices(shop):
    purchased = export_recdata(shop, behaviour_types=["purchased"])
    assert purchased.behaviour_names == ["PURCHASED"] and len(purchased.interactions) == 1
    only_targets = export_recdata(shop, item_label=None)
    assert only_targets.item_ids == ["b:acme", "p:1", "p:2"]
    with pytest.raises(SchemaError, match="unknown relationship type 'RECOMMENDED'"):
        export_recdata(shop, behaviour_types=["RECOMMENDED"])


def test_ctr_rows_are_negatives_plus_the_interactions_of_their_split(store, tmp_path):
    ingest_path(store, write_rec_folder(tmp_path / "lastfm-like", INT_FILES))
    data = export_recdata(store)
    assert (data.num_users, data.num_items, data.num_entities, len(data.kg)) == (
        INT_COUNTS["users"], INT_COUNTS["items"], INT_COUNTS["entities"], INT_COUNTS["kg"])
    for split, code in SPLIT_CODES.items():
        assert int((data.split == code).sum()) == INT_COUNTS[split]
    rows = {(int(s), data.user_ids[u], data.entity_ids[i], label)
            for (u, i, label), s in zip(data.ctr.tolist(), data.ctr_split)}
    expected = {(SPLIT_CODES[name.split("_")[1][:-4]], *line.split("\t")[:2], int(line.split("\t")[2]))
                for name, lines in INT_FILES.items() if name.startswith("ctr_") for line in lines}
    assert rows == expected and len(data.ctr) == len(expected)
    assert "SAMPLED_NEGATIVE" not in data.behaviour_names


def test_real_lastfm_kgcn_round_trip(store):
    folder = require_dataset("lastfm-kgcn")
    stats = json.loads((folder / "stats.json").read_text())
    report = ingest_path(store, folder)
    assert (report["entities"], report["relationships_created"]) == (stats["entities"], stats["kg_triples"])
    behaviour = report["behaviour"]
    assert (behaviour["users"], behaviour["interactions"]) == (stats["users"], stats["positives_total"])
    assert behaviour["negatives"] == sum(v["negatives"] for v in stats["ctr_rows"].values())
    data = export_recdata(store)
    assert (data.num_users, data.num_items, data.num_entities) == (stats["users"], stats["items"], stats["entities"])
    assert len(data.kg) == stats["kg_triples"] and len(data.rel_names) == stats["relations"]
    for split, code in (("train", SPLIT_TRAIN), ("valid", SPLIT_VALID), ("test", SPLIT_TEST)):
        assert int((data.split == code).sum()) == stats["positives"][split]
        ctr = data.ctr[data.ctr_split == code]
        assert len(ctr) == stats["ctr_rows"][split]["rows"]
        assert int(ctr[:, 2].sum()) == stats["ctr_rows"][split]["positives"]
    assert torch.equal(data.weight, torch.ones(len(data.interactions)))
