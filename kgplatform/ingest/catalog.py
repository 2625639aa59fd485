"""Parse a product catalog: one JSONL file, or a folder of CSV files (products, brands, categories, relations).

JSONL: one object per line with "kind" in product | brand | category | relation.
  product:  {"kind": "product", "id", "name", "description"?, "brand"?: brand id, "category"?: category id}
  brand:    {"kind": "brand", "id", "name", "description"?}
  category: {"kind": "category", "id", "name", "description"?, "parent"?: category id}
  relation: {"kind": "relation", "head", "type", "tail"}        type like ALSO_BOUGHT
  Every field is a string. An integer is accepted as its decimal text (an id 42 is the id "42"); null or a missing
  key is an absent optional field. An entity may also have "attributes": {name: string or number} (a price, a
  colour), stored as node properties. Anything else (a number with a fraction or exponent, true/false, a list, an
  object) is refused, naming the field and line: its text form would be a different id.
CSV folder: products.csv (id,name,description,brand,category), brands.csv (id,name,description),
  categories.csv (id,name,description,parent), relations.csv (head,type,tail); each optional, with a header row
  that names the columns (the ones above, in any order; id and name, or head, type and tail, are required). Any
  other column of an entity file is an attribute: a number where its text parses as one, else text; empty: absent.
  Every row has as many fields as the header. A field other than description never spans lines, so an
  unterminated quote, which would swallow the following rows into one field, is reported with its line.
Relation types are named by graph.names.assign_rel_types ('also bought' -> 'ALSO_BOUGHT'), unique within the
catalog. Attribute names become property keys with records.property_keys ('Price (USD)' -> 'price_usd'; 'attr_' in
front of one of the platform's own keys, such as 'status'). A UTF-8 byte order mark at the start of a file is ignored.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from kgplatform.errors import InputError, SchemaError
from kgplatform.graph.names import assign_rel_types
from kgplatform.ingest.records import (
    MAX_DESCRIPTION,
    MAX_ID,
    MAX_NAME,
    EntityRow,
    ParsedGraph,
    TripleRow,
    check_text,
    property_keys,
    strip_bom,
)

ENTITY_LABELS = {"product": "Product", "brand": "Brand", "category": "Category"}
LINK_FIELDS = {"brand": "HAS_BRAND", "category": "IN_CATEGORY", "parent": "SUBCATEGORY_OF"}
CSV_FILES = {"products.csv": "product", "brands.csv": "brand", "categories.csv": "category",
             "relations.csv": "relation"}
REQUIRED_COLUMNS = {"product": ("id", "name"), "brand": ("id", "name"), "category": ("id", "name"),
                    "relation": ("head", "type", "tail")}
MULTILINE_FIELDS = {"description"}
ENTITY_FIELDS = {"kind", "id", "name", "description", "attributes", *LINK_FIELDS}  # other CSV columns: attributes
MAX_INT = 2**63 - 1  # what a graph store keeps as an integer
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_JSON_KINDS = {list: "a list", dict: "an object", bool: "a boolean", float: "a number with a fraction or exponent"}

Record = tuple[str, object, dict]  # (where: 'file:line', kind, fields)


def _records_from_jsonl(path: Path, problems: list[str]) -> Iterator[Record]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1:
                raw = strip_bom(raw)
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


def _records_from_csv(path: Path, kind: str, problems: list[str]) -> Iterator[Record]:
    """Rows of one catalog CSV as {column: text}, numbered by the line they start on."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, strict=True)
            header: list[str] | None = None
            start = 1  # the line the next row starts on
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:  # the rest of the file cannot be split into rows reliably: stop here
                    if "end of data" in str(exc):
                        problems.append(f"{path}:{start}: unterminated quote: the quoted field opened in this row "
                                        "runs to the end of the file")
                    else:
                        problems.append(f"{path}:{start}: unterminated quote, or a quote inside a quoted field "
                                        f"not doubled: the row runs to line {reader.line_num} ({exc})")
                    return
                where, end, start = start, reader.line_num, reader.line_num + 1
                if not row:  # a blank line
                    continue
                if header is None:
                    header = [h.strip() for h in row]
                    missing = [c for c in REQUIRED_COLUMNS[kind] if c not in header]
                    if missing:
                        problems.append(f"{path}:{where}: the header has no {missing[0]!r} column "
                                        f"(it has: {', '.join(header)[:200]})")
                        return
                    continue
                if len(row) != len(header):
                    problems.append(f"{path}:{where}: expected {len(header)} comma-separated fields "
                                    f"({', '.join(header)}), got {len(row)}")
                    continue
                fields = dict(zip(header, row))
                spanning = [c for c, v in fields.items() if c not in MULTILINE_FIELDS and ("\n" in v or "\r" in v)]
                if spanning:
                    problems.append(f"{path}:{where}: field {spanning[0]!r} runs over {end - where + 1} lines "
                                    f"({where}-{end}): an unterminated quote?")
                    continue
                if kind != "relation":
                    fields["attributes"] = {c: _csv_value(v) for c, v in fields.items() if c not in ENTITY_FIELDS}
                yield f"{path}:{where}", kind, fields
    except UnicodeDecodeError as exc:
        problems.append(f"{path}: not UTF-8 ({exc.reason})")


def _csv_value(text: str) -> str | int | float | None:
    """An attribute cell: None when empty, a number when it parses as one, else the text."""
    text = text.strip()
    if not text:
        return None
    if _INTEGER.match(text):
        return int(text) if abs(int(text)) <= MAX_INT else text
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _kind_of(value: object) -> str:
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _attribute_problem(key: str, value: object) -> str | None:
    if value is None:  # absent, whatever its name
        return None
    problem = check_text(key, "attribute name", MAX_ID, required=True)
    if problem:
        return problem
    if isinstance(value, str):
        return check_text(value, f"attribute {key[:80]!r}", MAX_NAME, required=False)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"attribute {key[:80]!r} must be a string or a number, got {_kind_of(value)}"
    if not math.isfinite(value) or (isinstance(value, int) and abs(value) > MAX_INT):
        return f"attribute {key[:80]!r} is out of range ({str(value)[:40]})"
    return None


def _attributes(obj: dict, where: str, problems: list[str]) -> dict[str, str | int | float] | None:
    """An entity's attributes (name as written -> value; null ones left out); None, with the problems recorded,
    when one is bad."""
    raw = obj.get("attributes")
    if not isinstance(raw, dict | None):
        problems.append(f"{where}: field 'attributes' must be an object, got {_kind_of(raw)}")
        return None
    found = [f"{where}: {p}" for p in (_attribute_problem(k, v) for k, v in (raw or {}).items()) if p]
    problems.extend(found)
    return None if found else {k: v for k, v in (raw or {}).items() if v is not None}


def _records_from_csv_dir(folder: Path, problems: list[str]) -> Iterator[Record]:
    for filename, kind in CSV_FILES.items():
        if (folder / filename).is_file():
            yield from _records_from_csv(folder / filename, kind, problems)


def _text(obj: dict, key: str, where: str, problems: list[str]) -> str | None:
    """A field as text ('' when absent); None, with the problem recorded, when it is not a string or integer."""
    value = obj.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    problems.append(f"{where}: field {key!r} must be a string or an integer, "
                    f"got {_kind_of(value)}")
    return None


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
    entity_attributes: dict[str, dict] = {}  # entity id -> {attribute name as written: value}
    where_defined: dict[str, str] = {}
    links: list[tuple[str, str, str, str]] = []  # (where, head, relation as written, tail)
    for where, kind, obj in records:
        if kind is not None and not isinstance(kind, str):
            problems.append(f"{where}: field 'kind' must be a string, got {_JSON_KINDS.get(type(kind), 'a number')}")
        elif kind in ENTITY_LABELS:
            values = {k: _text(obj, k, where, problems) for k in ("id", "name", "description", *LINK_FIELDS)}
            attributes = _attributes(obj, where, problems)
            if None in values.values() or attributes is None:
                continue
            ent_id, name, description = values["id"], values["name"], values["description"]
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
            if attributes:
                entity_attributes[ent_id] = attributes
            for key, rel_type in LINK_FIELDS.items():
                if values[key]:
                    links.append((where, ent_id, rel_type, values[key]))
        elif kind == "relation":
            values = {k: _text(obj, k, where, problems) for k in ("head", "type", "tail")}
            if None in values.values():
                continue
            problem = check_text(values["type"], "relation type", MAX_ID, required=True)
            if problem:
                problems.append(f"{where}: {problem}")
                continue
            links.append((where, values["head"], values["type"].strip(), values["tail"]))
        else:
            problems.append(f"{where}: unknown kind {str(kind)[:40]!r}; expected product, brand, category or relation")

    triples, seen = [], set()
    for where, head, relation, tail in links:
        missing = [x for x in (head, tail) if x not in entities]
        if missing:
            problems.append(f"{where}: unknown entity {missing[0][:80]!r} in a {relation[:80]!r} link")
        elif (head, relation, tail) not in seen:
            seen.add((head, relation, tail))
            triples.append((head, relation, tail))
    if problems:
        raise InputError(f"{path}: {len(problems)} problem(s); nothing was written", problems)
    try:
        rel_types = assign_rel_types({relation for _, relation, _ in triples})
        keys = property_keys({k for attributes in entity_attributes.values() for k in attributes}, "attr_")
    except SchemaError as exc:  # two hashes collided: refused rather than merged
        raise InputError(f"{path}: {exc}; nothing was written") from None
    for ent_id, attrs in entity_attributes.items():
        entities[ent_id] = replace(entities[ent_id], properties=tuple(sorted((keys[k], v) for k, v in attrs.items())))
    return ParsedGraph(list(entities.values()), [TripleRow(h, rel_types[r], t, None) for h, r, t in triples], {},
                       source=str(path), relation_sources={t: r for r, t in rel_types.items()})
