"""The text encoder fine-tuned on the graph in the store (`kgp finetune-text`, workers.tasks.finetune_text).

I/O at the edges: export the graph, fine-tune (text/finetune.py, pure), save the encoder as a content-addressed
artefact under $KGP_HOME/encoders (text/encoders.py) with a finetune.json of what it was trained on and how it
did. Later runs name the folder as their encoder (KGP_EMBED_MODEL), and the embedding cache keys on its weights.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

from kgplatform.devices import device_of
from kgplatform.graph.export import export_snapshot
from kgplatform.graph.schema import relation_registry
from kgplatform.graph.store import GraphStore
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.stages import prepare_splits
from kgplatform.progress import ProgressFn
from kgplatform.settings import Settings
from kgplatform.snapshot import SPLIT_TEST, SPLIT_TRAIN
from kgplatform.text.embeddings import model_fingerprint
from kgplatform.text.encoders import save_encoder
from kgplatform.text.finetune import FinetuneConfig, finetune, text_only_metrics

RECORD = "finetune.json"


TEST_MAX_TRIPLES = 5000


def finetune_text_step(store: GraphStore, settings: Settings, cfg: FinetuneConfig,
                       progress: ProgressFn | None = None, test_max_triples: int | None = TEST_MAX_TRIPLES) -> dict:
    """Fine-tune the configured encoder (settings.embed_model) on the store's graph; returns the record saved
    beside the new encoder (its folder, validation and test MRR before and after, the learning curve). Test
    figures rank among every node, on a seeded sample of test_max_triples (None: all)."""
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    snapshot = prepare_splits(export_snapshot(store, page_size=settings.page_size),
                              PipelineConfig())  # the store's splits, or the pipeline's seeded ones
    # queries read the dataset's words for a relation ('country of citizenship', not 'P27') where ingest kept them
    registry = relation_registry(store)
    snapshot = replace(snapshot, rel_names=[registry.get(name, {}).get("text") or name
                                            for name in snapshot.rel_names])
    if not bool((snapshot.edge_split == SPLIT_TRAIN).any()):
        raise ValueError("finetune-text: the graph has no edges to learn from")
    device = device_of(settings)
    model = SentenceTransformer(settings.embed_model, device=str(device))  # a private copy, trained in place
    test_before = text_only_metrics(model, snapshot, SPLIT_TEST, test_max_triples, cfg.seed)
    result = finetune(model, snapshot, cfg, progress)
    test_after = text_only_metrics(model, snapshot, SPLIT_TEST, test_max_triples, cfg.seed)
    folder = save_encoder(model, settings.home)
    record = {"encoder": str(folder), "fingerprint": model_fingerprint(str(folder)),
              "base_encoder": settings.embed_model, "base_fingerprint": model_fingerprint(settings.embed_model),
              "config": cfg.model_dump(), "nodes": snapshot.num_nodes, "edges": int(snapshot.edge_type.numel()),
              "valid": {"before": result.before, "after": result.best},
              "test": {"before": test_before, "after": test_after},
              "curve": result.curve, "steps": result.steps, "stopped": result.stopped,
              "finetune_s": round(result.seconds, 1), "seconds": round(time.perf_counter() - started, 1),
              "device": str(device)}
    (folder / RECORD).write_text(json.dumps(record, indent=2, default=str))
    return record
