"""Entity embeddings as node properties under the store's own vector index, and nearest-neighbour reads.

Every entity (:Entity, so :Product, :Brand, ...) may carry `embedding` (its vector from a recommendation run) and
`embedding_run` (that run's id). One index covers them all: FalkorDB's vector index on (:Entity).embedding, Neo4j's
`kgp_entity_embedding`, both with cosine similarity. The statements differ by backend (cypher/vector/<backend>/,
same names); the portable ones sit in cypher/vector/. Scores are normalised to the cosine similarity in [-1, 1],
higher is closer (FalkorDB's own score is the distance 1 - cos, Neo4j's (1 + cos) / 2).

The index holds one run's vector space: replace_embeddings writes a run's vectors, then removes those of other
runs (vectors of two models are not comparable), recreating the index first when the dimension changed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from kgplatform.errors import KgpError
from kgplatform.graph import cypher_files
from kgplatform.graph.store import GraphStore, execute, write_rows
from kgplatform.progress import ProgressFn

INDEX_ONLINE_TIMEOUT_S = 120.0
MAX_CANDIDATES = 10_000  # the most entities one index query is asked for when a label filter needs more


def _statement(store: GraphStore, name: str) -> str:
    return f"vector/{store.backend}/{name}"


def index_info(store: GraphStore) -> dict | None:
    """{dimension, similarity, online} of the entity vector index, None when there is none."""
    rows = execute(store, _statement(store, "index_info"), read_only=True)
    return rows[0] if rows else None


def drop_vector_index(store: GraphStore) -> bool:
    """Drop the entity vector index (the vectors stay on the nodes); False when there was none."""
    if index_info(store) is None:
        return False
    execute(store, _statement(store, "drop_index"))
    return True


def ensure_vector_index(store: GraphStore, dim: int, *, replace: bool = False) -> str:
    """The entity vector index with this dimension, waited for until it answers queries: 'exists', 'created', or
    'replaced' (an index of another dimension dropped first, only with replace=True; else a KgpError)."""
    dim = cypher_files.check_dimension(dim)
    info = index_info(store)
    outcome = "created"
    if info is not None:
        if int(info["dimension"]) == dim:
            _wait_online(store, info)
            return "exists"
        if not replace:
            raise KgpError(f"the store's entity vector index has dimension {info['dimension']}, these vectors {dim}; "
                           f"a recommendation run's write-back replaces it, or drop it first "
                           f"(kgplatform.graph.vectors.drop_vector_index, cypher/vector/{store.backend}/drop_index)")
        drop_vector_index(store)
        outcome = "replaced"
    text = cypher_files.render(_statement(store, "create_index"), dimension=dim)
    try:
        store.query(text)
    except KgpError:
        if (index_info(store) or {}).get("dimension") != dim:  # not someone else's identical index: a real error
            raise
    _wait_online(store, index_info(store))
    return outcome


def _wait_online(store: GraphStore, info: dict | None) -> None:
    deadline = time.monotonic() + INDEX_ONLINE_TIMEOUT_S
    while not (info and info["online"]):
        if time.monotonic() > deadline:
            raise KgpError(f"the entity vector index is not online after {INDEX_ONLINE_TIMEOUT_S:g} s ({info}); "
                           f"check the store's logs")
        time.sleep(0.2)
        info = index_info(store)


def write_embeddings(store: GraphStore, ids: Sequence[str], vectors, run_id: str, *, batch_size: int = 1000,
                     progress: ProgressFn | None = None) -> int:
    """Store vectors[i] as the embedding of entity ids[i], stamped with run_id; idempotent (a rerun writes the same
    values). Creates the index when there is none; a dimension other than the index's is a KgpError. Returns how
    many entities were written (ids with no entity in the store are skipped)."""
    matrix = torch.as_tensor(vectors, dtype=torch.float32)
    if matrix.ndim != 2 or matrix.shape[0] != len(ids):
        raise KgpError(f"embeddings: expected one vector per id ({len(ids)} ids), got a tensor of shape "
                       f"{tuple(matrix.shape)}")
    bad = (~torch.isfinite(matrix).all(dim=1)).nonzero().flatten().tolist()
    if bad:
        raise KgpError(f"embeddings: the vector of {ids[bad[0]]!r} (and {len(bad) - 1} more) has NaN or infinite "
                       "values")
    if not len(ids):
        return 0
    ensure_vector_index(store, int(matrix.shape[1]))
    rows = [{"id": entity, "vector": vector, "run_id": run_id} for entity, vector in zip(ids, matrix.tolist())]
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("write embeddings", done, len(rows))

    return write_rows(store, _statement(store, "write_embeddings"), rows, batch_size=batch_size, on_batch=advance)


def remove_embeddings(store: GraphStore, *, run_id: str | None = None, keep_run_id: str | None = None,
                      batch: int = 5000) -> int:
    """Remove embeddings in batches: those of run_id (None: any run), except keep_run_id's. Returns the count."""
    removed = 0
    while True:
        n = execute(store, "vector/remove_embeddings", {"run_id": run_id, "keep_run_id": keep_run_id,
                                                        "batch": batch})[0]["count"]
        removed += n
        if n < batch:
            return removed


def replace_embeddings(store: GraphStore, ids: Sequence[str], vectors, run_id: str, *, batch_size: int = 1000,
                       progress: ProgressFn | None = None) -> dict:
    """One run's vectors become the store's embeddings: the index recreated if its dimension differs, these written,
    then other runs' removed (so the index never mixes two vector spaces). Rerunnable."""
    dim = torch.as_tensor(vectors).shape[-1]
    index = ensure_vector_index(store, int(dim), replace=True)
    written = write_embeddings(store, ids, vectors, run_id, batch_size=batch_size, progress=progress)
    stale = remove_embeddings(store, keep_run_id=run_id)
    return {"embeddings": written, "index": index, "removed": stale}


def _nearest(store: GraphStore, name: str, params: dict, k: int, label: str | None, skip: int) -> list[dict]:
    """Rows of a nearest-neighbour statement. The index answers before the label filter, so with a label the number
    of candidates grows until k rows pass or every embedded entity was a candidate."""
    if not 1 <= k <= MAX_CANDIDATES:
        raise KgpError(f"k must be from 1 to {MAX_CANDIDATES}, got {k}")
    candidates = k + skip if label is None else max(4 * k, 100)
    total = None
    while True:
        rows = execute(store, _statement(store, name),
                       {**params, "k": k, "label": label, "candidates": min(candidates, MAX_CANDIDATES)},
                       read_only=True)
        if len(rows) >= k or candidates >= MAX_CANDIDATES:
            return rows
        if total is None:
            total = execute(store, "vector/count_embeddings", read_only=True)[0]["count"]
        if candidates >= total:
            return rows
        candidates *= 4


def similar_entities(store: GraphStore, entity_id: str, k: int = 10, label: str | None = None) -> list[dict]:
    """[{id, name, label, score}] of the k entities nearest to entity_id by embedding (itself excluded), most
    similar first; score is the cosine similarity. label: only entities with this label."""
    found = execute(store, "vector/embedding_of", {"id": entity_id}, read_only=True)
    if not found:
        raise KgpError(f"no entity with id {entity_id!r} in graph {store.graph_name!r}")
    if not found[0]["embedded"]:
        raise KgpError(f"entity {entity_id!r} has no embedding; a recommendation run's write-back stores them "
                       "(kgp recommend-run)")
    return _nearest(store, "similar_products", {"id": entity_id}, k, label, skip=1)


def similar_to_vector(store: GraphStore, vector, k: int = 10, label: str | None = None,
                      exclude: Sequence[str] = ()) -> list[dict]:
    """[{id, name, label, score}] of the k entities nearest to a vector, most similar first, without `exclude`."""
    query = torch.as_tensor(vector, dtype=torch.float32).flatten()
    info = index_info(store)
    if info is None:
        raise KgpError(f"graph {store.graph_name!r} has no entity vector index; a recommendation run's write-back "
                       "creates it (kgp recommend-run)")
    if int(info["dimension"]) != len(query):
        raise KgpError(f"the query vector has {len(query)} values, the entity vector index {info['dimension']}")
    return _nearest(store, "similar_to_vector", {"vector": query.tolist(), "exclude": list(exclude)}, k, label,
                    skip=len(exclude))
