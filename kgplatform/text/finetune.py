"""Contrastive fine-tuning of the sentence encoder on the graph's own triples, and text-only completion.

A query is the head's text with the relation's words (``"<head text> [SEP] has brand"``); its positive is the
tail's text. The loss is sentence-transformers' MultipleNegativesRankingLoss (InfoNCE over in-batch negatives),
with one hard negative per pair: a random node of the tail's type, so the encoder learns to tell brands from
brands, not brands from categories. Training is budgeted by wall clock and keeps the state with the best
validation MRR of text-only completion: tails ranked by the cosine of the query's and the tail's vectors alone,
filtered and type-constrained as the link predictor's ranks are (learn/evaluate.py).

Pure functions over a Snapshot and a SentenceTransformer; saving and the cache live in text/encoders.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from pydantic import BaseModel, Field
from torch import Tensor

from kgplatform.devices import to_device
from kgplatform.learn.evaluate import ranks, sample_triples, summarize
from kgplatform.learn.index import KnownTails, both_directions, relation_ranges
from kgplatform.learn.model import among_tails
from kgplatform.progress import ProgressFn
from kgplatform.snapshot import SPLIT_TRAIN, SPLIT_VALID, Snapshot
from kgplatform.text.keepbest import KeepBest, TrainingClock

SEP = " [SEP] "


class FinetuneConfig(BaseModel):
    time_budget_s: float = Field(600.0, gt=0, description="wall-clock seconds of training (evaluation included)")
    batch_size: int = Field(32, ge=2, description="pairs per step: each pair's in-batch negatives are the others")
    max_seq_length: int = Field(64, ge=8, le=512, description="tokens kept of each text")
    lr: float = Field(3e-5, gt=0)
    freeze_layers: int = Field(0, ge=0, description="lower transformer layers (and the embeddings) kept frozen")
    hard_negatives: bool = Field(True, description="one random node of the tail's type per pair")
    scale: float = Field(20.0, gt=0, description="similarity scale of the loss (1 / temperature)")
    eval_every_s: float = Field(60.0, gt=0, description="validate at most this often")
    valid_max_triples: int = Field(500, ge=1, description="validation triples ranked (a fixed seeded sample)")
    valid_max_nodes: int = Field(5000, ge=1, description="validation ranks among the true tails and a fixed seeded "
                                 "sample of nodes, this many at most (embedding all 41k WN18RR nodes took 173 s)")
    patience: int = Field(3, ge=1, description="validations without improvement before stopping")
    seed: int = 0


def relation_words(rel_name: str, inverse: bool = False) -> str:
    """HAS_BRAND -> 'has brand'; the inverse direction -> 'has brand (inverse)'."""
    words = rel_name.replace("_", " ").strip().lower()
    return f"{words} (inverse)" if inverse else words


def node_texts(snapshot: Snapshot) -> list[str]:
    """Each node's text, or its id without the type prefix when it has none (a brand is its name)."""
    return [text if text.strip() else node_id.split(":", 1)[-1].replace("_", " ")
            for node_id, text in zip(snapshot.node_ids, snapshot.node_text)]


def query_texts(texts: list[str], snapshot: Snapshot, heads: Tensor, rels: Tensor) -> list[str]:
    """rels in [0, 2R): r >= R is the inverse of r - R (head prediction as tail prediction)."""
    R = snapshot.num_relations
    return [texts[h] + SEP + relation_words(snapshot.rel_names[r % R], inverse=r >= R)
            for h, r in zip(heads.tolist(), rels.tolist())]


@dataclass
class TextPairs:
    queries: list[str]
    positives: list[str]
    negatives: list[str] | None


def training_pairs(snapshot: Snapshot, texts: list[str], gen: torch.Generator, hard_negatives: bool,
                   split: int = SPLIT_TRAIN) -> TextPairs:
    """Both directions of every edge of ``split``, shuffled; a hard negative is a random other node of the
    positive's type."""
    rows = both_directions(snapshot.triples(split), snapshot.num_relations)
    rows = rows[torch.randperm(len(rows), generator=gen)]
    heads, rels, tails = rows.unbind(1)
    negatives = None
    if hard_negatives:
        negatives = [texts[i] for i in same_type_negatives(snapshot.node_type, tails, gen).tolist()]
    return TextPairs(query_texts(texts, snapshot, heads, rels), [texts[t] for t in tails.tolist()], negatives)


def same_type_negatives(node_type: Tensor, tails: Tensor, gen: torch.Generator) -> Tensor:
    """For each tail, a random other node of its type (the tail itself when it is its type's only node)."""
    order = torch.argsort(node_type, stable=True)  # nodes grouped by type
    counts = torch.bincount(node_type)
    starts = torch.cumsum(counts, 0) - counts
    position = torch.empty_like(order)
    position[order] = torch.arange(len(order))
    n = counts[node_type[tails]]
    slot = starts[node_type[tails]] + (torch.rand(len(tails), generator=gen) * (n - 1).clamp(min=1)).long()
    slot += (slot >= position[tails]).long()  # step over the tail's own slot: one of the n - 1 others
    return torch.where(n > 1, order[slot.clamp(max=len(order) - 1)], tails)


def embedding_dimension(model) -> int:
    """The encoder's vector size: get_embedding_dimension where sentence-transformers has it, the older name else."""
    method = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return method()


@torch.no_grad()
def embed(model, texts: list[str], batch_size: int = 128) -> Tensor:
    """Unit-length vectors [n, d] (float32, CPU)."""
    if not texts:
        return torch.empty(0, embedding_dimension(model))
    vectors = model.encode(texts, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True,
                           show_progress_bar=False)
    return vectors.float().cpu()


class TextScorer:
    """Scores tails by cosine alone, in the link predictor's score_tails interface so learn.evaluate ranks it.
    candidates: the only nodes scored (the others get -inf); default every node."""

    def __init__(self, model, snapshot: Snapshot, texts: list[str], batch_size: int = 128,
                 candidates: Tensor | None = None):
        self.model, self.snapshot, self.texts, self.batch_size = model, snapshot, texts, batch_size
        if candidates is None:
            self.nodes = embed(model, texts, batch_size)
        else:
            self.nodes = torch.zeros(len(texts), embedding_dimension(model))
            self.nodes[candidates] = embed(model, [texts[i] for i in candidates.tolist()], batch_size)
        self.blocked = None
        if candidates is not None:
            self.blocked = torch.ones(len(texts), dtype=torch.bool)
            self.blocked[candidates] = False

    def score_tails(self, _z, heads: Tensor, rels: Tensor, tails: Tensor | None = None) -> Tensor:
        """Cosines [B, N]; the head itself is never a candidate: the query holds its text, so it would always win
        (on WN18RR, Hits@1 was 0 on every query before this)."""
        queries = embed(self.model, query_texts(self.texts, self.snapshot, heads, rels), self.batch_size)
        scores = queries @ self.nodes.T
        scores[torch.arange(len(heads)), heads] = float("-inf")
        if self.blocked is not None:
            scores[:, self.blocked] = float("-inf")
        return among_tails(scores, tails)


def candidate_sample(triples: Tensor, num_nodes: int, max_nodes: int | None, seed: int) -> Tensor | None:
    """Both ends of ``triples`` and a seeded sample of the other nodes, max_nodes in all (None: every node)."""
    if max_nodes is None or max_nodes >= num_nodes:
        return None
    ends = torch.unique(torch.cat([triples[:, 0], triples[:, 2]]))
    others = torch.ones(num_nodes, dtype=torch.bool)
    others[ends] = False
    pool = others.nonzero().flatten()
    picked = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))]
    return torch.cat([ends, picked[:max(max_nodes - len(ends), 0)]]).sort().values


@torch.no_grad()
def text_only_metrics(model, snapshot: Snapshot, split: int = SPLIT_VALID, max_triples: int | None = None,
                      seed: int = 0, texts: list[str] | None = None, max_nodes: int | None = None) -> dict:
    """Filtered, type-constrained MRR and Hits@k of text-only completion on ``split`` (both directions).
    max_nodes: rank among the triples' own ends and a fixed sample of other nodes only, this many in all: a
    cheaper figure for model selection, higher than the full one (fewer competitors); None ranks among all."""
    was_training = model.training
    model.eval()
    try:
        texts = texts if texts is not None else node_texts(snapshot)
        triples = sample_triples(snapshot.triples(split), max_triples, seed)
        candidates = candidate_sample(triples, snapshot.num_nodes, max_nodes, seed)
        scorer = TextScorer(model, snapshot, texts, candidates=candidates)
        known = KnownTails(snapshot.triples(), snapshot.num_nodes, snapshot.num_relations)
        queries = both_directions(triples, snapshot.num_relations)
        result = summarize(ranks(scorer, None, queries, known, relation_ranges(snapshot), batch_size=256))
        result["candidates"] = snapshot.num_nodes if candidates is None else len(candidates)
    finally:
        model.train(was_training)
    return result


@dataclass
class FinetuneResult:
    before: dict  # validation metrics of the encoder as given
    best: dict  # of the state kept
    curve: list[dict] = field(default_factory=list)  # {seconds, step, pairs, loss, valid_mrr}
    steps: int = 0
    seconds: float = 0.0
    stopped: str = "budget"


def freeze_lower_layers(model, layers: int) -> None:
    """Embeddings and the lowest ``layers`` transformer layers stop learning (cheaper steps, less forgetting)."""
    if layers <= 0:
        return
    for name, param in model.named_parameters():
        parts = name.split(".")
        if "embeddings" in parts:
            param.requires_grad = False
        elif "layer" in parts:
            index = parts[parts.index("layer") + 1]
            if index.isdigit() and int(index) < layers:
                param.requires_grad = False


def finetune(model, snapshot: Snapshot, cfg: FinetuneConfig, progress: ProgressFn | None = None) -> FinetuneResult:
    """Fine-tune ``model`` (a SentenceTransformer, changed in place) on the snapshot's train edges; validation on
    its valid edges picks the state kept. The model ends in eval mode with the best state loaded."""
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    texts = node_texts(snapshot)
    model.max_seq_length = cfg.max_seq_length
    freeze_lower_layers(model, cfg.freeze_layers)

    def validate() -> dict:
        return text_only_metrics(model, snapshot, SPLIT_VALID, cfg.valid_max_triples, cfg.seed, texts,
                                 cfg.valid_max_nodes)

    before = validate()
    result = FinetuneResult(before=before, best=before)
    kept = KeepBest(before["mrr"], cfg.patience)
    loss_fn = MultipleNegativesRankingLoss(model, scale=cfg.scale)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    pairs = training_pairs(snapshot, texts, gen, cfg.hard_negatives)
    if not pairs.queries:
        raise ValueError("finetune: the snapshot has no train edges to learn from")
    model.train()
    cursor, losses = 0, []
    clock = TrainingClock(cfg.time_budget_s, cfg.eval_every_s)  # buys training: the frozen encoder's check is before
    while clock.running():
        if cursor >= len(pairs.queries):  # a new epoch: a new shuffle and new hard negatives
            pairs, cursor = training_pairs(snapshot, texts, gen, cfg.hard_negatives), 0
        batch = slice(cursor, cursor + cfg.batch_size)
        cursor += cfg.batch_size
        columns = [pairs.queries[batch], pairs.positives[batch]] + ([pairs.negatives[batch]] if pairs.negatives else [])
        tokenize = getattr(model, "preprocess", None) or model.tokenize  # tokenize: before sentence-transformers 6
        features = [to_device(tokenize(column), model.device) for column in columns]  # where the encoder is
        loss = loss_fn(features, None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        result.steps += 1
        losses.append(float(loss.detach()))
        if clock.due():
            metrics = validate()
            model.train()
            result.curve.append({"seconds": clock.validated(progress, "fine-tune text encoder"),
                                 "step": result.steps, "pairs": result.steps * cfg.batch_size,
                                 "loss": sum(losses) / len(losses), "valid_mrr": metrics["mrr"]})
            losses = []
            if kept.offer(model, metrics["mrr"]):
                result.best = metrics
            elif kept.exhausted:
                result.stopped = "patience"
                break
    kept.restore(model)
    model.eval()
    result.seconds = clock.elapsed()
    return result
