"""Read the chosen labels and relationship types from the store, in pages, into a Snapshot."""

from __future__ import annotations

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

    facts, excluded, rejected = [], [], []
    for page_number, page_ids in enumerate(pages, start=1):
        rows = execute(store, "export/edges_page", {"ids": page_ids, "rel_types": rel_types},
                   read_only=True)
        for r in rows:
            rel, state = r["rel"], r["state"]
            pairs = [(h, t) for h, t in zip(map(index.get, r["heads"]), map(index.get, r["tails"]))
                     if h is not None and t is not None]  # else an endpoint outside the chosen labels
            if state is None or not state.startswith(PREDICTED) or state == ACCEPTED:
                split = SPLIT_TRAIN if state == ACCEPTED else SPLIT_CODES.get(state, SPLIT_NONE)
                facts.extend((h, rel, t, split) for h, t in pairs)
            else:
                excluded.extend((h, rel, t) for h, t in pairs)
                if state == REJECTED:
                    rejected.extend((h, rel, t) for h, t in pairs)
        if progress:
            progress("export edges", page_number, len(pages))

    rel_names = sorted({f[1] for f in facts} | {e[1] for e in excluded})
    rel_index = {name: i for i, name in enumerate(rel_names)}
    facts.sort(key=lambda f: (f[0], rel_index[f[1]], f[2]))  # store order is not stable; the snapshot is
    edge_index = torch.tensor([[f[0] for f in facts], [f[2] for f in facts]], dtype=torch.long).reshape(2, -1)
    return Snapshot(
        node_ids=node_ids,
        type_names=type_names,
        node_type=torch.tensor([type_index[x] for x in node_labels], dtype=torch.long),
        node_text=texts,
        rel_names=rel_names,
        edge_index=edge_index,
        edge_type=torch.tensor([rel_index[f[1]] for f in facts], dtype=torch.long),
        edge_split=torch.tensor([f[3] for f in facts], dtype=torch.long),
        excluded=torch.tensor(sorted((h, rel_index[r], t) for h, r, t in excluded),
                              dtype=torch.long).reshape(-1, 3),
        rejected=torch.tensor(sorted({(h, rel_index[r], t) for h, r, t in rejected}),
                              dtype=torch.long).reshape(-1, 3),
    )
