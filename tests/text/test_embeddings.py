"""Text features: the real all-MiniLM-L6-v2 (offline, from its package), cached by (model, text hash)."""

from __future__ import annotations

import pytest
import torch

from kgplatform.errors import KgpError
from kgplatform.settings import default_embedding_model
from kgplatform.text.embeddings import encode_texts, model_fingerprint

TEXTS = ["Sonique Aurora wireless over-ear headphones", "Kettlo stainless steel kettle, 1.7 l",
         "Sonique Aurora wireless over-ear headphones", "Trailmark 2-person backpacking tent"]


def test_encodes_offline_and_never_twice(tmp_path):
    model = default_embedding_model()
    first_stats, second_stats = {}, {}
    first = encode_texts(TEXTS, model, tmp_path, stats=first_stats)
    assert first.shape == (4, 384)
    assert torch.allclose(first.norm(dim=1), torch.ones(4), atol=1e-4)
    assert first_stats["encoded"] == 3  # the repeated text is encoded once
    assert torch.equal(first[0], first[2])
    assert float(first[0] @ first[3]) < 0.9  # different products get different vectors
    second = encode_texts(TEXTS + ["a new product"], model, tmp_path, stats=second_stats)
    assert second_stats == {"texts": 5, "encoded": 1, "cached": 4}
    assert torch.equal(second[:4], first)


def test_a_different_model_never_reuses_vectors(tmp_path):
    fingerprint = model_fingerprint(default_embedding_model())
    other = tmp_path / "other-model"
    other.mkdir()
    (other / "config.json").write_text("{}")
    assert model_fingerprint(str(other)) != fingerprint


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(KgpError, match="text model folder not found"):
        encode_texts(["x"], str(tmp_path / "nope"), tmp_path)
