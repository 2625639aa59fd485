"""Top-N recommendations per user from a trained model: pure tensors in, (user, item, rank, score) rows out."""

from __future__ import annotations

import torch
from torch import Tensor

from kgplatform.recommend.data import RecData
from kgplatform.recommend.metrics import known_by_user, top_k
from kgplatform.recommend.model import KGRecommender


def final_vectors(model: KGRecommender, data: RecData) -> tuple[Tensor, Tensor]:
    """(users [U, d], entities [E, d]) propagated over every interaction the data holds, whatever its split:
    the propagation has no weights of its own, so behaviour newer than training folds in without retraining."""
    model.set_graph(torch.unique(data.interactions, dim=0) if len(data.interactions) else data.interactions,
                    data.kg)
    model.eval()
    with torch.no_grad():
        return model.propagate()


def shard_users(num_users: int, shard: int, num_shards: int) -> Tensor:
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} outside 0..{num_shards - 1}")
    return torch.arange(shard, num_users, num_shards, dtype=torch.long)


def recommend_top_n(users_final: Tensor, entities_final: Tensor, data: RecData, users: Tensor,
                    n: int, batch_size: int = 1024) -> list[tuple[int, int, int, float]]:
    """(user, item, rank from 1, score) for each user: the n best items the user has no interaction with. Scored
    where the vectors are (move them to the device first)."""
    items = entities_final[: data.num_items]

    def score(batch: Tensor) -> Tensor:
        return users_final[batch.to(users_final.device)] @ items.t()

    known = torch.unique(data.interactions, dim=0) if len(data.interactions) else data.interactions
    known_pairs = set(map(tuple, known.tolist()))
    grouped = known_by_user(known)  # once: rebuilding it per batch cost ~1 s a batch at 850k interactions
    rows = []
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        ranked = top_k(score, batch, grouped, data.num_items, n, batch_size=batch_size)
        values = torch.gather(score(batch), 1, ranked.to(items.device)).cpu()
        for u, items_row, values_row in zip(batch.tolist(), ranked.tolist(), values.tolist()):
            position = 0
            for item, value in zip(items_row, values_row):
                if (u, item) in known_pairs:  # the user has fewer unseen items than n
                    continue
                position += 1
                rows.append((u, item, position, float(value)))
    return rows
