"""Write a parsed graph into the store: schema first, then entities by label, then relationships by type.

Every load records itself in a `(:KgpIngest {id})` node: status 'running' before its first write, 'completed'
after its last ('failed', with the error, when it stops on an error it can still report). Its id is derived from
the source (the resolved path; for a graph built in memory, a hash of its content), so a rerun of the same source
finds the record and, since loading is idempotent, completes it. Readers that must not see half a graph (the
incremental job) call ingests_in_progress. People and behaviour are loaded by ingest/load_behaviour.py, recorded the
same way; ingest_path dispatches every kind of source.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from kgplatform.graph.names import LABEL_PATTERN, assign_labels, assign_rel_types
from kgplatform.graph.schema import declared_schema, label_registry, relation_registry
from kgplatform.graph.store import GraphStore, chunks, execute, write_rows
from kgplatform.ingest.behaviour import looks_like_interaction_log
from kgplatform.ingest.bookkeeping import recorded_load
from kgplatform.ingest.catalog import parse_catalog
from kgplatform.ingest.load_behaviour import check_behaviour, ingest_interaction_log, load_behaviour
from kgplatform.ingest.reclayout import is_rec_layout, parse_rec_layout
from kgplatform.ingest.records import ParsedGraph
from kgplatform.ingest.tsv import parse_dataset_dir
from kgplatform.progress import ProgressFn


def parse_source(path: Path) -> ParsedGraph:
    """A dataset folder (entities.tsv + triples_*.tsv), an RDF file (.nt/.nq/.ttl, optionally .gz) or a product
    catalog (CSV folder / JSONL)."""
    from kgplatform.ingest.rdf import parse_rdf, rdf_format  # imports rdflib only when an ingest runs

    path = Path(path)
    if rdf_format(path):
        return parse_rdf(path)
    if path.is_dir() and (path / "entities.tsv").is_file():
        return parse_dataset_dir(path)
    return parse_catalog(path)


def ingest_id(graph: ParsedGraph) -> str:
    """The id of the graph's KgpIngest record: the same for every run over the same source."""
    digest = hashlib.sha256()
    if graph.source:
        digest.update(b"source\0" + str(Path(graph.source).resolve()).encode("utf-8"))
    else:
        digest.update(b"content\0")
        for e in graph.entities:
            digest.update(json.dumps([e.id, e.label, e.type, e.name, e.description]).encode("utf-8") + b"\n")
        for t in graph.triples:
            digest.update(json.dumps([t.head, t.rel_type, t.tail, t.split]).encode("utf-8") + b"\n")
    return "ingest-" + digest.hexdigest()[:24]


def ingests_in_progress(store: GraphStore) -> list[dict]:
    """The ingests that did not complete, oldest first: running now, stopped by a crash (still 'running'), or
    'failed'. Their data may be partly written; a rerun of the same source completes them. Each: {id, source,
    status, started_at (ms, the store's clock), attempts, entities, triples, error}."""
    return execute(store, "ingest/ingests_in_progress", read_only=True)


def _label_sources(graph: ParsedGraph) -> dict[str, str]:
    out = dict(graph.label_sources)
    for e in graph.entities:
        out.setdefault(e.label, e.type)
    return out


def reconcile_names(store: GraphStore, graph: ParsedGraph) -> ParsedGraph:
    """The graph with its names made consistent with the store's registry: a source name registered by an
    earlier ingest keeps its registered name, and a name registered for another source is not reused (this one
    gets a hash). Only names with an explicit source (relation_sources / label_sources) are renamed."""
    rel_types, labels = set(graph.rel_types), set(graph.labels)
    rel_sources = {t: s for t, s in graph.relation_sources.items() if t in rel_types}
    label_sources = {lb: s for lb, s in graph.label_sources.items() if lb in labels}
    rename_rel: dict[str, str] = {}
    rename_label: dict[str, str] = {}
    if rel_sources:
        taken = {t: v["source_id"] for t, v in relation_registry(store).items()}
        if taken:
            assigned = assign_rel_types(rel_sources.values(), taken)
            rename_rel = {t: assigned[s] for t, s in rel_sources.items() if assigned[s] != t}
    if label_sources:
        taken = {lb: v["source_id"] for lb, v in label_registry(store).items()}
        if taken:
            assigned = assign_labels(label_sources.values(), taken)
            rename_label = {lb: assigned[s] for lb, s in label_sources.items() if assigned[s] != lb}
    if not rename_rel and not rename_label:
        return graph
    return replace(
        graph,
        entities=[replace(e, label=rename_label.get(e.label, e.label)) for e in graph.entities],
        triples=[t._replace(rel_type=rename_rel.get(t.rel_type, t.rel_type)) for t in graph.triples],
        relation_text={rename_rel.get(t, t): x for t, x in graph.relation_text.items()},
        relation_sources={rename_rel.get(t, t): s for t, s in graph.relation_sources.items()},
        label_sources={rename_label.get(lb, lb): s for lb, s in graph.label_sources.items()},
    )


def load_graph(store: GraphStore, graph: ParsedGraph, *, batch_size: int = 2000,
               progress: ProgressFn | None = None) -> dict:
    """Idempotent: entities are merged on id (a changed type replaces the entity's label), a relationship is
    created only if no asserted one links the pair. Recorded in a KgpIngest node (module docstring)."""
    store.apply_schema(graph.rel_types)  # DDL only, idempotent; creates the graph before the reads below
    renamed = reconcile_names(store, graph)
    if renamed is not graph:
        graph = renamed
        store.apply_schema(graph.rel_types)
    known_labels, _ = declared_schema(store)
    record = {"id": ingest_id(graph), "source": str(Path(graph.source).resolve()) if graph.source else "",
              "entities": len(graph.entities), "triples": len(graph.triples), "labels": graph.labels,
              "rel_types": graph.rel_types}
    return recorded_load(store, record, lambda: _write(store, graph, batch_size=batch_size, progress=progress,
                                                       relabel=bool(known_labels)),
                         relabelled=lambda result: result["relabelled"])


def _write(store: GraphStore, graph: ParsedGraph, *, batch_size: int, progress: ProgressFn | None,
           relabel: bool) -> dict:
    execute(store, "ingest/declare_schema", {"labels": graph.labels, "rel_types": graph.rel_types})
    label_sources = _label_sources(graph)
    write_rows(store, "ingest/register_labels",
               [{"label": lb, "source_id": label_sources.get(lb, lb)} for lb in graph.labels], batch_size=batch_size)
    write_rows(store, "ingest/register_rel_types",
               [{"type": t, "source_id": graph.relation_sources.get(t, t), "text": graph.relation_text.get(t, "")}
                for t in graph.rel_types], batch_size=batch_size)
    total = len(graph.entities) + len(graph.triples)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("ingest", done, total)

    by_label = defaultdict(list)
    for e in graph.entities:
        row = {"id": e.id, "name": e.name, "description": e.description, "type": e.type}
        if e.properties:  # absent, not {}: every parameter value costs the client time to encode
            row["props"] = dict(e.properties)
        by_label[e.label].append(row)
    for label, rows in sorted(by_label.items()):
        for batch in chunks(rows, batch_size):
            known = {r["id"] for r in execute(store, "ingest/known_ids", {"ids": [r["id"] for r in batch]},
                                              read_only=True)}
            write_rows(store, "ingest/create_entities", [r for r in batch if r["id"] not in known],
                       batch_size=batch_size, label=label)
            write_rows(store, "ingest/merge_entities", [r for r in batch if r["id"] in known],
                       batch_size=batch_size, label=label)
            advance(len(batch))
    relabelled = _remove_stale_labels(store, graph, batch_size=batch_size) if relabel else 0

    by_type = defaultdict(list)  # the rows themselves; their parameter maps are built one batch at a time
    for t in graph.triples:
        by_type[t.rel_type].append(t)
    created = {}
    for rel_type, triples in sorted(by_type.items()):
        rows = ({"head": t.head, "tail": t.tail, "split": t.split} for t in triples)
        created[rel_type] = write_rows(store, "ingest/create_asserted", rows, batch_size=batch_size,
                                       rel_type=rel_type, on_batch=advance)
    return {"entities": len(graph.entities), "triples": len(graph.triples),
            "relationships_created": sum(created.values()), "created_per_type": created,
            "labels": graph.labels, "rel_types": graph.rel_types, "relabelled": relabelled}


def _remove_stale_labels(store: GraphStore, graph: ParsedGraph, *, batch_size: int) -> int:
    """A re-ingested entity whose type changed keeps :Entity and exactly its new label: every other label is
    removed (one statement per stale label, since Cypher takes no label as a parameter). A label that is not a
    valid name cannot be spliced into a statement and is left alone (ingest never writes one). Returns how many
    entities lost a label."""
    rows = [{"id": e.id, "label": e.label} for e in graph.entities]
    stale: dict[str, list[str]] = defaultdict(list)
    for start in range(0, len(rows), batch_size):
        for r in execute(store, "ingest/stale_labels", {"rows": rows[start:start + batch_size]}, read_only=True):
            for label in r["stale"]:
                if LABEL_PATTERN.fullmatch(label):
                    stale[label].append(r["id"])
    for label, ids in sorted(stale.items()):
        write_rows(store, "ingest/remove_label", [{"id": i} for i in ids], batch_size=batch_size, label=label)
    return len({i for ids in stale.values() for i in ids})


def ingest_rec_layout(store: GraphStore, folder: Path, *, batch_size: int = 2000,
                      progress: ProgressFn | None = None) -> dict:
    """A recommendation dataset folder (ingest/reclayout.py): its item graph, then its people and behaviour. Every
    file and the store are checked before the first write. Returns load_graph's report with the behaviour load's
    under "behaviour"."""
    layout = parse_rec_layout(folder)
    items = {e.id for e in layout.graph.entities}
    check_behaviour(store, layout.behaviour, known_items=items, kg_types=layout.graph.rel_types,
                    batch_size=batch_size)
    report = load_graph(store, layout.graph, batch_size=batch_size, progress=progress)
    behaviour = load_behaviour(store, layout.behaviour, source=str(folder), known_items=items, batch_size=batch_size,
                               progress=progress)
    return {"source": str(folder), **report, "behaviour": behaviour}


def ingest_path(store: GraphStore, path: Path, *, batch_size: int = 2000, progress: ProgressFn | None = None,
                behaviour: bool | None = None) -> dict:
    """Validate then load any source: a recommendation dataset folder (kg.tsv + interactions_train.tsv), an
    interaction log (behaviour=True, or None and it looks like one: ingest.behaviour.looks_like_interaction_log),
    or a graph source (parse_source)."""
    path = Path(path)
    if is_rec_layout(path):
        return ingest_rec_layout(store, path, batch_size=batch_size, progress=progress)
    if behaviour or (behaviour is None and looks_like_interaction_log(path)):
        return ingest_interaction_log(store, path, batch_size=batch_size, progress=progress)
    graph = parse_source(path)  # validates everything before the first write
    return {"source": str(path), **load_graph(store, graph, batch_size=batch_size, progress=progress)}
