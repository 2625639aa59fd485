"""Read the chosen labels and relationship types from the store, in pages, into a Snapshot."""

from __future__ import annotations

import numpy as np
import torch

from kgplatform.graph.names import check_label, check_rel_type
from kgplatform.graph.schema import declared_schema
from kgplatform.graph.store import GraphStore, execute
from kgplatform.progress import ProgressFn
from kgplatform.snapshot import SPLIT_CODES, SPLIT_NONE, SPLIT_TRAIN, Snapshot
from kgplatform.textnorm import node_text

# cypher/export/edges_page.cypher's state of a predicted edge
PREDICTED, ACCEPTED, REJECTED = "predicted:", "predicted:accepted", "predicted:rejected"


def export_snapshot(store: GraphStore, *, labels: list[str] | None = None, rel_types: list[str] | None = None,
                    page_size: int = 10000, progress: ProgressFn | None = None) -> Snapshot:
    """Asserted (and accepted) relationships become edges; other predicted ones become `excluded` rows, and the
    rejected ones also `rejected` rows (known negatives for training)."""
    declared_labels, declared_types = declared_schema(store)
    labels = [check_label(x, declared_labels) for x in (labels or [])]
    rel_types = [check_rel_type(x, declared_types) for x in (rel_types or [])]

    node_ids, node_labels, texts, pages = [], [], [], []
    after = ""
    while True:
        rows = execute(store, "export/nodes_page", {"after": after, "labels": labels, "page_size": page_size},
                   read_only=True)
        if not rows:
            break
        pages.append([r["id"] for r in rows])
        for r in rows:
            node_ids.append(r["id"])
            node_labels.append(r["label"] or "Thing")
            texts.append(node_text(r["name"], r["description"]))
        after = rows[-1]["id"]
        if progress:
            progress("export nodes", len(node_ids), len(node_ids))

    index = {node_id: i for i, node_id in enumerate(node_ids)}
    type_names = sorted(set(node_labels))
    type_index = {t: i for i, t in enumerate(type_names)}

    # Per (type, state) group of a page: index arrays, never a tuple per edge (a million edges in seconds).
    facts: list[tuple[str, int, np.ndarray, np.ndarray]] = []  # (type, split, heads, tails)
    excluded: list[tuple[str, bool, np.ndarray, np.ndarray]] = []  # (type, rejected, heads, tails)
    for page_number, page_ids in enumerate(pages, start=1):
        rows = execute(store, "export/edges_page", {"ids": page_ids, "rel_types": rel_types},
                   read_only=True)
        for r in rows:
            rel, state = r["rel"], r["state"]
            heads = np.fromiter((index.get(x, -1) for x in r["heads"]), dtype=np.int64, count=len(r["heads"]))
            tails = np.fromiter((index.get(x, -1) for x in r["tails"]), dtype=np.int64, count=len(r["tails"]))
            inside = (heads >= 0) & (tails >= 0)  # else an endpoint outside the chosen labels
            heads, tails = heads[inside], tails[inside]
            if state is None or not state.startswith(PREDICTED) or state == ACCEPTED:
                split = SPLIT_TRAIN if state == ACCEPTED else SPLIT_CODES.get(state, SPLIT_NONE)
                facts.append((rel, split, heads, tails))
            else:
                excluded.append((rel, state == REJECTED, heads, tails))
        if progress:
            progress("export edges", page_number, len(pages))

    rel_names = sorted({f[0] for f in facts} | {e[0] for e in excluded})
    rel_index = {name: i for i, name in enumerate(rel_names)}
    fact_rows = _rows([(rel_index[rel], heads, tails, np.full(len(heads), split)) for rel, split, heads, tails
                       in facts], columns=4)
    fact_rows = fact_rows[np.lexsort((fact_rows[:, 2], fact_rows[:, 1], fact_rows[:, 0]))]  # store order varies
    excluded_rows = _rows([(rel_index[rel], heads, tails) for rel, _, heads, tails in excluded], columns=3)
    rejected_rows = _rows([(rel_index[rel], heads, tails) for rel, rejected, heads, tails in excluded if rejected],
                          columns=3)
    return Snapshot(
        node_ids=node_ids,
        type_names=type_names,
        node_type=torch.tensor([type_index[x] for x in node_labels], dtype=torch.long),
        node_text=texts,
        rel_names=rel_names,
        edge_index=torch.from_numpy(np.ascontiguousarray(fact_rows[:, [0, 2]].T)),
        edge_type=torch.from_numpy(np.ascontiguousarray(fact_rows[:, 1])),
        edge_split=torch.from_numpy(np.ascontiguousarray(fact_rows[:, 3])),
        excluded=torch.from_numpy(excluded_rows[np.lexsort((excluded_rows[:, 2], excluded_rows[:, 1],
                                                            excluded_rows[:, 0]))]),
        rejected=torch.from_numpy(np.unique(rejected_rows, axis=0)),
    )


def _rows(groups: list[tuple], columns: int) -> np.ndarray:
    """[n, columns] int64 rows (head, rel, tail[, split]) from groups (rel, heads, tails[, splits])."""
    if not groups:
        return np.empty((0, columns), dtype=np.int64)
    parts = []
    for rel, heads, tails, *rest in groups:
        part = np.empty((len(heads), columns), dtype=np.int64)
        part[:, 0], part[:, 1], part[:, 2] = heads, rel, tails
        if rest:
            part[:, 3] = rest[0]
        parts.append(part)
    return np.concatenate(parts)
