"""What the recommender reads: people, their behaviour and the knowledge graph over the items, as tensors.

Built by the store's exporter (graph/export_behaviour.py) or a benchmark reader; every recommend stage is a pure
function of it. Items come first in the entity index (item i is entity i), so item vectors and entity vectors
live in one table and the knowledge graph reaches the items directly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch

from kgplatform.snapshot import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID

NO_TIMESTAMP = -1


def _empty(*shape: int, dtype=torch.long) -> torch.Tensor:
    return torch.empty(*shape, dtype=dtype)


@dataclass
class RecData:
    """users: ``user_ids[u]``; items: ``entity_ids[i]`` for ``i < num_items``; other KG entities follow.

    ``interactions[j] = (user, item)`` with ``split[j]`` (snapshot.SPLIT_* codes, SPLIT_NONE for a log without
    one), ``timestamp[j]`` (epoch ms, NO_TIMESTAMP when unknown), ``weight[j]`` (1.0 by default) and behaviour type
    ``behaviour_names[behaviour[j]]``. ``kg`` rows are (head, relation, tail) over the entity index, relation
    ``rel_names[r]``. ``item_numeric`` holds numeric item attributes (NaN where missing) named
    ``numeric_names``; ``item_categorical`` holds category codes (-1 where missing) into
    ``categorical_values[c]`` for attribute ``categorical_names[c]``. ``ctr`` rows are (user, item, label) with
    ``ctr_split``: the sampled-negative click protocol, only for datasets that ship it.
    """

    user_ids: list[str]
    entity_ids: list[str]
    num_items: int
    entity_text: list[str]
    rel_names: list[str]
    kg: torch.Tensor  # long [T, 3]
    interactions: torch.Tensor  # long [N, 2]
    split: torch.Tensor  # long [N]
    timestamp: torch.Tensor = None  # long [N]
    weight: torch.Tensor = None  # float [N]
    behaviour: torch.Tensor = None  # long [N]
    behaviour_names: list[str] = field(default_factory=lambda: ["INTERACTED"])
    numeric_names: list[str] = field(default_factory=list)
    item_numeric: torch.Tensor = None  # float [num_items, F]
    categorical_names: list[str] = field(default_factory=list)
    categorical_values: list[list[str]] = field(default_factory=list)
    item_categorical: torch.Tensor = None  # long [num_items, C]
    ctr: torch.Tensor = field(default_factory=lambda: _empty(0, 3))  # long [M, 3]
    ctr_split: torch.Tensor = field(default_factory=lambda: _empty(0))  # long [M]

    def __post_init__(self) -> None:
        n = self.interactions.shape[0]
        if self.timestamp is None:
            self.timestamp = torch.full((n,), NO_TIMESTAMP, dtype=torch.long)
        if self.weight is None:
            self.weight = torch.ones(n)
        if self.behaviour is None:
            self.behaviour = torch.zeros(n, dtype=torch.long)
        if self.item_numeric is None:
            self.item_numeric = torch.empty(self.num_items, 0)
        if self.item_categorical is None:
            self.item_categorical = torch.empty(self.num_items, 0, dtype=torch.long)
        if not 0 <= self.num_items <= len(self.entity_ids):
            raise ValueError(f"num_items {self.num_items} outside 0..{len(self.entity_ids)}")
        if len(self.entity_text) != len(self.entity_ids):
            raise ValueError("entity_text and entity_ids differ in length")
        for name, t in (("split", self.split), ("timestamp", self.timestamp), ("weight", self.weight),
                        ("behaviour", self.behaviour)):
            if t.shape[0] != n:
                raise ValueError(f"{name} has {t.shape[0]} rows for {n} interactions")
        if n and (int(self.interactions[:, 1].max()) >= self.num_items or int(self.interactions.min()) < 0):
            raise ValueError("an interaction names an item outside the item range")
        if n and int(self.interactions[:, 0].max()) >= self.num_users:
            raise ValueError("an interaction names a user outside the user range")

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_entities(self) -> int:
        return len(self.entity_ids)

    @property
    def item_ids(self) -> list[str]:
        return self.entity_ids[: self.num_items]

    def pairs(self, split_code: int) -> torch.Tensor:
        """(user, item) rows of one split, duplicates (repeat behaviour) removed, in (user, item) order."""
        rows = self.interactions[self.split == split_code]
        return torch.unique(rows, dim=0) if rows.numel() else rows.reshape(0, 2)

    def train_pairs(self) -> torch.Tensor:
        return self.pairs(SPLIT_TRAIN)

    def valid_pairs(self) -> torch.Tensor:
        return self.pairs(SPLIT_VALID)

    def test_pairs(self) -> torch.Tensor:
        return self.pairs(SPLIT_TEST)

    def content_hash(self) -> str:
        """A short hash of what training sees (ids, interactions with split, KG), for run provenance."""
        digest = hashlib.sha256()
        for ids in (self.user_ids, self.entity_ids, self.rel_names):
            digest.update("\0".join(ids).encode("utf-8") + b"\1")
        digest.update(str(self.num_items).encode())
        for t in (self.interactions, self.split, self.kg):
            digest.update(t.contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    def to_dict(self) -> dict:
        """Tensors, strings and numbers only: loadable with torch.load(weights_only=True)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, saved: dict) -> RecData:
        return cls(**{k: v for k, v in saved.items() if k in cls.__dataclass_fields__})

    def with_split(self, split: torch.Tensor) -> RecData:
        return RecData.from_dict({**self.to_dict(), "split": split})


def leave_last_out(data: RecData) -> torch.Tensor:
    """Split codes for a log without splits: per user, the latest interaction (by timestamp, then by row order)
    is test and the one before it valid, when the user has at least three; the rest is train. Rows that already
    have a split keep it."""
    from kgplatform.snapshot import SPLIT_NONE

    split = data.split.clone()
    open_rows = (split == SPLIT_NONE).nonzero().flatten()
    if not len(open_rows):
        return split
    users = data.interactions[open_rows, 0]
    order = sorted(range(len(open_rows)), key=lambda j: (int(users[j]), int(data.timestamp[open_rows[j]]),
                                                         int(open_rows[j])))
    by_user: dict[int, list[int]] = {}
    for j in order:
        by_user.setdefault(int(users[j]), []).append(int(open_rows[j]))
    for rows in by_user.values():
        for row in rows:
            split[row] = SPLIT_TRAIN
        if len(rows) >= 3:
            split[rows[-1]] = SPLIT_TEST
            split[rows[-2]] = SPLIT_VALID
    return split
