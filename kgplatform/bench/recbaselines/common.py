"""The evaluation every baseline shares: the same splits, masks and metrics as our recommender.

Valid ranking masks train pairs; test ranking masks train + valid pairs; cold items are those with at most one train
interaction (cold_item_mask over train). CTR rows (only datasets that ship sampled negatives) are scored with the same
score function and judged by ctr_metrics (one global AUC; F1 at the threshold best on valid).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from kgplatform.recommend.data import RecData
from kgplatform.recommend.metrics import ScoreFn, cold_item_mask, ctr_metrics, ranking_metrics
from kgplatform.snapshot import SPLIT_TEST, SPLIT_VALID

SELECT_METRIC = "recall@20"  # model selection / early stopping on valid, for every baseline
KS = (10, 20)


@dataclass
class Splits:
    train: torch.Tensor  # (user, item) rows, deduplicated
    valid: torch.Tensor
    test: torch.Tensor
    cold: torch.Tensor  # bool [num_items], from train
    num_items: int

    @classmethod
    def of(cls, data: RecData) -> Splits:
        train = data.train_pairs()
        return cls(train, data.valid_pairs(), data.test_pairs(), cold_item_mask(train, data.num_items),
                   data.num_items)

    def train_valid(self) -> torch.Tensor:
        return torch.unique(torch.cat([self.train, self.valid]), dim=0)

    def valid_metrics(self, score_fn: ScoreFn) -> dict[str, float]:
        return ranking_metrics(score_fn, self.valid, self.train, self.num_items, ks=KS, cold_items=self.cold)

    def test_metrics(self, score_fn: ScoreFn) -> dict[str, float]:
        return ranking_metrics(score_fn, self.test, self.train_valid(), self.num_items, ks=KS, cold_items=self.cold)


@torch.no_grad()
def pair_scores(score_fn: ScoreFn, users: torch.Tensor, items: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """score_fn's score of each (users[j], items[j]), one score_fn call per batch of distinct users."""
    out = torch.empty(len(users))
    distinct, inverse = torch.unique(users, return_inverse=True)
    for start in range(0, len(distinct), batch_size):
        block = score_fn(distinct[start:start + batch_size]).float()
        rows = (inverse >= start) & (inverse < start + batch_size)
        out[rows] = block[inverse[rows] - start, items[rows]]
    return out


def ctr_result(score_fn: ScoreFn, data: RecData) -> dict[str, float] | None:
    """ctr_metrics over data.ctr's valid and test rows, or None when the dataset ships no CTR rows."""
    if not data.ctr.numel():
        return None
    parts = []
    for code in (SPLIT_VALID, SPLIT_TEST):
        rows = data.ctr[data.ctr_split == code]
        parts += [pair_scores(score_fn, rows[:, 0], rows[:, 1]), rows[:, 2]]
    if any(not len(p) for p in parts):
        return None
    return ctr_metrics(*parts)


class Budget:
    """Wall clock since construction against ``seconds``; ``fits(next_s)``: is there time for a step of that length."""

    def __init__(self, seconds: float):
        self.seconds, self.start = float(seconds), time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def fits(self, next_s: float = 0.0) -> bool:
        return self.elapsed() + next_s <= self.seconds


ProgressFn = Callable[..., None]  # (stage, current, total) like kgplatform.progress.ProgressFn


def report(progress: ProgressFn | None, stage: str, current: int, total: int) -> None:
    if progress is not None:
        progress(stage, current, total)
