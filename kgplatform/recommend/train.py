"""Joint training, L = L_BPR(behaviour) + alpha * L_KG, budgeted by wall clock, early-stopped on valid Recall@20."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from kgplatform.devices import CPU
from kgplatform.recommend.config import RecConfig
from kgplatform.recommend.data import RecData
from kgplatform.recommend.metrics import ranking_metrics
from kgplatform.recommend.model import KGRecommender

Progress = Callable[[str, int, int, dict], None]
SELECT_METRIC = "recall@20"
LOGITS_BUDGET = 2**27  # floats in one step's softmax logits


@dataclass
class RecTrainResult:
    model: KGRecommender  # best validation state loaded, in eval mode, on the device it trained on
    history: list[dict] = field(default_factory=list)  # {epoch, loss, bpr, kg, seconds[, valid recall@20]}
    best_epoch: int = 0
    best_valid: dict | None = None
    stopped_reason: str = "epochs"  # 'epochs' | 'patience' | 'time_budget'
    train_seconds: float = 0.0


class NegativeItems:
    """Uniform negative items, redrawn (up to a few times) when the draw is one of the user's train items."""

    def __init__(self, train_pairs: Tensor, num_items: int):
        self.num_items = num_items
        self.known = torch.unique(train_pairs[:, 0] * num_items + train_pairs[:, 1])

    def sample(self, users: Tensor, generator: torch.Generator) -> Tensor:
        items = torch.randint(self.num_items, (len(users),), generator=generator)
        for _ in range(3):
            clash = torch.isin(users * self.num_items + items, self.known)
            if not clash.any():
                break
            items[clash] = torch.randint(self.num_items, (int(clash.sum()),), generator=generator)
        return items


def build_model(data: RecData, cfg: RecConfig, text_x: Tensor | None = None,
                extra_kg: Tensor | None = None, device: torch.device = CPU) -> KGRecommender:
    """The untrained model on ``device`` with the train graph set. extra_kg: more (h, r, t) rows to propagate over
    and learn from, e.g. the platform's own predicted edges."""
    model = KGRecommender(
        num_users=data.num_users, num_entities=data.num_entities, num_items=data.num_items,
        num_relations=len(data.rel_names), cfg=cfg, text_x=text_x, item_numeric=data.item_numeric,
        item_categorical=data.item_categorical, categorical_sizes=[len(v) for v in data.categorical_values]).to(device)
    model.set_graph(data.train_pairs(), kg_for_training(data, extra_kg))
    return model


def kg_for_training(data: RecData, extra_kg: Tensor | None) -> Tensor:
    return torch.cat([data.kg, extra_kg]) if extra_kg is not None and extra_kg.numel() else data.kg


def score_function(model: KGRecommender) -> Callable[[Tensor], Tensor]:
    """users [B] -> item scores [B, num_items] from one propagation (eval mode, no grad)."""
    model.eval()
    with torch.no_grad():
        users_final, entities_final = model.propagate()
    return lambda users: model.score_items(users_final, entities_final, users)


def validate(model: KGRecommender, data: RecData) -> dict:
    return ranking_metrics(score_function(model), data.valid_pairs(), data.train_pairs(), data.num_items)


def train_recommender(data: RecData, cfg: RecConfig, *, text_x: Tensor | None = None,
                      extra_kg: Tensor | None = None, progress: Progress | None = None,
                      device: torch.device = CPU) -> RecTrainResult:
    """Train on ``device``: batches and negatives are drawn on the CPU (the same draws on any device) and moved."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    model = build_model(data, cfg, text_x, extra_kg, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)  # one kernel for all parameters
    train = data.train_pairs()
    if not len(train):
        raise ValueError("no train interactions: nothing to learn from")
    kg = kg_for_training(data, extra_kg)
    negatives = NegativeItems(train, data.num_items)
    has_valid = len(data.valid_pairs()) > 0
    result = RecTrainResult(model=model)
    best_state, best_score, stale = None, float("-inf"), 0
    steps_per_epoch = -(-len(train) // cfg.batch_size)
    eval_every = max(cfg.eval_every, -(-cfg.eval_min_steps // steps_per_epoch))
    start = time.monotonic()
    for epoch in range(1, cfg.max_epochs + 1):
        model.train()
        order = torch.randperm(len(train), generator=generator)
        totals = {"loss": 0.0, "bpr": 0.0, "kg": 0.0}
        steps = 0
        for begin in range(0, len(order), cfg.batch_size):
            batch = train[order[begin:begin + cfg.batch_size]]
            users, pos = batch[:, 0], batch[:, 1]
            neg = negatives.sample(users, generator).to(device) if cfg.behaviour_loss == "bpr" else None
            users, pos = users.to(device), pos.to(device)
            hide = None
            if cfg.id_dropout > 0:
                hide = torch.nonzero(torch.rand(data.num_items, generator=generator) < cfg.id_dropout).flatten()
                hide = hide.to(device)
            users_final, entities_final = model.propagate(hide)
            if cfg.behaviour_loss == "bpr":
                bpr = model.bpr_loss(users_final, entities_final, users, pos, neg)
            else:
                candidates = None
                budget = max(1, LOGITS_BUDGET // len(users))  # batch x candidates logits kept under ~0.5 GB
                if data.num_items > min(cfg.softmax_items, budget):
                    count = min(cfg.softmax_items, budget)
                    candidates = torch.randint(data.num_items, (count,), generator=generator).to(device)
                bpr = model.softmax_loss(users_final, entities_final, users, pos, candidates)
            loss = bpr
            kg_value = 0.0
            if cfg.alpha > 0 and kg.numel():
                rows = kg[torch.randint(len(kg), (min(cfg.kg_batch_size, len(kg)),), generator=generator)]
                kg_term = model.kg_loss(rows.to(device))
                loss = loss + cfg.alpha * kg_term
                kg_value = float(kg_term.detach())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            totals["loss"] += float(loss.detach())
            totals["bpr"] += float(bpr.detach())
            totals["kg"] += kg_value
            steps += 1
            if cfg.time_budget_s and time.monotonic() - start > cfg.time_budget_s:
                break
        entry = {"epoch": epoch, **{k: v / max(steps, 1) for k, v in totals.items()},
                 "seconds": round(time.monotonic() - start, 2)}
        out_of_time = bool(cfg.time_budget_s and time.monotonic() - start > cfg.time_budget_s)
        if has_valid and (epoch % eval_every == 0 or out_of_time or epoch == cfg.max_epochs):
            metrics = validate(model, data)
            entry["valid_" + SELECT_METRIC] = metrics[SELECT_METRIC]
            if metrics[SELECT_METRIC] > best_score:
                best_score, best_state, stale = metrics[SELECT_METRIC], copy.deepcopy(model.state_dict()), 0
                result.best_epoch, result.best_valid = epoch, metrics
            else:
                stale += 1
        result.history.append(entry)
        if progress:
            progress("train", epoch, cfg.max_epochs, entry)
        if out_of_time:
            result.stopped_reason = "time_budget"
            break
        if has_valid and stale >= cfg.patience:
            result.stopped_reason = "patience"
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        result.best_epoch = len(result.history)
    model.eval()
    result.train_seconds = round(time.monotonic() - start, 2)
    return result
