"""`kgp finetune-text`: the text encoder fine-tuned on the graph in the store (pipeline/finetune_step.py)."""

from __future__ import annotations

import typer

from kgplatform.cli.common import AsJson, console, emit_json, open_configured_store, out, settings
from kgplatform.progress import RichProgress


def finetune_text(time_budget: float = typer.Option(600.0, "--time-budget", help="fine-tuning wall-clock seconds"),
                  batch_size: int = typer.Option(32, "--batch-size", help="pairs per step (in-batch negatives)"),
                  max_seq_length: int = typer.Option(64, "--max-seq-length", help="tokens kept of each text"),
                  freeze_layers: int = typer.Option(0, "--freeze-layers", help="lower transformer layers frozen"),
                  lr: float = typer.Option(3e-5, "--lr", help="learning rate"),
                  no_hard_negatives: bool = typer.Option(False, "--no-hard-negatives",
                                                         help="in-batch negatives only"),
                  as_json: AsJson = False):
    """Fine-tune the text encoder on the graph's triples (head text + relation -> tail text, contrastive)."""
    from kgplatform.pipeline.finetune_step import finetune_text_step
    from kgplatform.text.finetune import FinetuneConfig

    cfg = FinetuneConfig(time_budget_s=time_budget, batch_size=batch_size, max_seq_length=max_seq_length,
                         freeze_layers=freeze_layers, lr=lr, hard_negatives=not no_hard_negatives)
    with RichProgress(console, enabled=not as_json) as progress:
        record = finetune_text_step(open_configured_store(), settings(), cfg, progress)
    if as_json:
        emit_json(record)
        return
    for split in ("valid", "test"):
        before, after = record[split]["before"], record[split]["after"]
        out.print(f"{split}: text-only MRR {before['mrr']:.3f} -> {after['mrr']:.3f}, "
                  f"Hits@10 {before['hits@10']:.3f} -> {after['hits@10']:.3f}")
    out.print(f"{record['steps']} steps in {record['finetune_s']} s (stopped: {record['stopped']})")
    out.print(f"encoder: {record['encoder']}", soft_wrap=True, markup=False)
    out.print(f"use it: KGP_EMBED_MODEL={record['encoder']} kgp pipeline ...", soft_wrap=True, markup=False)
