"""Write people and their behaviour into the store.

  (:User {id, created_at})                          a label of its own, never :Entity
  (:User)-[:PURCHASED|VIEWED|... {timestamp, rating, weight, review, split, created_at}]->(:Entity)
  (:User)-[:SAMPLED_NEGATIVE {split, created_at}]->(:Entity)   a dataset's sampled negatives (evaluation only)

timestamp is epoch ms; a property the source does not give is absent. The types are declared in the behaviour
schema node (graph.schema.behaviour_types) before the first relationship is written. Checked against the store
before the first write: every item is an existing entity (or one of the same ingest) and no behaviour type is a
relationship type of the knowledge graph. Idempotent (cypher/behaviour/create_behaviour): a rerun creates nothing.
Recorded in a KgpIngest node like every load (ingest/load.py), its id derived from the source.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from kgplatform.errors import InputError, SchemaError
from kgplatform.graph.names import check_rel_type
from kgplatform.graph.schema import declared_schema
from kgplatform.graph.store import GraphStore, chunks, execute, write_rows
from kgplatform.ingest.behaviour import NEGATIVE_TYPE, RESERVED_TYPES, BehaviourRow, parse_interaction_log
from kgplatform.ingest.bookkeeping import recorded_load
from kgplatform.progress import ProgressFn


def behaviour_ingest_id(source: str, rows: list[BehaviourRow]) -> str:
    """The id of a behaviour load's KgpIngest record: the same for every run over the same source (for rows built
    in memory: the same rows)."""
    digest = hashlib.sha256(b"behaviour\0")
    if source:
        digest.update(b"source\0" + str(Path(source).resolve()).encode("utf-8"))
    else:
        for r in rows:
            digest.update(json.dumps([r.user, r.item, r.type, r.timestamp, r.split]).encode("utf-8") + b"\n")
    return "ingest-" + digest.hexdigest()[:24]


def check_behaviour(store: GraphStore, rows: list[BehaviourRow], *, known_items: Iterable[str] = (),
                    kg_types: Iterable[str] = (), batch_size: int = 2000) -> None:
    """InputError ('file:line: problem' each) unless every row can be written: its type a valid, unreserved name
    that is not a relationship type of the knowledge graph (declared, or `kg_types` of the same ingest), its item
    an entity in the store or in `known_items`. Reads only."""
    problems: list[str] = []
    first = {}
    for r in rows:
        first.setdefault(r.type, r.where)
    kg = declared_schema(store)[1] | set(kg_types)
    for rel_type, where in first.items():
        try:
            check_rel_type(rel_type)
        except SchemaError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if rel_type in RESERVED_TYPES - {NEGATIVE_TYPE}:
            problems.append(f"{where}: behaviour type {rel_type!r} is reserved: the platform writes it")
        elif rel_type in kg:
            problems.append(f"{where}: behaviour type {rel_type!r} is a relationship type of the knowledge graph; "
                            "give the behaviour another name")
    wanted = sorted({r.item for r in rows} - set(known_items))
    found: set[str] = set()
    for batch in chunks(wanted, batch_size):
        found.update(x["id"] for x in execute(store, "behaviour/existing_entities", {"ids": batch}, read_only=True))
    missing = set(wanted) - found
    problems += [f"{r.where}: unknown item {r.item[:80]!r}: no entity with this id in the store (ingest the "
                 "catalog or dataset that describes it first)" for r in rows if r.item in missing]
    if problems:
        raise InputError(f"{len(problems)} problem(s) against the store; nothing was written", problems)


def load_behaviour(store: GraphStore, rows: list[BehaviourRow], *, source: str = "", known_items: Iterable[str] = (),
                   batch_size: int = 2000, progress: ProgressFn | None = None) -> dict:
    """Write validated rows (check_behaviour runs first: nothing is written when it fails). Returns {ingest_id,
    users, interactions, negatives, relationships_created, created_per_type, behaviour_types}."""
    types = sorted({r.type for r in rows})
    store.apply_schema([check_rel_type(t) for t in types])  # DDL only, idempotent: User.id, the types' stamps
    check_behaviour(store, rows, known_items=known_items, batch_size=batch_size)
    users = sorted({r.user for r in rows})
    record = {"id": behaviour_ingest_id(source, rows), "source": str(Path(source).resolve()) if source else "",
              "entities": len(users), "triples": len(rows), "labels": ["User"], "rel_types": types}
    return recorded_load(store, record,
                         lambda: _write(store, rows, users, types, batch_size=batch_size, progress=progress))


def _write(store: GraphStore, rows: list[BehaviourRow], users: list[str], types: list[str], *, batch_size: int,
           progress: ProgressFn | None) -> dict:
    declared = set(execute(store, "behaviour/declare_types", {"types": types})[0]["types"])
    total, done = len(users) + len(rows), 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("behaviour", done, total)

    write_rows(store, "behaviour/merge_users", [{"id": u} for u in users], batch_size=batch_size, on_batch=advance)
    by_type: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_type[r.type].append(r.params())
    created = {t: write_rows(store, "behaviour/create_behaviour", by_type[t], batch_size=batch_size,
                             rel_type=check_rel_type(t, declared), on_batch=advance) for t in types}
    negatives = len(by_type.get(NEGATIVE_TYPE, ()))
    return {"users": len(users), "interactions": len(rows) - negatives, "negatives": negatives,
            "relationships_created": sum(created.values()), "created_per_type": created, "behaviour_types": types}


def ingest_interaction_log(store: GraphStore, path: Path, *, batch_size: int = 2000,
                           progress: ProgressFn | None = None) -> dict:
    """Validate then load an interaction log (ingest/behaviour.py); nothing is written from a file with a problem."""
    rows = parse_interaction_log(path)
    return {"source": str(path), **load_behaviour(store, rows, source=str(path), batch_size=batch_size,
                                                  progress=progress)}
