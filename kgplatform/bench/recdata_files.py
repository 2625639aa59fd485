"""Read a recommendation dataset folder (/work/shared/datasets/README.md, "Recommendation datasets") as RecData.

This is the file route: straight from the TSV layout, no store involved. It is what the library baselines and quick
experiments use; the benchmark proper (`kgp bench recommend`) loads the dataset into the store and reads RecData back
through the store's exporter (graph/export_behaviour.py), so that the store round trip is measured too.

Index layout (the RecData contract): items first, item ``i`` is row ``i`` of ``items.tsv``; the other KG entities follow
in ``entities.tsv`` order (then any KG entity that file does not list, in order of first appearance in ``kg.tsv``).
Users are numbered in order of first appearance over interactions_train, _valid, _test (then ctr_*.tsv).
Item text is the item's name, followed by its description unless the description already starts with the name; other
entities' text is their name. Relation names: the id in relations.tsv when it is a word (``ALSO_BOUGHT``), else the
name column (``music.artist.origin``). Timestamps (unix seconds where a file has them) become epoch ms.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from kgplatform.recommend.data import NO_TIMESTAMP, RecData
from kgplatform.snapshot import SPLIT_CODES

SPLITS = ("train", "valid", "test")


def _rows(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as f:
        return [row for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if row]


def _item_text(name: str, description: str) -> str:
    name, description = name.strip(), description.strip()
    if not description or description.startswith(name):
        return description or name
    return f"{name}. {description}" if name else description


def read_rec_dataset(folder: str | Path) -> RecData:
    """RecData of one dataset folder (items.tsv, entities.tsv, kg.tsv, relations.tsv, interactions_*.tsv and, where
    shipped, ctr_*.tsv)."""
    folder = Path(folder)
    items = _rows(folder / "items.tsv")
    if not items:
        raise ValueError(f"{folder}: no items.tsv rows")
    entity_ids: list[str] = []
    entity_text: list[str] = []
    entity_index: dict[str, int] = {}  # KG entity id -> index
    item_index: dict[str, int] = {}  # item id (as interactions name it) -> index
    for row in items:
        row = row + [""] * (5 - len(row))
        item_id, entity_id, name, _source, description = row[:5]
        if item_id in item_index:
            raise ValueError(f"{folder}/items.tsv: item {item_id!r} listed twice")
        item_index[item_id] = len(entity_ids)
        entity_index.setdefault(entity_id, len(entity_ids))
        entity_ids.append(entity_id)
        entity_text.append(_item_text(name, description))
    num_items = len(entity_ids)

    def entity(eid: str, name: str = "") -> int:
        if eid not in entity_index:
            entity_index[eid] = len(entity_ids)
            entity_ids.append(eid)
            entity_text.append(name or eid)
        return entity_index[eid]

    for row in _rows(folder / "entities.tsv"):
        entity(row[0], row[1] if len(row) > 1 else "")

    rel_rows = _rows(folder / "relations.tsv")
    rel_names = [rid if not rid.lstrip("-").isdigit() else (name or rid) for rid, name, *_ in
                 (r + [""] for r in rel_rows)]
    rel_index = {r[0]: i for i, r in enumerate(rel_rows)}
    kg = []
    for head, rel, tail, *_ in _rows(folder / "kg.tsv"):
        if rel not in rel_index:
            rel_index[rel] = len(rel_names)
            rel_names.append(rel)
        kg.append((entity(head), rel_index[rel], entity(tail)))

    user_ids: list[str] = []
    user_index: dict[str, int] = {}

    def user(uid: str) -> int:
        if uid not in user_index:
            user_index[uid] = len(user_ids)
            user_ids.append(uid)
        return user_index[uid]

    def item(iid: str, path: Path) -> int:
        if iid not in item_index:
            raise ValueError(f"{path}: item {iid!r} is not in items.tsv")
        return item_index[iid]

    pairs, split, timestamp = [], [], []
    for name in SPLITS:
        path = folder / f"interactions_{name}.tsv"
        for row in _rows(path):
            pairs.append((user(row[0]), item(row[1], path)))
            split.append(SPLIT_CODES[name])
            timestamp.append(int(float(row[3])) * 1000 if len(row) > 3 and row[3] else NO_TIMESTAMP)
    ctr, ctr_split = [], []
    for name in SPLITS:
        path = folder / f"ctr_{name}.tsv"
        for uid, iid, label, *_ in _rows(path):
            ctr.append((user(uid), item(iid, path), int(label)))
            ctr_split.append(SPLIT_CODES[name])

    return RecData(
        user_ids=user_ids, entity_ids=entity_ids, num_items=num_items, entity_text=entity_text, rel_names=rel_names,
        kg=torch.tensor(kg, dtype=torch.long).reshape(-1, 3),
        interactions=torch.tensor(pairs, dtype=torch.long).reshape(-1, 2),
        split=torch.tensor(split, dtype=torch.long), timestamp=torch.tensor(timestamp, dtype=torch.long),
        ctr=torch.tensor(ctr, dtype=torch.long).reshape(-1, 3), ctr_split=torch.tensor(ctr_split, dtype=torch.long))
