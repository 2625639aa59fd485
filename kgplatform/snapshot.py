"""The exported graph as tensors: the one object every learning stage reads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

SPLIT_TRAIN, SPLIT_VALID, SPLIT_TEST, SPLIT_NONE = 0, 1, 2, -1
SPLIT_CODES = {"train": SPLIT_TRAIN, "valid": SPLIT_VALID, "test": SPLIT_TEST}


@dataclass
class Snapshot:
    """A subgraph read from the store.

    Node i has domain key ``node_ids[i]``, type ``type_names[node_type[i]]`` and text ``node_text[i]``.
    Edge j goes ``edge_index[0, j] -> edge_index[1, j]`` with relation ``rel_names[edge_type[j]]``;
    ``edge_split[j]`` is one of the SPLIT_* codes (SPLIT_NONE when the store did not say).
    ``excluded`` holds (head, rel, tail) rows that exist as predicted edges (any status): never candidates again.
    ``rejected`` holds the (head, rel, tail) rows of predicted edges a reviewer rejected (a subset of ``excluded``):
    known negatives, which training pushes down (TrainConfig.rejected_weight).
    """

    node_ids: list[str]
    type_names: list[str]
    node_type: torch.Tensor  # long [N]
    node_text: list[str]
    rel_names: list[str]
    edge_index: torch.Tensor  # long [2, E]
    edge_type: torch.Tensor  # long [E]
    edge_split: torch.Tensor  # long [E]
    excluded: torch.Tensor = field(default_factory=lambda: torch.empty(0, 3, dtype=torch.long))
    rejected: torch.Tensor = field(default_factory=lambda: torch.empty(0, 3, dtype=torch.long))

    @property
    def num_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def num_relations(self) -> int:
        return len(self.rel_names)

    def triples(self, split: int | None = None) -> torch.Tensor:
        """(head, rel, tail) rows, long [n, 3], optionally of one split."""
        rows = torch.stack([self.edge_index[0], self.edge_type, self.edge_index[1]], dim=1)
        return rows if split is None else rows[self.edge_split == split]

    def content_hash(self) -> str:
        """Stable hash of ids, types, text and edges: written into the run so edges trace to their data."""
        h = hashlib.sha256()
        for part in (self.node_ids, self.type_names, self.node_text, self.rel_names):
            h.update("\x1f".join(part).encode())
            h.update(b"\x1e")
        for t in (self.node_type, self.edge_index, self.edge_type, self.edge_split, self.excluded):
            h.update(t.contiguous().numpy().tobytes())
        if len(self.rejected):  # tagged, and only when present: snapshots without reviews keep their old hash
            h.update(b"\x1drejected" + self.rejected.contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def save(self, path: Path) -> None:
        torch.save(self.__dict__, path)

    @classmethod
    def load(cls, path: Path) -> "Snapshot":
        """Weights-only: tensors, strings and lists are all a snapshot holds, and nothing else is unpickled."""
        return cls(**torch.load(path, weights_only=True))
