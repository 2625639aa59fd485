"""Product catalog attributes: JSONL "attributes" objects and extra CSV columns become typed node properties, under
sanitised keys that never shadow the platform's own."""

from __future__ import annotations

import json

import pytest

from kgplatform.errors import InputError
from kgplatform.ingest.catalog import parse_catalog
from kgplatform.ingest.load import ingest_path


def props(store, ent_id: str) -> dict:
    rows = store.query("MATCH (n:Entity {id: $id}) RETURN properties(n) AS p", {"id": ent_id}, read_only=True)
    return {k: v for k, v in rows[0]["p"].items() if k not in ("created_at", "updated_at")}


def test_jsonl_attributes_become_typed_properties(store, tmp_path):
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in [
        {"kind": "brand", "id": "b", "name": "Acme", "attributes": {"country": "DE"}},
        {"kind": "product", "id": "p1", "name": "Cable", "brand": "b",
         "attributes": {"Price (USD)": 9.5, "colour": "red", "stock": 3, "status": "new", "note": None}},
        {"kind": "product", "id": "p2", "name": "Plug", "attributes": {"Weight kg": 0.2}}]) + "\n")
    ingest_path(store, path)
    assert props(store, "p1") == {"id": "p1", "name": "Cable", "description": "", "type": "Product",
                                  "price_usd": 9.5, "colour": "red", "stock": 3, "attr_status": "new"}
    assert props(store, "p2")["weight_kg"] == 0.2
    assert props(store, "b")["country"] == "DE"


def test_csv_extra_columns_are_attributes_numeric_when_they_parse(store, tmp_path):
    folder = tmp_path / "cat"
    folder.mkdir()
    (folder / "products.csv").write_text("id,name,description,price,colour,ean,type\n"
                                         "p1,Cable,,9.50,red,0012345,x\np2,Plug,,,blue,,\n")
    ingest_path(store, folder)
    p1, p2 = props(store, "p1"), props(store, "p2")
    assert (p1["price"], p1["colour"], p1["ean"], p1["attr_type"], p1["type"]) == (9.5, "red", 12345, "x", "Product")
    assert "price" not in p2 and p2["colour"] == "blue"  # an empty cell is absent


@pytest.mark.parametrize("attributes, message", [
    (["red"], "field 'attributes' must be an object, got a list"),
    ({"colour": ["red"]}, "attribute 'colour' must be a string or a number, got a list"),
    ({"fits": True}, "attribute 'fits' must be a string or a number, got a boolean"),
    ({"colour": "r\x00d"}, "attribute 'colour' contains control characters"),
    ({"": 1}, "empty attribute name"),
    ({"big": 2**70}, "attribute 'big' is out of range"),
])
def test_bad_attributes_named_by_line(tmp_path, attributes, message):
    path = tmp_path / "catalog.jsonl"
    path.write_text(json.dumps({"kind": "product", "id": "p0", "name": "Fine"}) + "\n"
                    + json.dumps({"kind": "product", "id": "p1", "name": "Cable", "attributes": attributes}) + "\n")
    with pytest.raises(InputError, match="catalog.jsonl:2: " + message):
        parse_catalog(path)
