"""The encoder side of `kgp bench inductive --finetune-budget S`: fine-tune the text encoder on the graph the
model trains on, and encode every node with it.

One run, one split: the frozen encoder's figures come first (bench/inductive.py). Then a private copy of
KGP_EMBED_MODEL is fine-tuned (text/finetune.py) within the budget, saved as a content-addressed encoder under
$KGP_HOME/encoders (text/encoders.py), and every node's text is encoded again with it; bench/inductive.py then
trains, extends and ranks with the same TrainConfig and seed. Only the text vectors differ between the two runs.

What the encoder learns from: the split's kept graph (the reduced graph cut to the kept nodes). The held-out
products are not nodes there, so neither their edges nor their texts can reach it: not as queries or positives,
not as hard negatives, and not as validation candidates. Early stopping uses that graph's valid edges (the
dataset's own, or a seeded share where it has none, as the pipeline's prepare_splits does).
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from kgplatform.devices import device_of
from kgplatform.learn.config import TrainConfig
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.stages import featurize, prepare_splits
from kgplatform.progress import StageClock
from kgplatform.snapshot import SPLIT_TRAIN, SPLIT_VALID, Snapshot
from kgplatform.text.embeddings import model_fingerprint
from kgplatform.text.encoders import save_encoder
from kgplatform.text.finetune import FinetuneConfig, FinetuneResult, finetune


def finetune_graph(kept: Snapshot) -> Snapshot:
    """The kept graph (every split) with valid edges for the encoder's early stopping."""
    graph = prepare_splits(kept, PipelineConfig())
    if not bool((graph.edge_split == SPLIT_TRAIN).any()):
        raise ValueError("fine-tuning: the graph without the held-out products has no train edges to learn from")
    return graph


def tune_encoder(settings, graph: Snapshot, cfg: FinetuneConfig, progress=None) -> tuple[Path, FinetuneResult]:
    """A private copy of settings.embed_model fine-tuned on ``graph``, saved; (its folder, the result)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(settings.embed_model, device=str(device_of(settings)))  # trained in place
    frozen_length = model.max_seq_length
    result = finetune(model, graph, cfg, progress)
    # finetune truncates to cfg.max_seq_length; encode nodes as the frozen encoder does, so only the weights differ
    model.max_seq_length = frozen_length
    return save_encoder(model, settings.home), result


def finetune_record(cfg: FinetuneConfig, result: FinetuneResult, folder: Path, graph: Snapshot, base: str) -> dict:
    return {"budget_s": cfg.time_budget_s, "seconds": round(result.seconds, 1), "steps": result.steps,
            "stopped": result.stopped, "encoder": model_fingerprint(str(folder)), "folder": str(folder),
            "base_encoder": model_fingerprint(base),
            "valid_before": result.before, "valid_after": result.best, "curve": result.curve,
            "graph": {"nodes": graph.num_nodes, "train_edges": int((graph.edge_split == SPLIT_TRAIN).sum()),
                      "valid_edges": int((graph.edge_split == SPLIT_VALID).sum())},
            "config": cfg.model_dump()}


def finetuned_text(settings, kept: Snapshot, full: Snapshot, cfg: TrainConfig, ft_cfg: FinetuneConfig,
                   progress=None, clock: StageClock | None = None) -> tuple[Tensor | None, dict]:
    """Fine-tune on ``kept``, then encode every node of ``full`` with it: (text vectors in full's order, the
    report's "finetune" record)."""
    clock = clock or StageClock()
    graph = finetune_graph(kept)
    folder, result = tune_encoder(settings, graph, ft_cfg, progress)
    clock.lap("finetune")
    text_x = featurize(full, settings, cfg, progress, encoder=str(folder))
    clock.lap("featurize_finetuned")
    return text_x, finetune_record(ft_cfg, result, folder, graph, settings.embed_model)
