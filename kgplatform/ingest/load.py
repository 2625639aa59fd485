"""Write a parsed graph into the store: schema first, then entities by label, then relationships by type."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from kgplatform.graph.store import GraphStore, execute, write_rows
from kgplatform.ingest.catalog import parse_catalog
from kgplatform.ingest.records import ParsedGraph
from kgplatform.ingest.tsv import parse_dataset_dir
from kgplatform.progress import ProgressFn


def parse_source(path: Path) -> ParsedGraph:
    """A dataset folder (entities.tsv + triples_*.tsv) or a product catalog (CSV folder / JSONL)."""
    path = Path(path)
    if path.is_dir() and (path / "entities.tsv").is_file():
        return parse_dataset_dir(path)
    return parse_catalog(path)


def load_graph(store: GraphStore, graph: ParsedGraph, *, batch_size: int = 2000,
               progress: ProgressFn | None = None) -> dict:
    """Idempotent: entities are merged on id, a relationship is created only if no asserted one links the pair."""
    store.apply_schema(graph.rel_types)
    execute(store, "ingest/declare_schema", {"labels": graph.labels, "rel_types": graph.rel_types})
    total = len(graph.entities) + len(graph.triples)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("ingest", done, total)

    by_label = defaultdict(list)
    for e in graph.entities:
        by_label[e.label].append({"id": e.id, "name": e.name, "description": e.description, "type": e.type})
    for label, rows in sorted(by_label.items()):
        write_rows(store, "ingest/merge_entities", rows, batch_size=batch_size, label=label, on_batch=advance)

    by_type = defaultdict(list)
    for t in graph.triples:
        by_type[t.rel_type].append({"head": t.head, "tail": t.tail, "split": t.split})
    created = {}
    for rel_type, rows in sorted(by_type.items()):
        created[rel_type] = write_rows(store, "ingest/create_asserted", rows, batch_size=batch_size,
                                       rel_type=rel_type, on_batch=advance)
    return {"entities": len(graph.entities), "triples": len(graph.triples),
            "relationships_created": sum(created.values()), "created_per_type": created,
            "labels": graph.labels, "rel_types": graph.rel_types}


def ingest_path(store: GraphStore, path: Path, *, batch_size: int = 2000,
                progress: ProgressFn | None = None) -> dict:
    graph = parse_source(path)  # validates everything before the first write
    return {"source": str(path), **load_graph(store, graph, batch_size=batch_size, progress=progress)}
