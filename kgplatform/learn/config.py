"""One typed config object per training run (saved by the caller as config.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class TrainConfig(BaseModel):
    """Hyper-parameters of the link predictor and its training loop.

    Defaults were chosen by measured validation MRR on CoDEx-S and amazon-giftcards-2018 on a 2-core CPU
    (kgplatform/learn/README.md has the table). With learned embeddings on, the plain reciprocal ComplEx
    (encoder='none') beat one CompGCN layer by ~0.02 MRR at equal epochs; with text-only input
    (learned_embeddings=False: nodes added later are scorable without retraining) CompGCN is the one to use
    (+0.06 MRR over no encoder). The default is the CompGCN encoder all the same: the product is a text + graph
    model whose neighbourhood evidence must reach new products, and the ~0.02 it costs on CoDEx-S is reported
    in bench/results. ``type_constrained`` restricts evaluation ranks, candidates and the negatives of
    objective='sampled'; the '1-n' softmax always runs over all entities (measured better, also for
    type-constrained ranking, and the only way the model learns to rank wrong-type entities low).
    """

    model_config = ConfigDict(extra="forbid")

    # model
    dim: int = Field(200, ge=2, description="node/relation state size (even: complex/rotate split it in halves)")
    num_layers: int = Field(1, ge=0, description="message-passing layers (0 = no GNN, a pure KGE/text model)")
    encoder: Literal["compgcn", "rgcn", "none"] = "compgcn"
    decoder: Literal["distmult", "complex", "rotate"] = "complex"
    # RGCNConv loops over the 2R relations without pyg-lib: several times slower per epoch than compgcn here.
    num_bases: int = Field(8, ge=1, description="basis count of RGCNConv (encoder='rgcn' only)")
    use_text: bool = True
    use_mentions: bool = Field(
        False, description="add learned per-relation weights for 'the head's text names the tail' and the reverse "
        "(learn/mentions.py); WN18RR: +0.034 test MRR on a trained model. Off by default: not yet measured on the "
        "product graphs")
    learned_embeddings: bool = True
    dropout: float = Field(0.4, ge=0.0, lt=1.0, description="0.2 overfit giftcards by epoch 10; same MRR on CoDEx-S")

    # objective
    objective: Literal["1-n", "sampled", "shared"] = Field(
        "1-n",
        description="'1-n': softmax over all entities; 'sampled': softmax over num_negatives corrupt tails "
        "per positive, drawn from the relation's range type; 'shared': softmax over one candidate set per step, "
        "the step's true tails plus num_negatives entities drawn uniformly (one [B, C] matmul instead of [B, N]: "
        "on WN18RR's 41k entities an epoch costs a fraction of 1-N's)",
    )
    num_negatives: int = Field(64, ge=1, description="corrupt tails per positive ('sampled') or per step ('shared')")
    label_smoothing: float = Field(0.1, ge=0.0, lt=1.0)
    n3_weight: float = Field(0.0, ge=0.0, description="weight of the N3 regulariser on the batch's head/tail "
                             "states and relations (LinkPredictor.n3_penalty); 0 = off")
    relation_prediction_weight: float = Field(
        0.0, ge=0.0, description="weight of an auxiliary softmax over relations, -log p(r | h, t), on each step's "
        "triples (Chen et al. 2021, 'relation prediction as an auxiliary training objective'); decoders 'complex' "
        "and 'distmult'; 0 = off (CoDEx-S: faster early, level at the end)")
    rejected_weight: float = Field(
        1.0, ge=0.0,
        description="weight of the loss -log(1 - p(tail | head, rel)) on predictions a reviewer rejected "
        "(Snapshot.rejected); 0 ignores reviews",
    )

    # optimisation
    epochs: int = Field(400, ge=1, description="maximum epochs; early stopping or the time budget end it first")
    lr: float = Field(1e-2, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    batch_size: int = Field(1024, ge=1, description="supervision triples per optimisation step")
    hidden_edge_ratio: float = Field(
        0.75, gt=0.0, le=1.0, description="share of train edges hidden from message passing each epoch as targets"
    )
    unseen_node_ratio: float = Field(
        0.0, ge=0.0, lt=1.0,
        description="share of nodes whose learned embedding is zeroed each epoch (text + message passing only), "
        "so the model learns to score nodes added after training (kgplatform.learn.inductive)",
    )
    ensemble_members: int = Field(
        1, ge=1, description="train this many models (seeds seed, seed+1, ...; the time budget split evenly) and "
        "merge them into one that scores their mean (learn/ensemble.py); needs encoder='none' and a product decoder. "
        "CoDEx-S: two 600 s members 0.471 test MRR against 0.461-0.463 for either alone")
    eval_every: int = Field(5, ge=1)
    valid_max_triples: int | None = Field(
        None, ge=1, description="early stopping ranks a fixed seeded sample of at most this many validation "
        "triples (None: all); on amazon-beauty-2014 (46k) every evaluation would otherwise cost minutes")
    patience: int = Field(5, ge=1, description="evaluations without a better validation MRR before stopping")
    lr_decay: float = Field(1.0, gt=0.0, le=1.0, description="the learning rate is multiplied by this after each "
                            "evaluation without a better validation MRR (1 = constant learning rate)")
    time_budget_s: float = Field(300.0, gt=0.0, description="training wall-clock budget; the best state is kept")
    seed: int = 0
    type_constrained: bool = True
    eval_batch_size: int = Field(512, ge=1)

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        if not (self.use_text or self.learned_embeddings):
            raise ValueError("TrainConfig: set use_text or learned_embeddings (a node needs some input features)")
        if self.ensemble_members > 1 and (self.decoder == "rotate" or (self.encoder != "none" and self.num_layers)):
            raise ValueError("TrainConfig: ensemble_members > 1 needs encoder='none' (or num_layers=0) and decoder "
                             "'complex' or 'distmult' (learn/ensemble.py)")
        if self.relation_prediction_weight and self.decoder == "rotate":
            raise ValueError("TrainConfig: relation_prediction_weight needs decoder 'complex' or 'distmult'")
        if self.decoder in ("complex", "rotate") and self.dim % 2:
            raise ValueError(f"TrainConfig: decoder={self.decoder!r} needs an even dim, got {self.dim}")
        return self


def load_train_config(path: Path | None, overrides: dict | None = None) -> TrainConfig:
    """TrainConfig from a JSON object of its fields (None: the defaults), then ``overrides`` on top.

    Raises ValueError naming the file and the offending field, for malformed JSON or an unknown or invalid field.
    """
    fields: dict = {}
    if path is not None:
        try:
            fields = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a readable JSON file ({exc})") from None
        if not isinstance(fields, dict):
            raise ValueError(f"{path}: expected a JSON object of TrainConfig fields, got {type(fields).__name__}")
    try:
        return TrainConfig(**(fields | (overrides or {})))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{path or 'train config'}: {problems}") from None
