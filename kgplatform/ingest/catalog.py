"""Parse a product catalog: one JSONL file, or a folder of CSV files (products, brands, categories, relations).

JSONL: one object per line with "kind" in product | brand | category | relation.
  product:  {"kind": "product", "id", "name", "description"?, "brand"?: brand id, "category"?: category id}
  brand:    {"kind": "brand", "id", "name", "description"?}
  category: {"kind": "category", "id", "name", "description"?, "parent"?: category id}
  relation: {"kind": "relation", "head", "type", "tail"}        type like ALSO_BOUGHT
CSV folder: products.csv (id,name,description,brand,category), brands.csv (id,name,description),
  categories.csv (id,name,description,parent), relations.csv (head,type,tail); each optional, with a header row.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from kgplatform.errors import InputError, SchemaError
from kgplatform.graph.names import check_rel_type
from kgplatform.ingest.records import MAX_DESCRIPTION, MAX_ID, MAX_NAME, EntityRow, ParsedGraph, TripleRow, check_text

ENTITY_LABELS = {"product": "Product", "brand": "Brand", "category": "Category"}
LINK_FIELDS = {"brand": "HAS_BRAND", "category": "IN_CATEGORY", "parent": "SUBCATEGORY_OF"}
CSV_FILES = {"products.csv": "product", "brands.csv": "brand", "categories.csv": "category",
             "relations.csv": "relation"}


def _records_from_jsonl(path: Path, problems: list[str]):
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                problems.append(f"{path}:{number}: not a JSON object ({exc})")
                continue
            if not isinstance(obj, dict):
                problems.append(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
                continue
            yield f"{path}:{number}", obj.get("kind"), obj


def _records_from_csv_dir(folder: Path, problems: list[str]):
    for filename, kind in CSV_FILES.items():
        path = folder / filename
        if not path.is_file():
            continue
        try:
            with path.open(encoding="utf-8", newline="") as fh:
                for number, row in enumerate(csv.DictReader(fh), start=2):
                    if None in row:  # more cells than header columns
                        problems.append(f"{path}:{number}: more fields than the header has")
                        continue
                    yield f"{path}:{number}", kind, row
        except UnicodeDecodeError as exc:
            problems.append(f"{path}: not UTF-8 ({exc.reason})")


def _text(obj: dict, key: str) -> str:
    value = obj.get(key)
    return "" if value is None else str(value)


def parse_catalog(path: Path) -> ParsedGraph:
    path = Path(path)
    problems: list[str] = []
    if path.is_dir():
        if not any((path / f).is_file() for f in CSV_FILES):
            raise InputError(f"{path}: no catalog CSV files ({', '.join(CSV_FILES)}) and no entities.tsv")
        records = list(_records_from_csv_dir(path, problems))
    elif path.suffix in (".jsonl", ".ndjson"):
        records = list(_records_from_jsonl(path, problems))
    else:
        raise InputError(f"{path}: expected a dataset folder, a folder of catalog CSVs, or a .jsonl file")

    entities: dict[str, EntityRow] = {}
    where_defined: dict[str, str] = {}
    links: list[tuple[str, str, str, str]] = []  # (where, head, rel_type, tail)
    for where, kind, obj in records:
        if kind in ENTITY_LABELS:
            ent_id, name, description = _text(obj, "id"), _text(obj, "name"), _text(obj, "description")
            problem = (check_text(ent_id, "id", MAX_ID, required=True)
                       or check_text(name, "name", MAX_NAME, required=True)
                       or check_text(description, "description", MAX_DESCRIPTION, required=False))
            if problem:
                problems.append(f"{where}: {problem}")
                continue
            if ent_id in entities:
                problems.append(f"{where}: duplicate id {ent_id!r} (first at {where_defined[ent_id]})")
                continue
            entities[ent_id] = EntityRow(ent_id, ENTITY_LABELS[kind], ENTITY_LABELS[kind], name, description)
            where_defined[ent_id] = where
            for key, rel_type in LINK_FIELDS.items():
                if _text(obj, key):
                    links.append((where, ent_id, rel_type, _text(obj, key)))
        elif kind == "relation":
            try:
                rel_type = check_rel_type(_text(obj, "type"))
            except SchemaError as exc:
                problems.append(f"{where}: {exc}")
                continue
            links.append((where, _text(obj, "head"), rel_type, _text(obj, "tail")))
        else:
            problems.append(f"{where}: unknown kind {str(kind)[:40]!r}; expected product, brand, category or relation")

    triples, seen = [], set()
    for where, head, rel_type, tail in links:
        missing = [x for x in (head, tail) if x not in entities]
        if missing:
            problems.append(f"{where}: unknown entity {missing[0][:80]!r} in a {rel_type} link")
        elif (head, rel_type, tail) not in seen:
            seen.add((head, rel_type, tail))
            triples.append(TripleRow(head, rel_type, tail, None))
    if problems:
        raise InputError(f"{path}: {len(problems)} problem(s); nothing was written", problems)
    return ParsedGraph(list(entities.values()), triples, {}, source=str(path))
