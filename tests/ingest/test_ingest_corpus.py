"""A malformed-input corpus: every bad file is refused with its file and line, and nothing from it is written.

Also the inputs that look bad but are fine (a UTF-8 BOM, integer ids in JSON), which load as expected.
"""

from __future__ import annotations

import codecs
import json

import pytest

from kgplatform.errors import InputError
from kgplatform.ingest.load import ingest_path, parse_source

BOM = codecs.BOM_UTF8.decode("utf-8")
PRODUCTS_HEADER = "id,name,description,brand,category\n"
BRANDS = "id,name,description\nbrand:a,Acme,\n"


def jsonl(*objects) -> str:
    return "".join(json.dumps(o) + "\n" for o in objects)


BRAND_LINE = {"kind": "brand", "id": "brand:a", "name": "Acme"}

# (case id, {file name: text}, the source to ingest ('' = the folder), expected 'file:line: message' fragment)
BAD = [
    ("csv-unterminated-quote-at-end",
     {"brands.csv": BRANDS,
      "products.csv": PRODUCTS_HEADER + 'p1,"Thing,,brand:a,\np2,Other,,brand:a,\np3,Third,,brand:a,\n'},
     "", "products.csv:2: unterminated quote"),
    ("csv-unterminated-quote-closed-later",
     {"brands.csv": BRANDS,
      "products.csv": PRODUCTS_HEADER + 'p1,"Thing,,brand:a,\np2,Other,,brand:a,\np3,"Third",,brand:a,\n'},
     "", "products.csv:2: unterminated quote"),
    ("csv-quote-swallows-a-row-into-the-name",
     {"brands.csv": BRANDS,
      "products.csv": PRODUCTS_HEADER + 'p0,Zero,,brand:a,\np1,"Thing\np2,Other",,brand:a,\n'},
     "", "products.csv:3: field 'name' runs over 2 lines (3-4)"),
    ("csv-quote-swallows-a-row-into-the-id",
     {"brands.csv": "id,name,description\n\"brand:a\nbrand:b\",Acme,\n"},
     "", "brands.csv:2: field 'id' runs over 2 lines"),
    ("csv-short-row",
     {"brands.csv": BRANDS, "products.csv": PRODUCTS_HEADER + "p1,Thing,,brand:a,\np2,Other\n"},
     "", "products.csv:3: expected 5 comma-separated fields (id, name, description, brand, category), got 2"),
    ("csv-short-relation-row",
     {"brands.csv": BRANDS, "products.csv": PRODUCTS_HEADER + "p1,Thing,,brand:a,\n",
      "relations.csv": "head,type,tail\np1,ALSO_BOUGHT\n"},
     "", "relations.csv:2: expected 3 comma-separated fields (head, type, tail), got 2"),
    ("csv-long-row",
     {"brands.csv": BRANDS + "brand:b,Bolt,,extra\n"},
     "", "brands.csv:3: expected 3 comma-separated fields (id, name, description), got 4"),
    ("csv-header-without-id",
     {"brands.csv": "ident,name,description\nbrand:a,Acme,\n"},
     "", "brands.csv:1: the header has no 'id' column"),
    ("json-id-list",
     {"c.jsonl": jsonl(BRAND_LINE, {"kind": "product", "id": ["p1"], "name": "Thing"})},
     "c.jsonl", "c.jsonl:2: field 'id' must be a string or an integer, got a list"),
    ("json-id-object",
     {"c.jsonl": jsonl(BRAND_LINE, {"kind": "product", "id": {"sku": "p1"}, "name": "Thing"})},
     "c.jsonl", "c.jsonl:2: field 'id' must be a string or an integer, got an object"),
    ("json-id-float",
     {"c.jsonl": jsonl(BRAND_LINE, {"kind": "product", "id": 1.5, "name": "Thing"})},
     "c.jsonl", "c.jsonl:2: field 'id' must be a string or an integer, got a number with a fraction or exponent"),
    ("json-id-bool",
     {"c.jsonl": jsonl(BRAND_LINE, {"kind": "product", "id": True, "name": "Thing"})},
     "c.jsonl", "c.jsonl:2: field 'id' must be a string or an integer, got a boolean"),
    ("json-name-list",
     {"c.jsonl": jsonl(BRAND_LINE, {"kind": "product", "id": "p1", "name": ["Thing"]})},
     "c.jsonl", "c.jsonl:2: field 'name' must be a string or an integer, got a list"),
    ("json-brand-object",
     {"c.jsonl": jsonl(BRAND_LINE, {"kind": "product", "id": "p1", "name": "T", "brand": {"id": "brand:a"}})},
     "c.jsonl", "c.jsonl:2: field 'brand' must be a string or an integer, got an object"),
    ("json-relation-head-list",
     {"c.jsonl": jsonl(BRAND_LINE, {"kind": "product", "id": "p1", "name": "T"},
                       {"kind": "relation", "head": ["p1"], "type": "MADE_BY", "tail": "brand:a"})},
     "c.jsonl", "c.jsonl:3: field 'head' must be a string or an integer, got a list"),
    ("json-relation-type-object",
     {"c.jsonl": jsonl(BRAND_LINE, {"kind": "product", "id": "p1", "name": "T"},
                       {"kind": "relation", "head": "p1", "type": {"t": "X"}, "tail": "brand:a"})},
     "c.jsonl", "c.jsonl:3: field 'type' must be a string or an integer, got an object"),
    ("json-kind-list",
     {"c.jsonl": jsonl(BRAND_LINE, {"kind": ["product"], "id": "p1", "name": "T"})},
     "c.jsonl", "c.jsonl:2: field 'kind' must be a string"),
    ("tsv-empty-relation",
     {"entities.tsv": "p1\tThing\t\tProduct\nb1\tAcme\t\tBrand\n", "triples_train.tsv": "p1\t\tb1\n"},
     "", "triples_train.tsv:1: empty relation id"),
]


def write(folder, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8", newline="")


def nothing_written(store) -> bool:
    rows = store.query("MATCH (n) RETURN count(n) AS n", read_only=True)
    return rows[0]["n"] == 0


@pytest.mark.parametrize("case, files, source, expected", BAD, ids=[c[0] for c in BAD])
def test_bad_input_names_file_and_line_and_writes_nothing(store, tmp_path, case, files, source, expected):
    folder = tmp_path / "in"
    write(folder, files)
    with pytest.raises(InputError) as err:
        ingest_path(store, folder / source if source else folder)
    assert expected in str(err.value), str(err.value)
    assert nothing_written(store)  # not an entity, not the schema node, not an ingest record


def test_unterminated_quote_loses_no_row_silently(tmp_path):
    """Before: the quoted field swallowed rows p2 and p3 and the catalog loaded with one product."""
    write(tmp_path, {"brands.csv": BRANDS,
                     "products.csv": PRODUCTS_HEADER + 'p1,"Thing,,brand:a,\np2,Other,,brand:a,\n'})
    with pytest.raises(InputError, match="unterminated quote"):
        parse_source(tmp_path)


def test_multiline_description_is_fine(tmp_path):
    write(tmp_path, {"brands.csv": BRANDS,
                     "products.csv": PRODUCTS_HEADER + 'p1,Thing,"two\nlines",brand:a,\np2,Other,,brand:a,\n'})
    graph = parse_source(tmp_path)
    assert {e.id: e.description for e in graph.entities}["p1"] == "two\nlines"
    assert len(graph.triples) == 2


# --- a UTF-8 BOM at the start of any file is not part of its first field -------------------------------------

def bom(text: str) -> str:
    return BOM + text


@pytest.mark.parametrize("bom_file", ["entities.tsv", "triples_train.tsv", "relations.tsv"])
def test_bom_in_dataset_files_is_stripped(store, tmp_path, bom_file):
    files = {"entities.tsv": "p1\tThing\t\tProduct\nb1\tAcme\t\tBrand\n", "triples_train.tsv": "p1\tHAS_BRAND\tb1\n",
             "relations.tsv": "HAS_BRAND\thas brand\n"}
    files[bom_file] = bom(files[bom_file])
    write(tmp_path / "d", files)
    report = ingest_path(store, tmp_path / "d")
    assert report["entities"] == 2 and report["relationships_created"] == 1
    ids = store.query("MATCH (n:Entity) RETURN n.id AS id ORDER BY id", read_only=True)
    assert [r["id"] for r in ids] == ["b1", "p1"]
    assert parse_source(tmp_path / "d").relation_text == {"HAS_BRAND": "has brand"}


@pytest.mark.parametrize("bom_file", ["brands.csv", "products.csv"])
def test_bom_in_csv_catalog_is_stripped(store, tmp_path, bom_file):
    files = {"brands.csv": BRANDS, "products.csv": PRODUCTS_HEADER + "p1,Thing,,brand:a,\n"}
    files[bom_file] = bom(files[bom_file])
    write(tmp_path / "c", files)
    report = ingest_path(store, tmp_path / "c")
    assert report["entities"] == 2 and report["relationships_created"] == 1


def test_bom_in_jsonl_catalog_is_stripped(store, tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(bom(jsonl(BRAND_LINE, {"kind": "product", "id": "p1", "name": "T", "brand": "brand:a"})),
                    encoding="utf-8")
    report = ingest_path(store, path)
    assert report["entities"] == 2 and report["relationships_created"] == 1


def test_json_integer_ids_are_their_decimal_text(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(jsonl({"kind": "brand", "id": 7, "name": "Acme"},
                          {"kind": "product", "id": 12345678901234567890, "name": "T", "brand": 7}))
    graph = parse_source(path)
    assert sorted(e.id for e in graph.entities) == ["12345678901234567890", "7"]
    assert [(t.head, t.rel_type, t.tail) for t in graph.triples] == [("12345678901234567890", "HAS_BRAND", "7")]
