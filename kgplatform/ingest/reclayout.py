"""Parse a recommendation dataset folder (shared/datasets/README.md, "Recommendation datasets"), read as it is.
Pure: a folder in, a RecLayout (the item graph + behaviour rows) or InputError out.

  interactions_{train,valid,test}.tsv  user, item[, rating, unix seconds]   -> INTERACTED {split[, rating, timestamp]}
  ctr_{train,valid,test}.tsv           user, item, label 0/1 (optional)     -> label 0: SAMPLED_NEGATIVE {split}
  kg.tsv                               head, relation id, tail              -> the item graph's relationships
  relations.tsv                        relation id, name                    -> types named from the names
  entities.tsv                         id, name, source id[, type, description]
  items.tsv                            item id, entity id, name, source id, description

Interactions and ctr rows name items by item id, mapped to the item's entity through items.tsv. Items are labelled
Product (name and description from items.tsv); other entities by their type (Brand, Category, ...) or Thing. A
ctr file's positives must be exactly the interactions of its split. Ids are kept as written (integers as text).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from kgplatform.errors import InputError, SchemaError
from kgplatform.graph.names import assign_labels, assign_rel_types
from kgplatform.ingest.behaviour import DEFAULT_TYPE, NEGATIVE_TYPE, SPLITS, BehaviourRow, epoch_ms, to_number
from kgplatform.ingest.records import MAX_DESCRIPTION, MAX_ID, MAX_NAME, EntityRow, ParsedGraph, TripleRow, check_text
from kgplatform.ingest.tsv import parse_relations, read_lines, read_triple_lines

ITEM_TYPE = "Product"


@dataclass
class RecLayout:
    graph: ParsedGraph
    behaviour: list[BehaviourRow]  # interactions, then the sampled negatives
    item_entities: set[str]


def is_rec_layout(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "kg.tsv").is_file() and (path / "interactions_train.tsv").is_file()


# Each file's columns: (name, length limit, required); the field counts _fields allows say which may be left out.
ENTITY_COLUMNS = (("id", MAX_ID, True), ("name", MAX_NAME, False), ("source id", MAX_NAME, False),
                  ("type", MAX_NAME, False), ("description", MAX_DESCRIPTION, False))
ITEM_COLUMNS = (("item id", MAX_ID, True), ("entity id", MAX_ID, True), ("name", MAX_NAME, False),
                ("source id", MAX_NAME, False), ("description", MAX_DESCRIPTION, False))
INTERACTION_COLUMNS = (("user", MAX_ID, True), ("item", MAX_ID, True), ("rating", MAX_ID, True),
                       ("timestamp", MAX_ID, True))
CTR_COLUMNS = (("user", MAX_ID, True), ("item", MAX_ID, True), ("label", MAX_ID, True))


def _fields(path: Path, columns: tuple, counts: tuple[int, ...], problems: list[str]):
    """(where, fields padded with '' to every column) of each row with an allowed number of fields, every field's
    text checked."""
    if not path.is_file():
        return
    names = ", ".join(c[0] for c in columns)
    for number, line in read_lines(path, problems):
        fields, where = line.split("\t"), f"{path}:{number}"
        if len(fields) not in counts:
            problems.append(f"{where}: expected {' or '.join(map(str, counts))} tab-separated fields ({names}), "
                            f"got {len(fields)}")
            continue
        given = len(fields)
        fields += [""] * (len(columns) - given)
        found = [p for i, ((what, limit, required), v) in enumerate(zip(columns, fields))
                 if (p := check_text(v, what, limit, required=required and i < given))]
        if found:
            problems.append(f"{where}: {found[0]}")
        else:
            yield where, fields


def _entities(folder: Path, problems: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(entity id -> [name, source id, type, description], item id -> [entity id, name, source id, description])."""
    entities: dict[str, list[str]] = {}
    for where, f in _fields(folder / "entities.tsv", ENTITY_COLUMNS, (3, 4, 5), problems):
        if f[0] in entities:
            problems.append(f"{where}: duplicate entity id {f[0]!r}")
        entities.setdefault(f[0], f[1:])
    items: dict[str, list[str]] = {}
    item_of: dict[str, str] = {}
    for where, f in _fields(folder / "items.tsv", ITEM_COLUMNS, (3, 4, 5), problems):
        if f[0] in items or f[1] in item_of:
            problems.append(f"{where}: duplicate item id {f[0]!r}" if f[0] in items
                            else f"{where}: entity {f[1]!r} is already item {item_of[f[1]]!r}")
            continue
        items[f[0]], item_of[f[1]] = f[1:], f[0]
    if not items:
        problems.append(f"{folder}: no items (items.tsv: item id, entity id, name, source id, description)")
    return entities, items


def _interactions(folder: Path, items: dict, problems: list[str]) -> list[BehaviourRow]:
    rows, seen = [], {}
    for split in SPLITS:
        for where, f in _fields(folder / f"interactions_{split}.tsv", INTERACTION_COLUMNS, (2, 4), problems):
            user, item, rating, timestamp = f
            try:
                if item not in items:
                    raise ValueError(f"unknown item {item[:80]!r} (not in items.tsv)")
                row = BehaviourRow(user, items[item][0], DEFAULT_TYPE, epoch_ms(timestamp) if timestamp else None,
                                   to_number(rating, "rating") if rating else None, split=split, where=where)
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
                continue
            if row.key in seen:
                problems.append(f"{where}: duplicate of {seen[row.key]}")
                continue
            seen[row.key] = where
            rows.append(row)
    return rows


def _negatives(folder: Path, items: dict, positives: list[BehaviourRow], problems: list[str]) -> list[BehaviourRow]:
    """Label-0 rows of the ctr files; their label-1 rows must be the interactions of the same split."""
    rows = []
    for split in SPLITS:
        path = folder / f"ctr_{split}.tsv"
        if not path.is_file():
            continue
        expected = {(r.user, r.item): r.where for r in positives if r.split == split}
        labelled: dict[tuple[str, str], str] = {}
        for where, (user, item, label) in _fields(path, CTR_COLUMNS, (3,), problems):
            if item not in items or label not in ("0", "1"):
                problems.append(f"{where}: " + (f"unknown item {item[:80]!r} (not in items.tsv)" if item not in items
                                                else f"label {label[:20]!r} is not 0 or 1"))
                continue
            pair = (user, items[item][0])
            if pair in labelled:
                problems.append(f"{where}: user {user[:80]!r} and item {item[:80]!r} again (first at {labelled[pair]})")
            elif label == "1" and pair not in expected:
                problems.append(f"{where}: a positive that is not in interactions_{split}.tsv (user {user[:80]!r}, "
                                f"item {item[:80]!r})")
            elif label == "0" and pair in expected:
                problems.append(f"{where}: a negative for a positive of interactions_{split}.tsv ({expected[pair]})")
            elif label == "0":
                rows.append(BehaviourRow(user, pair[1], NEGATIVE_TYPE, split=split, where=where))
            labelled.setdefault(pair, where)
        problems.extend(f"{where}: this interaction has no label-1 row in {path.name}"
                        for pair, where in expected.items() if pair not in labelled)
    return rows


def _entity_rows(entities: dict, items: dict) -> list[EntityRow]:
    """Entity rows whose label is still the type text (items: Product); an item's name, source id and description
    come from items.tsv where it has them."""
    item_entities = {v[0]: v for v in items.values()}
    rows = []
    for ent_id in [*entities, *(e for e in item_entities if e not in entities)]:
        name, source_id, type_text, description = entities.get(ent_id, ["", "", "", ""])
        if ent_id in item_entities:
            _, item_name, item_source, item_description = item_entities[ent_id]
            name, source_id = item_name or name, item_source or source_id
            description, type_text = item_description or description, ITEM_TYPE
        rows.append(EntityRow(ent_id, type_text.strip(), type_text, name, description,
                              (("source_id", source_id),) if source_id else ()))
    return rows


def _triples(folder: Path, known: set[str], problems: list[str]) -> tuple[list[tuple[str, str, str]], dict]:
    """((head, relation source, tail) rows, relation source -> its name). A relation is named from its name in
    relations.tsv, or its id where the name is empty or shared by another relation."""
    names = parse_relations(folder / "relations.tsv", problems) if (folder / "relations.tsv").is_file() else {}
    uses = Counter(names.values())
    source = {r: n if n.strip() and uses[n] == 1 else r for r, n in names.items()}
    triples, seen = [], set()
    for number, head, relation, tail in read_triple_lines(folder / "kg.tsv", problems):
        missing = [x for x in (head, tail) if x not in known]
        problem = (f"unknown entity {missing[0][:80]!r} (not in entities.tsv or items.tsv)" if missing
                   else check_text(relation, "relation id", MAX_ID, required=True)
                   or (f"unknown relation {relation[:80]!r} (not in relations.tsv)" if names and relation not in names
                       else None))
        if problem:
            problems.append(f"{folder / 'kg.tsv'}:{number}: {problem}")
        elif (head, relation, tail) not in seen:
            seen.add((head, relation, tail))
            triples.append((head, source.get(relation, relation), tail))
    return triples, {source[r]: n for r, n in names.items()}


def parse_rec_layout(folder: Path) -> RecLayout:
    folder = Path(folder)
    if not is_rec_layout(folder):
        raise InputError(f"{folder}: not a recommendation dataset folder (needs kg.tsv and interactions_train.tsv)")
    problems: list[str] = []
    entities, items = _entities(folder, problems)
    rows = _entity_rows(entities, items)
    triples, texts = _triples(folder, {e.id for e in rows}, problems)
    interactions = _interactions(folder, items, problems)
    negatives = _negatives(folder, items, interactions, problems)
    if problems:
        raise InputError(f"{folder}: {len(problems)} problem(s); nothing was written", problems)
    try:
        labels = assign_labels({e.label for e in rows})
        rel_types = assign_rel_types({r for _, r, _ in triples})
    except SchemaError as exc:  # two hashes collided: refused rather than merged
        raise InputError(f"{folder}: {exc}; nothing was written") from None
    graph = ParsedGraph(
        [EntityRow(e.id, labels[e.label], e.type, e.name, e.description, e.properties) for e in rows],
        [TripleRow(h, rel_types[r], t, None) for h, r, t in triples],
        {rel_types[r]: text for r, text in texts.items() if r in rel_types}, source=str(folder),
        relation_sources={t: r for r, t in rel_types.items()},
        label_sources={label: text for text, label in labels.items()})
    return RecLayout(graph, interactions + negatives, {v[0] for v in items.values()})
