"""New entities found in text, proposed into the graph (`kgp discover-entities`, workers.tasks.text_discover).

I/O at the edges: export the graph, train the entity tagger on it and tag the heads' texts (text/ner.py, pure),
then write each proposal as a node with ``proposed: true`` (cypher/discover/merge_proposed_entities.cypher) and
its products' links to it as predicted relationships of the run (graph/writeback.py), all under one KgpRun
(method 'ner'). Export skips proposed nodes and proposed links until a reviewer accepts them; `kgp runs retract`
removes both.
"""

from __future__ import annotations

import re
import time

from pydantic import BaseModel, Field

from kgplatform.devices import device_of
from kgplatform.graph.export import export_snapshot
from kgplatform.graph.names import check_label
from kgplatform.graph.runs import new_run_id, record_run
from kgplatform.graph.schema import declared_schema
from kgplatform.graph.store import GraphStore, execute, write_rows
from kgplatform.graph.writeback import write_predictions
from kgplatform.progress import ProgressFn
from kgplatform.settings import Settings
from kgplatform.snapshot import SPLIT_CODES, SPLIT_NONE
from kgplatform.text.linking import relation_heads_tails
from kgplatform.text.ner import TaggerConfig, distant_examples, predict_spans, propose_entities, train_tagger

METHOD = "ner"
EVERY_SPLIT = (SPLIT_NONE, *SPLIT_CODES.values())  # the tagger learns from every asserted edge


class DiscoverConfig(BaseModel):
    relations: list[str] = Field(default_factory=lambda: ["HAS_BRAND"],
                                 description="relations whose tail nodes the tagger learns to find in head text")
    tagger: TaggerConfig = Field(default_factory=TaggerConfig)
    min_heads: int = Field(2, ge=1, description="a name is proposed when at least this many heads' texts name it")
    min_confidence: float = Field(0.5, ge=0.0, le=1.0, description="mean tag probability a span needs")
    max_entities: int = Field(500, ge=0, description="cap on entities proposed by one run")


def proposed_id(kind: str, key: str) -> str:
    """'brand:proposed:vintrel': the type, a marker no ingested id carries, and the normalised name."""
    slug = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")[:64] or "unnamed"
    return f"{kind.lower()}:proposed:{slug}"


def discover_entities_step(store: GraphStore, settings: Settings, cfg: DiscoverConfig,
                           progress: ProgressFn | None = None, run_id: str | None = None) -> dict:
    started = time.perf_counter()
    run_id = run_id or new_run_id()
    snapshot = export_snapshot(store, page_size=settings.page_size, progress=progress)
    unknown = [r for r in cfg.relations if r not in snapshot.rel_names]
    if unknown:
        raise ValueError(f"discover-entities: the graph has no {', '.join(map(repr, unknown))} relationships; its "
                         f"types are {', '.join(snapshot.rel_names)}")
    examples, types = distant_examples(snapshot, cfg.relations, known_splits=EVERY_SPLIT)
    model_name = f"kgp-ner-{'-'.join(t.lower() for t in types)}"
    record_run(store, run_id=run_id, model=model_name, config=cfg.model_dump(), metrics={}, counts={},
               status="running", snapshot_hash=snapshot.content_hash(), method=METHOD)
    try:
        summary = _discover(store, settings, cfg, snapshot, examples, types, run_id, model_name, progress)
    except BaseException:
        execute(store, "runs/set_status", {"run_id": run_id, "status": "failed"})  # retractable, never half-done
        raise
    return {**summary, "seconds": round(time.perf_counter() - started, 1)}


def _discover(store, settings, cfg: DiscoverConfig, snapshot, examples, types, run_id: str, model_name: str,
              progress) -> dict:
    labels, _ = declared_schema(store)
    result = train_tagger(settings.embed_model, examples, types, cfg.tagger, progress, device=device_of(settings))
    heads = sorted({h for rel in cfg.relations for h in relation_heads_tails(snapshot, rel)[0].tolist()})
    spans = predict_spans(result.model, result.tokenizer, [snapshot.node_text[h] for h in heads], len(types),
                          cfg.tagger.max_seq_length)
    proposals = propose_entities(snapshot, heads, spans, types, min_confidence=cfg.min_confidence,
                                 min_heads=cfg.min_heads)[:cfg.max_entities]
    rel_of_type = {}  # entity type -> the relation that links a head to it
    for rel in cfg.relations:
        tails = relation_heads_tails(snapshot, rel)[1]
        rel_of_type.setdefault(snapshot.type_names[int(snapshot.node_type[tails[0]])], rel)
    written, links = {}, []
    for kind in types:
        rows = [{"id": proposed_id(kind, p.key), "name": p.name, "type": kind, "confidence": round(p.confidence, 4),
                 "mentions": len(p.heads), "evidence": " | ".join(p.evidence)[:500]}
                for p in proposals if p.kind == kind]
        if not rows:
            continue
        written[kind] = write_rows(store, "discover/merge_proposed_entities",
                                   [{**r, "run_id": run_id, "model": model_name} for r in rows],
                                   batch_size=settings.write_batch_size, label=check_label(kind, labels))
    for p in proposals:
        for head in p.heads:
            links.append({"head": snapshot.node_ids[head], "rel_type": rel_of_type[p.kind],
                          "tail": proposed_id(p.kind, p.key), "score": p.confidence, "probability": p.confidence,
                          "evidence": f"named in text: {p.name!r} (tagger confidence {p.confidence:.2f})"})
    links_written = write_predictions(store, links, run_id=run_id, model=model_name, method=METHOD,
                                      batch_size=settings.write_batch_size)
    metrics = {"tagger_valid_before": result.before, "tagger_valid_best": result.best, "steps": result.steps,
               "stopped": result.stopped, "distant_examples": len(examples)}
    counts = {"entities": len(proposals), "links": len(links)}
    record_run(store, run_id=run_id, model=model_name, config=cfg.model_dump(), metrics=metrics, counts=counts,
               status="completed", snapshot_hash=snapshot.content_hash(), method=METHOD)
    return {"run_id": run_id, "model": model_name, "entities_written": written, "links_written": links_written,
            "proposals": [{"id": proposed_id(p.kind, p.key), "name": p.name, "type": p.kind, "mentions": len(p.heads),
                           "confidence": round(p.confidence, 4)} for p in proposals], **metrics}
