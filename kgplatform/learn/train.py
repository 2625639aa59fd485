"""Self-supervised training of the link predictor with early stopping on validation filtered MRR."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from kgplatform.learn.config import TrainConfig
from kgplatform.learn.evaluate import rank_metrics
from kgplatform.learn.index import KnownTails, both_directions, relation_ranges, train_edges
from kgplatform.learn.model import LinkPredictor
from kgplatform.snapshot import SPLIT_TRAIN, SPLIT_VALID, Snapshot

Progress = Callable[[str, int, int, dict], None]


@dataclass
class TrainResult:
    model: LinkPredictor  # best validation state loaded, in eval mode
    history: list[dict] = field(default_factory=list)  # {epoch, loss, seconds[, valid_mrr]} per epoch
    best_epoch: int = 0
    best_valid_mrr: float | None = None
    stopped_reason: str = "epochs"  # 'epochs' | 'patience' | 'time_budget'
    train_seconds: float = 0.0
    best_valid_metrics: dict | None = None


class TypedNegativeSampler:
    """Draws corrupt tails uniformly from the entities of each relation's range type (allowed [2R, N])."""

    def __init__(self, allowed: Tensor):
        rel, ent = allowed.nonzero(as_tuple=True)  # row-major, so entities are grouped by relation
        self.entities = ent
        self.count = torch.bincount(rel, minlength=allowed.size(0))
        self.start = self.count.cumsum(0) - self.count

    def sample(self, rels: Tensor, k: int, generator: torch.Generator) -> Tensor:
        u = torch.rand(len(rels), k, generator=generator)
        idx = self.start[rels].unsqueeze(1) + (u * self.count[rels].unsqueeze(1)).long()
        return self.entities[idx]


def smoothed_softmax_loss(logits: Tensor, target: Tensor, cand: Tensor, smoothing: float) -> Tensor:
    """Cross-entropy of the target column against the candidate columns, with label smoothing over candidates.

    Non-candidates get a large finite negative logit (not -inf) so that 0 * log p stays 0.
    """
    logp = torch.log_softmax(logits.masked_fill(~cand, -1e9), dim=1)
    nll = -logp.gather(1, target.unsqueeze(1)).squeeze(1)
    if smoothing == 0:
        return nll.mean()
    smooth = -(logp * cand).sum(1) / cand.sum(1).clamp(min=1)
    return ((1 - smoothing) * nll + smoothing * smooth).mean()


def batch_loss(
    model: LinkPredictor, z: Tensor, queries: Tensor, cfg: TrainConfig, sampler: TypedNegativeSampler,
    gen: torch.Generator,
) -> Tensor:
    h, r, t = queries.unbind(1)
    if cfg.objective == "1-n":
        # Softmax over ALL entities even when evaluation is type-constrained: it measured better on CoDEx-S for
        # constrained ranking too, and it is the only way the model learns to rank wrong-type entities low.
        logits = model.score_tails(z, h, r)
        return smoothed_softmax_loss(logits, t, torch.ones_like(logits, dtype=torch.bool), cfg.label_smoothing)
    negs = sampler.sample(r, cfg.num_negatives, gen)
    tails = torch.cat([t.unsqueeze(1), negs], dim=1)  # column 0 is the positive
    cand = tails != t.unsqueeze(1)
    cand[:, 0] = True
    logits = model.score_tails(z, h, r, tails)
    return smoothed_softmax_loss(logits, torch.zeros_like(t), cand, cfg.label_smoothing)


def train_link_predictor(
    snapshot: Snapshot, text_x: Tensor | None, cfg: TrainConfig, progress: Progress | None = None
) -> TrainResult:
    """Train on the train split; early-stop on filtered validation MRR (if the snapshot has a valid split).

    Each epoch a fresh random ``hidden_edge_ratio`` share of train edges becomes supervision targets and is removed
    from that epoch's message-passing graph, so the encoder never sees the edges it is asked to predict.
    Deterministic for a given seed (the caller's global RNG state is left untouched).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return _train(snapshot, text_x, cfg, progress)


def _train(snapshot: Snapshot, text_x: Tensor | None, cfg: TrainConfig, progress: Progress | None) -> TrainResult:
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(cfg.seed)
    R = snapshot.num_relations
    train = snapshot.triples(SPLIT_TRAIN)
    if len(train) == 0:
        raise ValueError("train_link_predictor: the snapshot has no train edges (edge_split == 0); "
                         "call kgplatform.learn.splits.assign_splits first")
    has_valid = bool((snapshot.edge_split == SPLIT_VALID).any())
    model = LinkPredictor(snapshot.num_nodes, R, cfg, text_x if cfg.use_text else None)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ranges = relation_ranges(snapshot)
    sampler = TypedNegativeSampler(ranges if cfg.type_constrained else torch.ones_like(ranges))
    known = KnownTails(snapshot.triples(), snapshot.num_nodes, R) if has_valid else None
    eval_edges = train_edges(snapshot)
    uses_graph = cfg.encoder != "none" and cfg.num_layers > 0
    n_hidden = max(1, round(cfg.hidden_edge_ratio * len(train))) if uses_graph else len(train)

    result = TrainResult(model=model)
    best_state, evals_since_best = None, 0

    def evaluate(epoch: int) -> float:
        nonlocal best_state, evals_since_best
        m = rank_metrics(model, snapshot, SPLIT_VALID, eval_edges, cfg.type_constrained, cfg.eval_batch_size,
                         known=known, allowed=ranges)
        if result.best_valid_mrr is None or m["mrr"] > result.best_valid_mrr:
            result.best_valid_mrr, result.best_epoch, result.best_valid_metrics = m["mrr"], epoch, m
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            evals_since_best = 0
        else:
            evals_since_best += 1
        return m["mrr"]

    model.train()
    for epoch in range(1, cfg.epochs + 1):
        perm = torch.randperm(len(train), generator=gen)
        targets, message = train[perm[:n_hidden]], train[perm[n_hidden:]]
        mp_index, mp_type = message[:, [0, 2]].t(), message[:, 1]
        losses, out_of_time = [], False
        for batch in targets.split(cfg.batch_size):
            z = model.encode(mp_index, mp_type)
            loss = batch_loss(model, z, both_directions(batch, R), cfg, sampler, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            out_of_time = time.perf_counter() - start > cfg.time_budget_s
            if out_of_time:
                break
        entry = {"epoch": epoch, "loss": sum(losses) / len(losses)}
        if has_valid and (epoch % cfg.eval_every == 0 or out_of_time or epoch == cfg.epochs):
            entry["valid_mrr"] = evaluate(epoch)
            model.train()
        entry["seconds"] = time.perf_counter() - start
        result.history.append(entry)
        if progress is not None:
            progress("train", epoch, cfg.epochs, dict(entry))
        if out_of_time:
            result.stopped_reason = "time_budget"
            break
        if has_valid and evals_since_best >= cfg.patience:
            result.stopped_reason = "patience"
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        result.best_epoch = result.history[-1]["epoch"]
    model.eval()
    result.train_seconds = time.perf_counter() - start
    return result
