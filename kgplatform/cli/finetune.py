"""`kgp finetune-text` and `kgp discover-entities` (in this process), and their options for `kgp jobs submit`: the
text encoder fine-tuned on the graph in the store (pipeline/finetune_step.py), and new entities found in text
(pipeline/discover_step.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from kgplatform.cli.common import AsJson, console, emit_json, open_configured_store, out, settings
from kgplatform.progress import RichProgress

Budget = Annotated[float, typer.Option("--time-budget", min=1.0, help="fine-tuning wall-clock seconds")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=2, help="pairs per step (in-batch negatives)")]
SeqLength = Annotated[int, typer.Option("--max-seq-length", min=8, max=512, help="tokens kept of each text")]
FreezeLayers = Annotated[int, typer.Option("--freeze-layers", min=0, help="lower transformer layers frozen")]
LearningRate = Annotated[float, typer.Option("--lr", min=0.0, help="learning rate")]
NoHardNegatives = Annotated[bool, typer.Option("--no-hard-negatives", help="in-batch negatives only")]


def finetune_config(time_budget: float, batch_size: int, max_seq_length: int, freeze_layers: int, lr: float,
                    no_hard_negatives: bool):
    from kgplatform.text.finetune import FinetuneConfig

    return FinetuneConfig(time_budget_s=time_budget, batch_size=batch_size, max_seq_length=max_seq_length,
                          freeze_layers=freeze_layers, lr=lr, hard_negatives=not no_hard_negatives)


def finetune_text(time_budget: Budget = 600.0, batch_size: BatchSize = 32, max_seq_length: SeqLength = 64,
                  freeze_layers: FreezeLayers = 0, lr: LearningRate = 3e-5, no_hard_negatives: NoHardNegatives = False,
                  as_json: AsJson = False):
    """Fine-tune the text encoder on the graph's triples (head text + relation -> tail text, contrastive)."""
    from kgplatform.pipeline.finetune_step import finetune_text_step

    cfg = finetune_config(time_budget, batch_size, max_seq_length, freeze_layers, lr, no_hard_negatives)
    with RichProgress(console, enabled=not as_json) as progress:
        record = finetune_text_step(open_configured_store(), settings(), cfg, progress)
    if as_json:
        emit_json(record)
        return
    print_record(record)


def print_record(record: dict) -> None:
    for split in ("valid", "test"):
        before, after = record[split]["before"], record[split]["after"]
        out.print(f"{split}: text-only MRR {before['mrr']:.3f} -> {after['mrr']:.3f}, "
                  f"Hits@10 {before['hits@10']:.3f} -> {after['hits@10']:.3f}")
    out.print(f"{record['steps']} steps in {record['finetune_s']} s (stopped: {record['stopped']})")
    out.print(f"encoder: {record['encoder']}", soft_wrap=True, markup=False)
    out.print(f"use it: kgp pipeline --encoder {record['encoder']}", soft_wrap=True, markup=False)


Relations = Annotated[list[str], typer.Option("--relation", help="relation whose tail nodes to find in head text "
                                              "(repeatable; default HAS_BRAND)")]
MinHeads = Annotated[int, typer.Option("--min-heads", min=1, help="texts that must name an entity to propose it")]


def discover_config(relations: list[str], time_budget: float, min_heads: int):
    from kgplatform.pipeline.discover_step import DiscoverConfig
    from kgplatform.text.ner import TaggerConfig

    return DiscoverConfig(relations=relations or ["HAS_BRAND"], tagger=TaggerConfig(time_budget_s=time_budget),
                          min_heads=min_heads)


def discover_entities(relation: Relations = [], time_budget: Budget = 300.0,  # noqa: B006 - typer reads defaults
                      min_heads: MinHeads = 2, as_json: AsJson = False):
    """Train an entity tagger on the graph's own names in text; propose entities the graph lacks, with their links."""
    from kgplatform.pipeline.discover_step import discover_entities_step

    cfg = discover_config(relation, time_budget, min_heads)
    with RichProgress(console, enabled=not as_json) as progress:
        summary = discover_entities_step(open_configured_store(), settings(), cfg, progress)
    if as_json:
        emit_json(summary)
        return
    out.print(f"run {summary['run_id']}: {len(summary['proposals'])} entities proposed, "
              f"{sum(summary['links_written'].values())} links (tagger span F1 on held-out products "
              f"{summary['tagger_valid_best']['f1']:.3f})", markup=False)
    for p in summary["proposals"][:20]:
        out.print(f"  {p['type']} {p['name']!r}: named by {p['mentions']} (confidence {p['confidence']:.2f})",
                  markup=False)
    out.print(f"review them: kgp review list --run {summary['run_id']}; undo: kgp runs retract {summary['run_id']}",
              markup=False)
