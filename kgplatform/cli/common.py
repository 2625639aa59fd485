"""What every command module shares: the consoles, JSON output, settings and store, and the options declared once.

Commands import the heavy modules (torch, the model) inside their bodies, so `kgp db status` or `kgp --help`
start in a fraction of a second.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console

from kgplatform.graph.store import GraphStore, open_store
from kgplatform.learn.config import TrainConfig
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.settings import Settings

console = Console(stderr=True)  # progress, notes and errors
out = Console()  # results


def settings() -> Settings:
    return Settings()


def open_configured_store() -> GraphStore:
    return open_store(settings())


def emit_json(value) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


# ---- options shared by several commands ---------------------------------------------------------------------

AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of tables and text")]
TimeBudget = Annotated[float, typer.Option("--time-budget", help="training wall-clock budget in seconds")]
TargetPrecision = Annotated[float, typer.Option("--target-precision",
                                                help="precision on validation that written edges reach")]
MaxEdges = Annotated[int, typer.Option("--max-edges", help="cap on edges written by this run")]
TopK = Annotated[int, typer.Option("--top-k", help="candidates per head and relation")]
RelTypes = Annotated[list[str], typer.Option("--rel-type", help="learn from these types (default all)")]
Targets = Annotated[list[str], typer.Option("--target", help="predict these types (default all)")]
NoText = Annotated[bool, typer.Option("--no-text", help="graph only: no text features")]
Encoder = Annotated[str, typer.Option("--encoder", help="text encoder: a sentence-transformers model or the folder "
                                      "`kgp finetune-text` printed (default KGP_EMBED_MODEL)")]


def pipeline_config(time_budget: float, target_precision: float, max_edges: int, top_k: int,
                    rel_types: list[str], target: list[str], no_text: bool, encoder: str = "") -> PipelineConfig:
    """The run's config from the shared pipeline options (`kgp pipeline`, `kgp jobs submit pipeline`)."""
    return PipelineConfig(rel_types=rel_types, target_rel_types=target, top_k=top_k,
                          target_precision=target_precision, max_edges=max_edges, encoder=encoder,
                          train=TrainConfig(time_budget_s=time_budget, use_text=not no_text))
