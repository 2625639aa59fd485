"""Parse a dataset folder in the layout of shared/datasets/README.md. Pure: files in, ParsedGraph or InputError out."""

from __future__ import annotations

from pathlib import Path

from kgplatform.errors import InputError, SchemaError
from kgplatform.graph.names import label_from_type_text, rel_type_from_text
from kgplatform.ingest.records import MAX_DESCRIPTION, MAX_ID, MAX_NAME, EntityRow, ParsedGraph, TripleRow, check_text

SPLIT_FILES = {"train": "triples_train.tsv", "valid": "triples_valid.tsv", "test": "triples_test.tsv"}


def read_lines(path: Path, problems: list[str]) -> list[tuple[int, str]]:
    """(line number, text) pairs; bad encoding is reported with its line, not raised."""
    out = []
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                problems.append(f"{path}:{number}: not UTF-8 ({exc.reason} at byte {exc.start})")
                continue
            if line.strip():
                out.append((number, line))
    return out


def parse_entities(path: Path, problems: list[str]) -> list[EntityRow]:
    rows, seen = [], {}
    labels_by_type: dict[str, str] = {}
    for number, line in read_lines(path, problems):
        fields = line.split("\t")
        if len(fields) != 4:
            problems.append(f"{path}:{number}: expected 4 tab-separated fields (id, name, description, type), "
                            f"got {len(fields)}")
            continue
        ent_id, name, description, type_text = fields
        for value, what, limit, required in ((ent_id, "id", MAX_ID, True), (name, "name", MAX_NAME, False),
                                             (description, "description", MAX_DESCRIPTION, False)):
            problem = check_text(value, what, limit, required=required)
            if problem:
                problems.append(f"{path}:{number}: {problem}")
                break
        else:
            if ent_id in seen:
                problems.append(f"{path}:{number}: duplicate id {ent_id!r} (first on line {seen[ent_id]})")
                continue
            if type_text not in labels_by_type:
                try:
                    labels_by_type[type_text] = label_from_type_text(type_text)
                except SchemaError as exc:
                    problems.append(f"{path}:{number}: {exc}")
                    continue
            seen[ent_id] = number
            rows.append(EntityRow(ent_id, labels_by_type[type_text], type_text, name, description))
    return rows


def parse_relations(path: Path, problems: list[str]) -> dict[str, str]:
    out = {}
    for number, line in read_lines(path, problems):
        fields = line.split("\t")
        if len(fields) != 2:
            problems.append(f"{path}:{number}: expected 2 tab-separated fields (relation id, text), got {len(fields)}")
            continue
        try:
            out[rel_type_from_text(fields[0])] = fields[1]
        except SchemaError as exc:
            problems.append(f"{path}:{number}: {exc}")
    return out


def parse_triples(path: Path, split: str, entity_ids: set[str], problems: list[str]) -> list[TripleRow]:
    rows, rel_cache = [], {}
    for number, line in read_lines(path, problems):
        fields = line.split("\t")
        if len(fields) != 3:
            problems.append(f"{path}:{number}: expected 3 tab-separated fields (head, relation, tail), "
                            f"got {len(fields)}")
            continue
        head, relation, tail = fields
        if relation not in rel_cache:
            try:
                rel_cache[relation] = rel_type_from_text(relation)
            except SchemaError as exc:
                problems.append(f"{path}:{number}: {exc}")
                continue
        missing = [x for x in (head, tail) if x not in entity_ids]
        if missing:
            problems.append(f"{path}:{number}: unknown entity {missing[0][:80]!r} (not in entities.tsv)")
            continue
        rows.append(TripleRow(head, rel_cache[relation], tail, split))
    return rows


def parse_dataset_dir(folder: Path) -> ParsedGraph:
    folder = Path(folder)
    if not (folder / "entities.tsv").is_file():
        raise InputError(f"{folder}: not a dataset folder (no entities.tsv)")
    problems: list[str] = []
    entities = parse_entities(folder / "entities.tsv", problems)
    ids = {e.id for e in entities}
    relation_text = parse_relations(folder / "relations.tsv", problems) if (folder / "relations.tsv").is_file() else {}
    triples, seen = [], set()
    for split, filename in SPLIT_FILES.items():
        if (folder / filename).is_file():
            for row in parse_triples(folder / filename, split, ids, problems):
                key = (row.head, row.rel_type, row.tail)
                if key not in seen:  # a fact listed twice keeps its first split
                    seen.add(key)
                    triples.append(row)
    if not any((folder / f).is_file() for f in SPLIT_FILES.values()):
        problems.append(f"{folder}: no triples_train.tsv / triples_valid.tsv / triples_test.tsv")
    if problems:
        raise InputError(f"{folder}: {len(problems)} problem(s); nothing was written", problems)
    return ParsedGraph(entities, triples, relation_text, source=str(folder))
