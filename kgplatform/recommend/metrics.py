"""All-ranking metrics: every item the user has not interacted with (in the masked splits) is a candidate.

NDCG@K divides by the ideal DCG over all of the user's test items (at most K of them fit in the list): KGIN's
definition. KGAT's evaluation divides by the DCG of the retrieved hits only, which inflates NDCG.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

ScoreFn = Callable[[torch.Tensor], torch.Tensor]  # user indices [B] -> item scores [B, num_items]


def known_by_user(pairs: torch.Tensor) -> dict[int, list[int]]:
    """(user, item) rows grouped by user, for top_k calls over many batches."""
    return _by_user(pairs)


def _by_user(pairs: torch.Tensor) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for u, i in pairs.tolist():
        out.setdefault(u, []).append(i)
    return out


def top_k(score_fn: ScoreFn, users: torch.Tensor, known: torch.Tensor | dict[int, list[int]], num_items: int, k: int,
          batch_size: int = 1024) -> torch.Tensor:
    """[len(users), k] item indices, best first, never an item in ``known`` (user, item) rows for that user
    (``known`` may also be those rows already grouped by user: known_by_user)."""
    known_by_user = known if isinstance(known, dict) else _by_user(known)
    k = min(k, num_items)
    out = []
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        scores = score_fn(batch).clone()
        rows, cols = [], []
        for r, u in enumerate(batch.tolist()):
            items = known_by_user.get(u, ())
            rows.extend([r] * len(items))
            cols.extend(items)
        if rows:
            scores[torch.tensor(rows, device=scores.device), torch.tensor(cols, device=scores.device)] = float("-inf")
        out.append(torch.topk(scores, k, dim=1).indices.cpu())
    return torch.cat(out) if out else torch.empty(0, k, dtype=torch.long)


def ranking_metrics(score_fn: ScoreFn, target: torch.Tensor, known: torch.Tensor, num_items: int,
                    ks: tuple[int, ...] = (10, 20), cold_items: torch.Tensor | None = None,
                    batch_size: int = 1024) -> dict[str, float]:
    """Recall@K, NDCG@K (KGIN's ideal DCG), Hit@K for each K, averaged over users with a target item; coverage@K
    (share of the catalogue in anyone's top K); with ``cold_items`` (bool [num_items]) also recall@K over the
    target pairs whose item is cold (micro-averaged: hits / cold target pairs)."""
    target_by_user = _by_user(target)
    users = torch.tensor(sorted(target_by_user), dtype=torch.long)
    if not len(users):
        raise ValueError("no user has a target item")
    kmax = max(ks)
    ranked = top_k(score_fn, users, known, num_items, kmax, batch_size=batch_size)
    discounts = [1.0 / math.log2(p + 2) for p in range(kmax)]
    sums = {f"{m}@{k}": 0.0 for k in ks for m in ("recall", "ndcg", "hit")}
    cold_hits = {k: 0 for k in ks}
    cold_total = 0
    for row, u in zip(ranked.tolist(), users.tolist()):
        relevant = set(target_by_user[u])
        hit_at = [p for p, item in enumerate(row) if item in relevant]
        cold = {i for i in relevant if cold_items is not None and bool(cold_items[i])}
        cold_total += len(cold)
        for k in ks:
            hits = [p for p in hit_at if p < k]
            sums[f"recall@{k}"] += len(hits) / len(relevant)
            ideal = sum(discounts[: min(len(relevant), k)])
            sums[f"ndcg@{k}"] += sum(discounts[p] for p in hits) / ideal
            sums[f"hit@{k}"] += 1.0 if hits else 0.0
            cold_hits[k] += sum(1 for p in hits if row[p] in cold)
    out = {name: total / len(users) for name, total in sums.items()}
    for k in ks:
        out[f"coverage@{k}"] = len(set(ranked[:, :k].flatten().tolist())) / max(num_items, 1)
        if cold_items is not None:
            out[f"cold_recall@{k}"] = cold_hits[k] / cold_total if cold_total else float("nan")
    out["users"] = float(len(users))
    if cold_items is not None:
        out["cold_pairs"] = float(cold_total)
    return out


def cold_item_mask(train: torch.Tensor, num_items: int, max_train_interactions: int = 1) -> torch.Tensor:
    """bool [num_items]: items with at most ``max_train_interactions`` train interactions."""
    counts = torch.bincount(train[:, 1], minlength=num_items) if train.numel() else torch.zeros(num_items)
    return counts <= max_train_interactions


def ctr_metrics(scores_valid: torch.Tensor, labels_valid: torch.Tensor, scores_test: torch.Tensor,
                labels_test: torch.Tensor) -> dict[str, float]:
    """One global test AUC (not KGCN's mean of 128-row batch AUCs), and F1 at the threshold that maximises F1 on
    valid (the threshold is reported too)."""
    from sklearn.metrics import f1_score, precision_recall_curve, roc_auc_score

    precision, recall, thresholds = precision_recall_curve(labels_valid.numpy(), scores_valid.numpy())
    f1 = 2 * precision * recall / (precision + recall + 1e-12)
    best = int(f1[:-1].argmax()) if len(thresholds) else 0
    threshold = float(thresholds[best]) if len(thresholds) else 0.0
    predicted = (scores_test >= threshold).numpy()
    return {"auc": float(roc_auc_score(labels_test.numpy(), scores_test.numpy())),
            "f1": float(f1_score(labels_test.numpy(), predicted)),
            "threshold": threshold,
            "valid_auc": float(roc_auc_score(labels_valid.numpy(), scores_valid.numpy()))}
