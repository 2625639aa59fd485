"""Read people, their behaviour and the knowledge graph over the items from the store, in pages, into a RecData.

Entity index: the items first, sorted by id (entities with `item_label`, plus every entity that is the target of a
behaviour relationship), then the other entities, sorted by id. The knowledge graph is what export_snapshot reads
(asserted and accepted predicted relationships between entities), remapped. Interactions carry their split code
(SPLIT_NONE when the store has none), timestamp (ms, NO_TIMESTAMP when unknown), weight (the relationship's
weight, 1.0 when it has none) and behaviour type. Sampled negatives (SAMPLED_NEGATIVE) never become interactions:
with the interactions of their split as positives, they are the CTR rows. Item attributes come from the item
nodes' own properties: numbers as item_numeric (NaN where missing), text or booleans with at most
MAX_CATEGORIES values as category codes; the platform's own keys are skipped.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch

from kgplatform.graph.export import export_snapshot
from kgplatform.graph.names import check_label, check_rel_type
from kgplatform.graph.schema import behaviour_types as declared_behaviour_types
from kgplatform.graph.schema import declared_schema
from kgplatform.graph.store import GraphStore, chunks, execute
from kgplatform.ingest.behaviour import DEFAULT_TYPE, NEGATIVE_TYPE
from kgplatform.ingest.records import OWN_PROPERTIES
from kgplatform.progress import ProgressFn
from kgplatform.recommend.data import NO_TIMESTAMP, RecData
from kgplatform.snapshot import SPLIT_CODES, SPLIT_NONE

MAX_CATEGORIES = 50


def _keyset(store: GraphStore, name: str, params: dict, page_size: int) -> list[str]:
    """Every id of a keyset-paged statement (cypher/export/nodes_page, cypher/behaviour/users_page)."""
    out, after = [], ""
    while True:
        rows = execute(store, name, {**params, "after": after, "page_size": page_size}, read_only=True)
        if not rows:
            return out
        out += [r["id"] for r in rows]
        after = rows[-1]["id"]


def _attributes(props: dict[str, dict], item_ids: list[str]) -> tuple:
    """(numeric_names, item_numeric, categorical_names, categorical_values, item_categorical) of the items."""
    values: dict[str, dict[str, object]] = defaultdict(dict)  # key -> item -> value (booleans as 'true'/'false')
    for item, p in props.items():
        for key, value in p.items():
            if key not in OWN_PROPERTIES and not key.startswith("kgp"):
                values[key][item] = str(value).lower() if isinstance(value, bool) else value
    numeric, categorical = [], []
    for key in sorted(values):
        found = list(values[key].values())
        if all(isinstance(v, (int, float)) and math.isfinite(v) for v in found):
            numeric.append(key)
        elif all(isinstance(v, str) for v in found) and len(set(found)) <= MAX_CATEGORIES:
            categorical.append(key)
    item_numeric = torch.tensor([[float(values[k].get(i, math.nan)) for k in numeric] for i in item_ids],
                                dtype=torch.float32).reshape(len(item_ids), len(numeric))
    category_values = [sorted(set(values[k].values())) for k in categorical]
    codes = [{v: c for c, v in enumerate(vals)} for vals in category_values]
    item_categorical = torch.tensor([[codes[j].get(values[k].get(i), -1) for j, k in enumerate(categorical)]
                                     for i in item_ids], dtype=torch.long).reshape(len(item_ids), len(categorical))
    return numeric, item_numeric, categorical, category_values, item_categorical


def _predicted_kg(store: GraphStore, min_probability: float, index: dict[str, int],
                  rel_names: list[str]) -> torch.Tensor:
    rel_index = {r: i for i, r in enumerate(rel_names)}
    rows = execute(store, "behaviour/predicted_kg", {"min_probability": float(min_probability), "limit": 5_000_000},
                   read_only=True)
    kept = [(index[r["head"]], rel_index[r["rel_type"]], index[r["tail"]]) for r in rows
            if r["head"] in index and r["tail"] in index and r["rel_type"] in rel_index]
    return torch.tensor(kept, dtype=torch.long).reshape(-1, 3)


def export_recdata(store: GraphStore, *, item_label: str | None = "Product", behaviour_types: list[str] | None = None,
                   page_size: int = 10000, progress: ProgressFn | None = None,
                   predicted_min_probability: float | None = None) -> RecData:
    """The store's people, behaviour, items and knowledge graph (module docstring). item_label None: the items are
    only the entities that someone behaved towards. behaviour_types: the declared types to read ('purchased' or
    'PURCHASED'; None: all); an undeclared one is a SchemaError. predicted_min_probability: also put the
    platform's proposed predicted KG edges at or above it into the KG (None: asserted and accepted edges only)."""
    declared = declared_behaviour_types(store)
    learnable = [t for t in declared if t != NEGATIVE_TYPE]
    chosen = {check_rel_type(t.strip().upper().replace(" ", "_"), set(learnable)) for t in behaviour_types or ()}
    types = sorted(chosen or learnable)
    read = types + ([NEGATIVE_TYPE] if NEGATIVE_TYPE in declared else [])

    user_ids = _keyset(store, "behaviour/users_page", {}, page_size)
    edges, pages = [], list(chunks(user_ids, max(1, page_size // 10)))
    for n, page in enumerate(pages, start=1):
        for rel_type in read:
            rows = execute(store, "behaviour/edges_page", {"ids": page}, read_only=True,
                           rel_type=check_rel_type(rel_type, set(declared)))
            edges += [{**r, "type": rel_type} for r in rows]
        if progress:
            progress("export behaviour", n, len(pages))

    snapshot = export_snapshot(store, page_size=page_size, progress=progress)
    labelled: list[str] = []
    if item_label is not None and check_label(item_label) in declared_schema(store)[0]:
        labelled = _keyset(store, "export/nodes_page", {"labels": [item_label]}, page_size)
    item_ids = sorted(set(labelled) | {e["item"] for e in edges})
    others = sorted(set(snapshot.node_ids) - set(item_ids))
    entity_ids = item_ids + others
    index = {e: i for i, e in enumerate(entity_ids)}
    user_index = {u: i for i, u in enumerate(user_ids)}
    old = {e: i for i, e in enumerate(snapshot.node_ids)}
    entity_text = [snapshot.node_text[old[e]] if e in old else "" for e in entity_ids]
    remap = torch.tensor([index[e] for e in snapshot.node_ids], dtype=torch.long)
    kg = snapshot.triples()
    kg = torch.stack([remap[kg[:, 0]], kg[:, 1], remap[kg[:, 2]]], dim=1) if len(kg) else kg.reshape(0, 3)
    if predicted_min_probability is not None:
        kg = torch.cat([kg, _predicted_kg(store, predicted_min_probability, index, snapshot.rel_names)])

    behaviour_names = types or [DEFAULT_TYPE]
    type_index = {t: i for i, t in enumerate(behaviour_names)}
    rows, negatives = [], []
    for e in edges:
        u, i, split = user_index[e["user"]], index[e["item"]], SPLIT_CODES.get(e["split"], SPLIT_NONE)
        if e["type"] == NEGATIVE_TYPE:
            negatives.append((split, u, i, 0))
        else:
            timestamp = NO_TIMESTAMP if e["timestamp"] is None else int(e["timestamp"])
            weight = 1.0 if e["weight"] is None else float(e["weight"])
            rows.append((u, timestamp, i, type_index[e["type"]], split, weight))
    rows.sort()
    ctr_splits = {n[0] for n in negatives}
    positives = {(r[4], r[0], r[2], 1) for r in rows if r[4] in ctr_splits}
    ctr = sorted(set(negatives) | positives)

    props: dict[str, dict] = {}
    for page in chunks(item_ids, page_size):
        found = execute(store, "behaviour/entity_properties", {"ids": page, "skip": ["embedding"]}, read_only=True)
        props.update({r["id"]: dict(r["props"] or []) for r in found})
    numeric, item_numeric, categorical, category_values, item_categorical = _attributes(props, item_ids)

    def column(j: int, dtype=torch.long) -> torch.Tensor:
        return torch.tensor([r[j] for r in rows], dtype=dtype)

    return RecData(
        user_ids=user_ids, entity_ids=entity_ids, num_items=len(item_ids), entity_text=entity_text,
        rel_names=snapshot.rel_names, kg=kg,
        interactions=torch.tensor([[r[0], r[2]] for r in rows], dtype=torch.long).reshape(-1, 2),
        split=column(4), timestamp=column(1), weight=column(5, torch.float32), behaviour=column(3),
        behaviour_names=behaviour_names, numeric_names=numeric, item_numeric=item_numeric,
        categorical_names=categorical, categorical_values=category_values, item_categorical=item_categorical,
        ctr=torch.tensor([[c[1], c[2], c[3]] for c in ctr], dtype=torch.long).reshape(-1, 3),
        ctr_split=torch.tensor([c[0] for c in ctr], dtype=torch.long))
