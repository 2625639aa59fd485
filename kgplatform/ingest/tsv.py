"""Parse a dataset folder in the layout of shared/datasets/README.md. Pure: files in, ParsedGraph or InputError out.

Relation ids and entity type texts may be anything real sources write (Freebase paths, IRIs, non-ASCII names):
graph.names.assign_rel_types / assign_labels name them, unique within the dataset, and the ParsedGraph keeps
where each name came from (relation_sources, label_sources). A UTF-8 byte order mark at the start of a file is
ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from kgplatform.errors import InputError, SchemaError
from kgplatform.graph.names import assign_labels, assign_rel_types, rel_type_from_text
from kgplatform.ingest.records import (
    MAX_DESCRIPTION,
    MAX_ID,
    MAX_NAME,
    EntityRow,
    ParsedGraph,
    TripleRow,
    check_text,
    strip_bom,
)

SPLIT_FILES = {"train": "triples_train.tsv", "valid": "triples_valid.tsv", "test": "triples_test.tsv"}


def read_lines(path: Path, problems: list[str]) -> list[tuple[int, str]]:
    """(line number, text) pairs; bad encoding is reported with its line, not raised."""
    try:  # the whole file at once when it decodes: ten times faster than line by line
        text = strip_bom(path.read_bytes()).decode("utf-8")
    except UnicodeDecodeError:
        return _read_lines_reporting(path, problems)
    return [(number, line.rstrip("\r")) for number, line in enumerate(text.split("\n"), start=1)
            if line.strip()]


def _read_lines_reporting(path: Path, problems: list[str]) -> list[tuple[int, str]]:
    out = []
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1:
                raw = strip_bom(raw)
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                problems.append(f"{path}:{number}: not UTF-8 ({exc.reason} at byte {exc.start})")
                continue
            if line.strip():
                out.append((number, line))
    return out


def parse_entities(path: Path, problems: list[str]) -> list[EntityRow]:
    """Rows with an empty label: parse_dataset_dir names the labels once it has every type."""
    rows, seen = [], {}
    for number, line in read_lines(path, problems):
        fields = line.split("\t")
        if len(fields) != 4:
            problems.append(f"{path}:{number}: expected 4 tab-separated fields (id, name, description, type), "
                            f"got {len(fields)}")
            continue
        ent_id, name, description, type_text = fields
        for value, what, limit, required in ((ent_id, "id", MAX_ID, True), (name, "name", MAX_NAME, False),
                                             (description, "description", MAX_DESCRIPTION, False),
                                             (type_text, "type", MAX_NAME, False)):
            problem = check_text(value, what, limit, required=required)
            if problem:
                problems.append(f"{path}:{number}: {problem}")
                break
        else:
            if ent_id in seen:
                problems.append(f"{path}:{number}: duplicate id {ent_id!r} (first on line {seen[ent_id]})")
                continue
            seen[ent_id] = number
            rows.append(EntityRow(ent_id, "", type_text, name, description))
    return rows


def parse_relations(path: Path, problems: list[str]) -> dict[str, str]:
    """Relation id -> its text."""
    out = {}
    for number, line in read_lines(path, problems):
        fields = line.split("\t")
        if len(fields) != 2:
            problems.append(f"{path}:{number}: expected 2 tab-separated fields (relation id, text), got {len(fields)}")
            continue
        if not fields[0].strip():
            problems.append(f"{path}:{number}: empty relation id")
            continue
        out[fields[0].strip()] = fields[1]
    return out


def read_triple_lines(path: Path, problems: list[str]) -> Iterator[tuple[int, str, str, str]]:
    """(line number, head, relation, tail) of each row of a head-relation-tail TSV file; a row without exactly
    three fields is a problem ('file:line: ...') and skipped."""
    for number, line in read_lines(path, problems):
        fields = line.split("\t")
        if len(fields) != 3:
            problems.append(f"{path}:{number}: expected 3 tab-separated fields (head, relation, tail), "
                            f"got {len(fields)}")
            continue
        yield number, *fields


def parse_triples(path: Path, entity_ids: dict[str, str], problems: list[str]) -> list[tuple[str, str, str]]:
    """(head, relation id as written (stripped), tail) rows: parse_dataset_dir names the relations.
    entity_ids maps each id to itself: rows share the entity's string instead of holding their own copy (a 10M-row
    file holds 20M id strings otherwise)."""
    rows = []
    relations: dict[str, tuple[str, str | None]] = {}  # as written -> (stripped, problem): a handful per file
    for number, head, relation, tail in read_triple_lines(path, problems):
        if relation not in relations:
            relations[relation] = (relation.strip(), check_text(relation, "relation id", MAX_ID, required=True))
        name, problem = relations[relation]
        if problem:
            problems.append(f"{path}:{number}: {problem}")
            continue
        h, t = entity_ids.get(head), entity_ids.get(tail)
        if h is None or t is None:
            missing = head if h is None else tail
            problems.append(f"{path}:{number}: unknown entity {missing[:80]!r} (not in entities.tsv)")
            continue
        rows.append((h, name, t))
    return rows


def parse_dataset_dir(folder: Path) -> ParsedGraph:
    folder = Path(folder)
    if not (folder / "entities.tsv").is_file():
        raise InputError(f"{folder}: not a dataset folder (no entities.tsv)")
    problems: list[str] = []
    entities = parse_entities(folder / "entities.tsv", problems)
    ids = {e.id: e.id for e in entities}
    texts = parse_relations(folder / "relations.tsv", problems) if (folder / "relations.tsv").is_file() else {}
    first_split: dict[tuple[str, str, str], str] = {}  # a fact listed twice keeps its first split
    for split, filename in SPLIT_FILES.items():
        if (folder / filename).is_file():
            for key in parse_triples(folder / filename, ids, problems):
                first_split.setdefault(key, split)
    if not any((folder / f).is_file() for f in SPLIT_FILES.values()):
        problems.append(f"{folder}: no triples_train.tsv / triples_valid.tsv / triples_test.tsv")
    if problems:
        raise InputError(f"{folder}: {len(problems)} problem(s); nothing was written", problems)
    try:
        labels = assign_labels({e.type.strip() for e in entities})
        rel_types = assign_rel_types({relation for _, relation, _ in first_split})
    except SchemaError as exc:  # two hashes collided: refused rather than merged
        raise InputError(f"{folder}: {exc}; nothing was written") from None
    entities = [replace(e, label=labels[e.type.strip()]) for e in entities]
    triples = [TripleRow(head, rel_types[relation], tail, split)
               for (head, relation, tail), split in first_split.items()]
    relation_text = {rel_types[r]: text for r, text in texts.items() if r in rel_types}
    for relation, text in texts.items():  # listed but unused: named on its own, unless that name is in use
        relation_text.setdefault(rel_type_from_text(relation), text)
    return ParsedGraph(entities, triples, relation_text, source=str(folder),
                       relation_sources={t: r for r, t in rel_types.items()},
                       label_sources={label: text for text, label in labels.items()})
