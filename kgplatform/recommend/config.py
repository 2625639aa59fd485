"""One typed config per recommender run (saved by the caller as config.json)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kgplatform import __version__


class RecConfig(BaseModel):
    """Hyper-parameters of the collaborative-knowledge-graph recommender and its training loop."""

    model_config = ConfigDict(extra="forbid")

    # model
    dim: int = Field(64, ge=2, description="user/entity/relation vector size")
    num_layers: int = Field(2, ge=0, description="propagation layers over the user-item-entity graph")
    use_kg: bool = Field(True, description="propagate over the knowledge graph (off: LightGCN on behaviour only)")
    kg_layers: int = Field(1, ge=0, description="rounds of attentive propagation over the KG before behaviour")
    kg_gate: float = Field(0.5, description="initial weight of the KG's view of an item in its layer 0 (learned)")
    use_text: bool = Field(True, description="add projected item/entity text vectors to the learned ones")
    use_attributes: bool = Field(True, description="add numeric and categorical item attributes")
    id_dropout: float = Field(0.1, ge=0.0, lt=1.0,
                              description="share of items whose learned vector is hidden in a step (trains the "
                                          "text/KG path that cold items rely on)")
    # objective: L = L_behaviour + alpha * L_KG
    behaviour_loss: Literal["bpr", "softmax"] = Field(
        "bpr", description="BPR against one sampled item, or a softmax over the items with cosine scores / "
        "temperature (measured on lastfm-kgcn: softmax 0.298-0.304 test Recall@20, BPR 0.309-0.326)")
    temperature: float = Field(0.1, gt=0.0, description="softmax temperature over cosine scores")
    softmax_items: int = Field(20000, ge=1, description="catalogues up to this size: the softmax runs over every "
                               "item; larger: over this many items drawn uniformly per step (shared by the batch)")
    alpha: float = Field(0.1, ge=0.0, description="weight of the knowledge graph's own link loss")
    kg_margin: float = Field(1.0, gt=0.0, description="margin of the KG link loss (DistMult, corrupt head or tail)")
    l2: float = Field(1e-5, ge=0.0, description="L2 penalty on the batch's layer-0 vectors")
    lr: float = Field(5e-3, gt=0.0, description="Adam learning rate")
    batch_size: int = Field(2048, ge=1, description="(user, positive, negative) triples per step")
    kg_batch_size: int = Field(2048, ge=1, description="KG triples per step for L_KG")
    # budget and selection
    max_epochs: int = Field(3000, ge=1, description="passes over the train interactions at most")
    time_budget_s: float | None = Field(600.0, gt=0, description="wall-clock training budget (None: no limit)")
    eval_every: int = Field(1, ge=1, description="validate every this many epochs")
    eval_min_steps: int = Field(50, ge=1, description="and at least this many optimiser steps apart (a small log "
                                "has one step per epoch: patience must not run out before training starts)")
    patience: int = Field(10, ge=1, description="validations without a better Recall@20 before stopping")
    seed: int = 0
    threads: int | None = Field(None, ge=1, description="torch threads (None: leave torch's default)")


class RecRunConfig(BaseModel):
    """Everything one recommendation run depends on; saved as config.json and on the KgpRun node."""

    model_config = ConfigDict(extra="forbid")

    train: RecConfig = Field(default_factory=RecConfig)
    encoder: str = Field(
        "", description="sentence-transformers model or folder for node text (a fine-tuned one: `kgp finetune-text`); "
        "empty: KGP_EMBED_MODEL, recorded in the run's config when the run starts")
    item_label: str | None = Field(
        "Product", description="label of the recommendable items, plus anything with behaviour (None: only those)")
    behaviour_types: list[str] = Field(default_factory=list, description="behaviour types to learn from (empty: all)")
    top_n: int = Field(20, ge=1, le=1000, description="recommendations written per user")
    predicted_min_probability: float | None = Field(
        None, ge=0.0, le=1.0,
        description="also learn from the platform's own predicted KG edges at or above this probability (None: no)")


def rec_model_name(cfg: RecConfig) -> str:
    parts = ["kg" if cfg.use_kg else "cf", str(cfg.num_layers)] + (["text"] if cfg.use_text else [])
    return f"kgp-rec-{'-'.join(parts)}@{__version__}"
