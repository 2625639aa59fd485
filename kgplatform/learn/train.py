"""Self-supervised training of the link predictor with early stopping on validation filtered MRR."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from kgplatform.devices import CPU, fork_rng_devices, to_device
from kgplatform.learn.choose import race_inputs
from kgplatform.learn.config import TrainConfig
from kgplatform.learn.ensemble import merge_members
from kgplatform.learn.evaluate import rank_metrics
from kgplatform.learn.index import KnownTails, both_directions, relation_ranges, train_edges
from kgplatform.learn.mentions import mention_pairs
from kgplatform.learn.minibatch import sampled_step, uses_sampling
from kgplatform.learn.model import LinkPredictor
from kgplatform.learn.sampling import InEdges
from kgplatform.snapshot import SPLIT_TRAIN, SPLIT_VALID, Snapshot

Progress = Callable[[str, int, int, dict], None]


@dataclass
class TrainResult:
    model: LinkPredictor  # best validation state loaded, in eval mode, on the device it trained on
    history: list[dict] = field(default_factory=list)  # {epoch, loss, seconds[, valid_mrr]} per epoch
    best_epoch: int = 0
    best_valid_mrr: float | None = None
    stopped_reason: str = "epochs"  # 'epochs' | 'patience' | 'time_budget'
    train_seconds: float = 0.0
    best_valid_metrics: dict | None = None
    members: list[dict] = field(default_factory=list)  # an ensemble's: {seed, best_epoch, best_valid_mrr, ...} each
    choice: dict | None = None  # the input race's probes and winner (learn/choose.py), when cfg.choose_inputs


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


def adam(params, lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam, fused into one kernel where every parameter allows it (real floating point on CPU): the same update
    (tested), a CoDEx-S step 1.11x faster, a WN18RR step no faster (bench/results/train_step.md). Complex
    parameters (PyKEEN's ComplEx and RotatE) fall back to the per-parameter loop."""
    params = list(params)
    fusable = all(p.is_floating_point() for p in params)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True if fusable else None)


def smoothed_softmax_loss(logits: Tensor, target: Tensor, cand: Tensor | None, smoothing: float) -> Tensor:
    """Cross-entropy of the target column against the candidate columns, with label smoothing over candidates.

    cand None: every column is a candidate (the 1-N case: skips three passes over a [B, N] tensor).
    Non-candidates get a large finite negative logit (not -inf) so that 0 * log p stays 0.
    """
    logp = torch.log_softmax(logits if cand is None else logits.masked_fill(~cand, -1e9), dim=1)
    nll = -logp.gather(1, target.unsqueeze(1)).squeeze(1)
    if smoothing == 0:
        return nll.mean()
    smooth = -logp.mean(1) if cand is None else -(logp * cand).sum(1) / cand.sum(1).clamp(min=1)
    return ((1 - smoothing) * nll + smoothing * smooth).mean()


def shared_candidates(tails: Tensor, num_nodes: int, k: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """One step's candidate set: its distinct true tails plus k entities drawn uniformly (with replacement:
    cheaper than a permutation of N, and repeats are rare for k << N), and each query's column in it.
    Other queries' tails are in-batch negatives, which weighs entities that are often a tail more, as 1-N's
    gradient does."""
    drawn = torch.randint(num_nodes, (k,), generator=gen)
    candidates, inverse = torch.unique(torch.cat([tails, drawn]), return_inverse=True)
    return candidates, inverse[: len(tails)]


@dataclass(frozen=True)
class StepCandidates:
    """The tails one step scores, drawn before anything is encoded: ``tails`` None (every entity, 1-N), [C]
    (one set shared by every query) or [B, K] (per query); each query's ``target`` column; ``mask`` [B, K] of the
    columns that count as candidates (None: all)."""

    tails: Tensor | None
    target: Tensor
    mask: Tensor | None = None

    def nodes(self, heads: Tensor) -> Tensor | None:
        """The node ids whose states the step reads (None: all of them)."""
        return None if self.tails is None else torch.unique(torch.cat([heads, self.tails.reshape(-1)]))


def draw_candidates(queries: Tensor, cfg: TrainConfig, sampler: TypedNegativeSampler, num_nodes: int,
                    gen: torch.Generator) -> StepCandidates:
    h, r, t = queries.unbind(1)
    if cfg.objective == "1-n":
        # Softmax over ALL entities even when evaluation is type-constrained: it measured better on CoDEx-S for
        # constrained ranking too, and it is the only way the model learns to rank wrong-type entities low.
        return StepCandidates(None, t)
    if cfg.objective == "shared":
        return StepCandidates(*shared_candidates(t, num_nodes, cfg.negatives, gen))
    tails = torch.cat([t.unsqueeze(1), sampler.sample(r, cfg.negatives, gen)], dim=1)  # column 0: positive
    mask = tails != t.unsqueeze(1)
    mask[:, 0] = True
    return StepCandidates(tails, torch.zeros_like(t), mask)


def batch_loss(model: LinkPredictor, z: Tensor, queries: Tensor, cfg: TrainConfig, drawn: StepCandidates,
               ids: Tensor | None = None) -> Tensor:
    """The step's softmax loss over its drawn candidates; z needs the rows drawn.nodes(heads) names.
    ids: z holds only these nodes' rows, and queries and drawn tails are positions in them (minibatch.py)."""
    h, r, t = queries.unbind(1)
    loss = smoothed_softmax_loss(model.score_tails(z, h, r, drawn.tails, ids), drawn.target, drawn.mask,
                                 cfg.label_smoothing)
    if cfg.relation_prediction_weight:
        loss = loss + cfg.relation_prediction_weight * F.cross_entropy(model.score_relations(z, h, t, ids), r)
    return loss + cfg.n3_weight * model.n3_penalty(z, h, r, t) if cfg.n3_weight else loss


def rejected_loss(model: LinkPredictor, z: Tensor, queries: Tensor, ids: Tensor | None = None) -> Tensor:
    """Mean of -log(1 - p(t | h, r)) over rejected (h, r, t) queries, p the softmax over all entities (the same
    distribution the 1-N objective trains): pushes a reviewer-rejected tail down the ranking of its query,
    whatever the scale of the raw scores. Computed as logsumexp(all) - logsumexp(all but t), which is stable.
    ids: as in batch_loss; the softmax then runs over the subgraph's nodes."""
    h, r, t = queries.unbind(1)
    logits = model.score_tails(z, h, r, ids=ids)
    others = logits.scatter(1, t.unsqueeze(1), float("-inf"))
    return (torch.logsumexp(logits, dim=1) - torch.logsumexp(others, dim=1)).mean()


def rejected_queries(snapshot: Snapshot, cfg: TrainConfig) -> Tensor | None:
    """Both directions of the snapshot's rejected triples, without any that is also a known edge (a fact wins
    over an old rejection); None when there are none or cfg.rejected_weight is 0."""
    rows = snapshot.rejected.view(-1, 3).long()
    if cfg.rejected_weight == 0 or len(rows) == 0:
        return None
    known = KnownTails(snapshot.triples(), snapshot.num_nodes, snapshot.num_relations)
    rows = rows[~known.contains(rows[:, 0], rows[:, 1], rows[:, 2])]
    return both_directions(rows, snapshot.num_relations) if len(rows) else None


def train_link_predictor(
    snapshot: Snapshot, text_x: Tensor | None, cfg: TrainConfig, progress: Progress | None = None,
    unseen_nodes: Tensor | None = None, device: torch.device = CPU,
) -> TrainResult:
    """Train on the train split; early-stop on filtered validation MRR (if the snapshot has a valid split).

    Each epoch a fresh random ``hidden_edge_ratio`` share of train edges becomes supervision targets and is removed
    from that epoch's message-passing graph, so the encoder never sees the edges it is asked to predict.
    With ``cfg.unseen_node_ratio`` > 0, a fresh random share of nodes also loses its learned embedding for the
    epoch (text and message passing only), which is what a node added after training has.
    ``unseen_nodes`` (node ids or a bool [N] mask) never use their learned embedding, in training and after
    (``model.has_embedding`` is False for them).
    Rejected predictions (``snapshot.rejected``) add ``cfg.rejected_weight`` * rejected_loss on each step (at most
    batch_size of them per step, drawn from their own generator, so the rest of training draws the same numbers).
    Deterministic for a given seed and device (the caller's global RNG state is left untouched).
    device: where the model trains; batches are drawn on the CPU (the same draws on any device) and moved there.
    The returned model stays on ``device``.
    """
    with torch.random.fork_rng(devices=fork_rng_devices(device)):
        torch.manual_seed(cfg.seed)
        train_fn = partial(_train, device=device)
        if cfg.ensemble_members > 1:
            return _train_ensemble(snapshot, text_x, cfg, progress, unseen_nodes, train_fn)
        if cfg.choose_inputs:
            return race_inputs(snapshot, text_x, cfg, progress, unseen_nodes, train_fn)
        return train_fn(snapshot, text_x, cfg, progress, unseen_nodes)


def _train_ensemble(snapshot: Snapshot, text_x: Tensor | None, cfg: TrainConfig, progress: Progress | None,
                    unseen_nodes: Tensor | None, train_fn=None) -> TrainResult:
    """cfg.ensemble_members models, seeds cfg.seed + k, each given an even share of the time left, each early-stopped
    on its own validation MRR; merged into one model that scores their mean (learn/ensemble.py), which is then
    ranked on validation itself. History entries carry their member k and seconds since the first member began."""
    start = time.perf_counter()
    k_total = cfg.ensemble_members
    members: list[TrainResult] = []
    history: list[dict] = []
    for k in range(k_total):
        left = cfg.time_budget_s - (time.perf_counter() - start)
        member_cfg = cfg.model_copy(update={"ensemble_members": 1, "seed": cfg.seed + k,
                                            "time_budget_s": max(left / (k_total - k), 1e-3)})
        offset = time.perf_counter() - start

        def report(stage: str, cur: int, tot: int, info: dict, k: int = k, offset: float = offset) -> None:
            if progress is not None:
                progress(stage, cur, tot, {**info, "member": k, "members": k_total,
                                           "seconds": info["seconds"] + offset})

        torch.manual_seed(member_cfg.seed)
        members.append((train_fn or _train)(snapshot, text_x, member_cfg, report, unseen_nodes))
        history += [{**e, "member": k, "seconds": e["seconds"] + offset} for e in members[-1].history]
    model = merge_members([m.model for m in members])
    model.cfg = cfg
    result = TrainResult(
        model=model, history=history, stopped_reason=members[-1].stopped_reason,
        best_epoch=members[-1].best_epoch,  # the last member's; each member's is in result.members
        members=[{"seed": cfg.seed + k, "best_epoch": m.best_epoch, "best_valid_mrr": m.best_valid_mrr,
                  "stopped_reason": m.stopped_reason, "seconds": round(m.train_seconds, 1)}
                 for k, m in enumerate(members)])
    if bool((snapshot.edge_split == SPLIT_VALID).any()):
        metrics = rank_metrics(model, snapshot, SPLIT_VALID, train_edges(snapshot), cfg.type_constrained,
                               cfg.eval_batch_size, allowed=relation_ranges(snapshot),
                               max_triples=cfg.valid_max_triples)
        result.best_valid_mrr, result.best_valid_metrics = metrics["mrr"], metrics
    result.train_seconds = time.perf_counter() - start
    return result


def _train(snapshot: Snapshot, text_x: Tensor | None, cfg: TrainConfig, progress: Progress | None,
           unseen_nodes: Tensor | None = None, start_from: dict | None = None, device: torch.device = CPU,
           ) -> TrainResult:
    """One model trained on ``device`` (from ``start_from``, a state_dict of the same configuration, when given)."""
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(cfg.seed)
    R = snapshot.num_relations
    train = snapshot.triples(SPLIT_TRAIN)
    if len(train) == 0:
        raise ValueError("train_link_predictor: the snapshot has no train edges (edge_split == 0); "
                         "call kgplatform.learn.splits.assign_splits first")
    has_valid = bool((snapshot.edge_split == SPLIT_VALID).any())
    mentions = mention_pairs(snapshot.node_text) if cfg.use_mentions else None
    model = LinkPredictor(snapshot.num_nodes, R, cfg, text_x if cfg.use_text else None, mentions)
    if start_from is not None:
        model.load_state_dict(start_from)
    if unseen_nodes is not None:
        model.has_embedding[unseen_nodes] = False
    model.to(device)
    drop_nodes = cfg.unseen_node_ratio > 0 and model.node_emb is not None
    opt = adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ranges = relation_ranges(snapshot)
    sampler = TypedNegativeSampler(ranges if cfg.type_constrained else torch.ones_like(ranges))
    known = KnownTails(snapshot.triples(), snapshot.num_nodes, R).to(device) if has_valid else None
    eval_ranges = ranges.to(device)
    eval_edges = train_edges(snapshot)
    uses_graph = cfg.encoder != "none" and cfg.num_layers > 0
    sampled = uses_sampling(cfg, len(train))
    n_hidden = max(1, round(cfg.hidden_edge_ratio * len(train))) if uses_graph else len(train)
    negatives = rejected_queries(snapshot, cfg)
    negatives_gen = torch.Generator().manual_seed(cfg.seed + 1)

    result = TrainResult(model=model)
    best_state, evals_since_best = None, 0

    def evaluate(epoch: int) -> float:
        nonlocal best_state, evals_since_best
        m = rank_metrics(model, snapshot, SPLIT_VALID, eval_edges, cfg.type_constrained, cfg.eval_batch_size,
                         known=known, allowed=eval_ranges, max_triples=cfg.valid_max_triples)
        if result.best_valid_mrr is None or m["mrr"] > result.best_valid_mrr:
            result.best_valid_mrr, result.best_epoch, result.best_valid_metrics = m["mrr"], epoch, m
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            evals_since_best = 0
        else:
            evals_since_best += 1
            for group in opt.param_groups:
                group["lr"] *= cfg.lr_decay
        return m["mrr"]

    model.train()
    for epoch in range(1, cfg.epochs + 1):
        perm = torch.randperm(len(train), generator=gen)
        targets, message = train[perm[:n_hidden]], train[perm[n_hidden:]]
        mp_index, mp_type = message[:, [0, 2]].t().to(device), message[:, 1].to(device)
        use_embedding = None
        if drop_nodes:  # this epoch's unseen nodes: text + message passing only, like nodes added after training
            use_embedding = (torch.rand(snapshot.num_nodes, generator=gen) >= cfg.unseen_node_ratio).to(device)
        in_edges = InEdges.build(message[:, [0, 2]].t(), message[:, 1], snapshot.num_nodes) if sampled else None
        losses, negative_losses, out_of_time = [], [], False
        for batch in targets.split(cfg.batch_size):
            queries = both_directions(batch, R)
            drawn = draw_candidates(queries, cfg, sampler, snapshot.num_nodes, gen)
            rows, ids = negatives, None
            if rows is not None and len(rows) > cfg.batch_size:
                rows = rows[torch.randperm(len(rows), generator=negatives_gen)[:cfg.batch_size]]
            step_nodes = None if uses_graph or negatives is not None else drawn.nodes(queries[:, 0])
            if in_edges is not None:  # messages over the step's sampled neighbourhood; node ids become positions
                step = sampled_step(model, in_edges, queries, drawn, rows, use_embedding, gen)
                z, ids, queries, drawn, rows = step.z, step.ids, step.queries, step.drawn, step.rejected
            elif step_nodes is not None:  # no message passing: only the rows this step scores need computing
                z = model.encode_rows(step_nodes, use_embedding)
            elif use_embedding is None:  # the two-argument form, as tests and subclasses may wrap it
                z = model.encode(mp_index, mp_type)
            else:
                z = model.encode(mp_index, mp_type, use_embedding)
            queries, drawn = queries.to(device), to_device(drawn, device)  # drawn on the CPU, the same on any device
            loss = batch_loss(model, z, queries, cfg, drawn, ids)
            total = loss
            if rows is not None:
                negative_loss = rejected_loss(model, z, rows.to(device), ids)
                total = loss + cfg.rejected_weight * negative_loss
                negative_losses.append(negative_loss.item())
            opt.zero_grad()
            total.backward()
            opt.step()
            losses.append(loss.item())
            out_of_time = time.perf_counter() - start > cfg.time_budget_s
            if out_of_time:
                break
        entry = {"epoch": epoch, "loss": sum(losses) / len(losses), "lr": opt.param_groups[0]["lr"]}
        if negative_losses:
            entry["rejected_loss"] = sum(negative_losses) / len(negative_losses)
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
