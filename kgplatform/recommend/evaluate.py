"""Test-time figures of a trained recommender: all-ranking on test, the cold-item slice, and the CTR protocol
where the data ship sampled negatives. Valid interactions are masked when ranking test (they are known then)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from kgplatform.recommend.data import RecData
from kgplatform.recommend.metrics import cold_item_mask, ctr_metrics, ranking_metrics
from kgplatform.snapshot import SPLIT_TEST, SPLIT_VALID

ScoreFn = Callable[[Tensor], Tensor]


def ctr_scores(score_fn: ScoreFn, data: RecData, split_code: int) -> tuple[Tensor, Tensor]:
    """(sigmoid scores, labels) of the CTR rows of one split."""
    rows = data.ctr[data.ctr_split == split_code]
    scores = torch.empty(len(rows))
    for start in range(0, len(rows), 4096):
        chunk = rows[start:start + 4096]
        users, inverse = torch.unique(chunk[:, 0], return_inverse=True)
        scored = score_fn(users)
        scores[start:start + len(chunk)] = scored[inverse.to(scored.device), chunk[:, 1].to(scored.device)].cpu()
    return torch.sigmoid(scores), rows[:, 2]


def evaluate(score_fn: ScoreFn, data: RecData) -> dict:
    """{"test": {recall@K, ndcg@K, hit@K, coverage@K, cold_recall@K, ...}, "ctr": {auc, f1, ...} or None}.
    Empty test: {"test": {}, "ctr": None}."""
    train, valid, test = data.train_pairs(), data.valid_pairs(), data.test_pairs()
    out: dict = {"test": {}, "ctr": None}
    if len(test):
        out["test"] = ranking_metrics(score_fn, test, torch.cat([train, valid]), data.num_items,
                                      cold_items=cold_item_mask(train, data.num_items))
    has_ctr = len(data.ctr) and bool((data.ctr_split == SPLIT_VALID).any()) and bool(
        (data.ctr_split == SPLIT_TEST).any())
    if has_ctr:
        out["ctr"] = ctr_metrics(*ctr_scores(score_fn, data, SPLIT_VALID), *ctr_scores(score_fn, data, SPLIT_TEST))
    return out
