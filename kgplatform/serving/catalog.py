"""The items the API can return, growing while it serves: append-only rows in buffers with spare capacity.

A Catalog value is never changed: `append` returns a new Catalog over the same buffers when they have room (rows a
reader can see are below its own `size` and are never written again), or over bigger copies. So a request that
took a Catalog at its start keeps a consistent view while new products arrive; the writer (one, under the
service's lock) publishes the new value by assignment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _grown(buffer: np.ndarray, rows: int) -> np.ndarray:
    if rows <= len(buffer):
        return buffer
    bigger = np.zeros((max(rows, 2 * len(buffer), 64),) + buffer.shape[1:], dtype=buffer.dtype)
    bigger[: len(buffer)] = buffer
    return bigger


@dataclass(frozen=True)
class Catalog:
    ids: list[str]  # row -> item id (append-only; only the first `size` belong to this value)
    names: list[str]
    position: dict[str, int]  # item id -> row (append-only)
    vectors_buffer: np.ndarray  # [capacity, d] float32, the model's item vectors
    text_buffer: np.ndarray  # [capacity, t] float32, unit-length text vectors (t = 0: no text)
    size: int
    first_new: int  # rows from here on were folded in while serving (no behaviour in the model's data)

    @classmethod
    def of(cls, ids: list[str], names: list[str], vectors: np.ndarray, text: np.ndarray) -> Catalog:
        return cls(list(ids), list(names), {e: i for i, e in enumerate(ids)},
                   np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(text, dtype=np.float32),
                   len(ids), len(ids))

    @property
    def vectors(self) -> np.ndarray:
        return self.vectors_buffer[: self.size]

    @property
    def text(self) -> np.ndarray:
        return self.text_buffer[: self.size]

    def row(self, item_id: str) -> int | None:
        row = self.position.get(item_id)
        return row if row is not None and row < self.size else None

    def is_new(self, row: int) -> bool:
        return row >= self.first_new

    def append(self, ids: list[str], names: list[str], vectors: np.ndarray, text: np.ndarray) -> Catalog:
        """A catalog with these items after the current ones (ids already present are the caller's to skip)."""
        end = self.size + len(ids)
        vectors_buffer, text_buffer = _grown(self.vectors_buffer, end), _grown(self.text_buffer, end)
        vectors_buffer[self.size:end] = vectors
        if text_buffer.shape[1]:
            text_buffer[self.size:end] = text
        del self.ids[self.size:], self.names[self.size:]  # rows a failed append left behind
        self.ids.extend(ids)
        self.names.extend(names)
        self.position.update({e: self.size + n for n, e in enumerate(ids)})
        return Catalog(self.ids, self.names, self.position, vectors_buffer, text_buffer, end, self.first_new)
