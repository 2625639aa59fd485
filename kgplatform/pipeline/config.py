"""PipelineConfig: everything one prediction run depends on, and the model name it is recorded under."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from kgplatform import __version__
from kgplatform.learn.ann_candidates import MIN_ANN_TAILS
from kgplatform.learn.config import TrainConfig
from kgplatform.learn.newheads import HOLDOUT_SHARE, MIN_HEADS


class PipelineConfig(BaseModel):
    """Everything one run depends on; saved as config.json in the run directory and on the KgpRun node."""

    labels: list[str] = Field(default_factory=list, description="labels to export (empty = all)")
    rel_types: list[str] = Field(default_factory=list, description="relationship types to learn from (empty = all)")
    target_rel_types: list[str] = Field(default_factory=list, description="types to predict (empty = all learned)")
    train: TrainConfig = Field(default_factory=TrainConfig)
    top_k: int = Field(10, ge=1, description="candidates per head and relation")
    target_precision: float = Field(0.9, gt=0.0, le=1.0, description="precision on validation of written edges")
    precision_confidence: float | None = Field(
        0.8, gt=0.0, lt=1.0,
        description="the written edges' validation selection must reach target_precision with this confidence "
        "(one-sided Clopper-Pearson bound), not just in observed precision (None = observed precision). The "
        "bound covers validation's luck; test precision still scatters by about 0.02 on a few hundred edges, "
        "and on CoDEx-S sat 0.02 under validation's (pooled: 0.900 on test at 0.8, 0.887 at 0.5); at 0.9 "
        "amazon-magazine-2018's 49 validation edges at 0.96 could not carry the bound (pipeline/README.md)")
    threshold_scope: Literal["pooled", "per_group"] = Field(
        "pooled", description="one probability threshold over every calibrated group (pooled), or one per "
        "(relation, head bucket) group (learn/per_relation.py)")
    calibration_max_queries: int | None = Field(
        None, ge=1, description="most validation (head, relation) queries whose candidates calibration draws, a "
        "seeded sample (None: all); a 10M-edge graph has 100,000")
    max_edges: int = Field(10000, ge=0, description="cap on edges written by one run")
    # platt: a smooth map of the combined logit; isotonic steps tie many candidates at one threshold
    calibration: Literal["isotonic", "platt"] = "platt"
    combine_evidence: bool = Field(
        True, description="decide on the model's score together with the graph's and the text's evidence "
        "(gradient-boosted trees fitted on validation candidates, learn/selector.py), not the score alone")
    valid_ratio: float = Field(0.1, ge=0.0, lt=0.5, description="share of unsplit edges held out for validation")
    test_ratio: float = Field(0.1, ge=0.0, lt=0.5, description="share of unsplit edges held out for test")
    encoder: str = Field(
        "", description="sentence-transformers model or folder for node text (a fine-tuned one: `kgp finetune-text`); "
        "empty: KGP_EMBED_MODEL, recorded in the run's config when the run starts")
    arrival_holdout_share: float = Field(
        HOLDOUT_SHARE, ge=0.0, lt=0.5, description="share of heads (at most 400) held out of training so that "
        "products arriving later are calibrated on heads the model never trained on (learn/newheads.py); "
        "0, or fewer than arrival_min_heads: none, and new products get the main calibration")
    arrival_min_heads: int = Field(MIN_HEADS, ge=1, description="hold out no heads when the share is fewer")
    candidate_search: Literal["exact", "ann", "auto"] = Field(
        "auto", description="how candidate tails are found, for validation (calibration) and write-time candidates "
        "alike: exact scores every type-valid entity; ann searches an inner-product index over the decoder's "
        "tail vectors and re-scores what it returns exactly (distmult and complex; rotate stays exact); auto: ann "
        "for relations with more than ann_min_tails type-valid tails (learn/ann_candidates.py)")
    ann_min_tails: int = Field(MIN_ANN_TAILS, ge=0, description="'auto' uses the index above this many tails")
    ann_overfetch: int = Field(4, ge=1, description="tails retrieved per head: top_k times this (plus its known "
                               "tails), before blocked ones are removed and the rest re-scored")
    ann_effort: int = Field(128, ge=1, description="the index's search effort (HNSW efSearch, IVF nprobe)")
    ann_index: Literal["faiss-hnsw", "faiss-ivf", "usearch-hnsw"] = Field(
        "faiss-hnsw", description="the tail index (serving/ann.py); faiss-ivf builds ~3x faster than HNSW at 80k "
        "tails (learn/README.md)")
    text_links: bool = Field(
        True, description="also write edges whose tail is named in the head's text (brands, categories), "
        "re-scored by the model and kept at a threshold chosen on validation text proposals (text/proposals.py)")


def model_name(cfg: TrainConfig) -> str:
    inputs = "+".join(x for x, on in (("text", cfg.use_text), ("emb", cfg.learned_embeddings)) if on)
    return f"kgp-{inputs}-{cfg.encoder}{cfg.num_layers}-{cfg.decoder}@{__version__}"
