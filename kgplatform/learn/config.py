"""One typed config object per training run (saved by the caller as config.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class TrainConfig(BaseModel):
    """Hyper-parameters of the link predictor and its training loop.

    The measurements behind the defaults: kgplatform/learn/README.md, "Why the defaults are what they are".
    """

    model_config = ConfigDict(extra="forbid")

    # model
    dim: int = Field(200, ge=2, description="node/relation state size (even: complex/rotate split it in halves)")
    num_layers: int = Field(1, ge=0, description="message-passing layers (0 = no GNN, a pure KGE/text model)")
    encoder: Literal["compgcn", "rgcn", "none"] = "compgcn"
    decoder: Literal["distmult", "complex", "rotate"] = "complex"
    message_passing: Literal["sparse", "per_edge"] = Field(
        "sparse",
        description="how CompGCN layers sum messages: one sparse product over (target, type) pairs, or the per-edge "
        "gather and scatter it replaced (same values; kept as bench/run_train_step.py's baseline)",
    )
    message_batches: Literal["auto", "full", "sampled"] = Field(
        "auto",
        description="message passing per step over the whole message graph ('full') or over the step's nodes' "
        "sampled neighbourhoods, node states after training in chunks too ('sampled', learn/minibatch.py); 'auto': "
        "sampled above sampled_above_edges message edges when the objective draws candidates",
    )
    fanout: int = Field(20, ge=1, description="incoming message edges sampled per node per layer ('sampled')")
    sampled_above_edges: int = Field(
        2_000_000, ge=0, description="train edges above which message_batches='auto' samples"
    )
    num_bases: int = Field(8, ge=1, description="basis count of RGCNConv (encoder='rgcn' only)")
    use_text: bool = True
    text_budget_s: float | None = Field(
        None, gt=0.0, description="most seconds the featurize step may spend encoding text; when the rate measured "
        "on a sample says the uncached texts need more, the run trains graph-only and its step record says why "
        "(None: no limit)",
    )
    use_mentions: bool = Field(
        False,
        description="learn per-relation weights for 'the head's text names the tail' and the reverse (mentions.py)",
    )
    learned_embeddings: bool = True
    choose_inputs: bool = Field(
        True,
        description="race this model against its graph-only and text-only variants on half the budget and keep "
        "training the best on validation (learn/choose.py); off: train exactly these inputs. Ensembles train as "
        "configured",
    )
    dropout: float = Field(0.4, ge=0.0, lt=1.0, description="dropout rate")

    # objective
    objective: Literal["1-n", "sampled", "shared"] = Field(
        "shared",
        description="softmax over all entities ('1-n'), range-type negatives ('sampled') or a step's set ('shared')",
    )
    num_negatives: int | None = Field(
        None, ge=1,
        description="corrupt tails per positive ('sampled') or per step ('shared'); None: 64 or 2048 respectively",
    )
    label_smoothing: float = Field(0.1, ge=0.0, lt=1.0)
    n3_weight: float = Field(
        0.0, ge=0.0, description="weight of the N3 regulariser on the batch's states and relations; 0 = off"
    )
    relation_prediction_weight: float = Field(
        0.0, ge=0.0,
        description="weight of an auxiliary softmax over relations, -log p(r | h, t) (complex/distmult only); 0 = off",
    )
    rejected_weight: float = Field(
        1.0, ge=0.0,
        description="weight of -log(1 - p(tail | head, rel)) on reviewer-rejected predictions; 0 ignores reviews",
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
        description="share of nodes whose learned embedding is zeroed each epoch, to train scoring of new nodes",
    )
    ensemble_members: int = Field(
        1, ge=1,
        description="train this many models (seeds seed, seed+1, ...; even budget shares) and merge them into one",
    )
    eval_every: int = Field(5, ge=1)
    valid_max_triples: int | None = Field(
        5000, ge=1, description="most validation triples early stopping ranks, a fixed seeded sample (None: all); "
        "on amazon-beauty-2014 (46k) ranking all of them cost minutes per evaluation"
    )
    test_max_triples: int | None = Field(
        None, ge=1, description="most test triples the run's test metrics rank, a fixed seeded sample (None: all); "
        "the scale benchmark samples 5,000 of a 10M-edge graph's 100,000"
    )
    patience: int = Field(5, ge=1, description="evaluations without a better validation MRR before stopping")
    lr_decay: float = Field(
        1.0, gt=0.0, le=1.0, description="learning-rate factor after an evaluation without a better MRR; 1 = off"
    )
    time_budget_s: float = Field(300.0, gt=0.0, description="training wall-clock budget; the best state is kept")
    seed: int = 0
    type_constrained: bool = Field(
        True, description="restrict evaluation ranks, candidates and 'sampled' negatives to the relation's range type"
    )
    eval_batch_size: int = Field(512, ge=1)

    @property
    def negatives(self) -> int:
        """num_negatives, or the objective's default: 64 per positive ('sampled'), 2048 per step ('shared')."""
        if self.num_negatives is not None:
            return self.num_negatives
        return 64 if self.objective == "sampled" else 2048

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        if not (self.use_text or self.learned_embeddings):
            raise ValueError("TrainConfig: set use_text or learned_embeddings (a node needs some input features)")
        if self.ensemble_members > 1 and (self.decoder == "rotate" or (self.encoder != "none" and self.num_layers)):
            raise ValueError("TrainConfig: ensemble_members > 1 needs encoder='none' (or num_layers=0) and decoder "
                             "'complex' or 'distmult' (learn/ensemble.py)")
        if self.relation_prediction_weight and self.decoder == "rotate":
            raise ValueError("TrainConfig: relation_prediction_weight needs decoder 'complex' or 'distmult'")
        if self.message_batches == "sampled" and self.objective == "1-n":
            raise ValueError("TrainConfig: message_batches='sampled' needs objective 'shared' or 'sampled' (a 1-N "
                             "step reads every node's state)")
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
