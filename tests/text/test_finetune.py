"""Fine-tuning the real all-MiniLM-L6-v2 on a generated graph, its artefact and its embedding cache."""

from __future__ import annotations

import random

import torch

from kgplatform.learn.config import TrainConfig
from kgplatform.pipeline.stages import featurize
from kgplatform.settings import Settings, default_embedding_model
from kgplatform.snapshot import SPLIT_TRAIN, SPLIT_VALID, Snapshot
from kgplatform.text.embeddings import encode_texts, load_encoder, model_fingerprint
from kgplatform.text.encoders import save_encoder
from kgplatform.text.finetune import (
    FinetuneConfig,
    candidate_sample,
    finetune,
    node_texts,
    same_type_negatives,
    text_only_metrics,
)

BRANDS = ["Norvale", "Quistrel", "Bramwick", "Tolvane", "Feyhold", "Ostrava Works"]
KINDS = ["cordless drill", "garden hose", "desk lamp", "rain jacket", "kettle", "backpack", "headphones", "tent"]


def coded_catalogue(seed: int = 0) -> Snapshot:
    """Products name a series code that belongs to one brand, never the brand itself: the code-to-brand map is
    learnable from train edges and invisible to a frozen encoder."""
    rng = random.Random(seed)
    codes = {brand: [f"{chr(65 + i)}{chr(75 + j)}-{rng.randint(100, 999)}" for j in range(3)]
             for i, brand in enumerate(BRANDS)}
    ids = [f"brand:{b.lower().replace(' ', '_')}" for b in BRANDS]
    texts = [""] * len(BRANDS)
    heads, tails, split = [], [], []
    for p in range(240):
        brand = p % len(BRANDS)
        ids.append(f"product:P{p:03d}")
        texts.append(f"Series {rng.choice(codes[BRANDS[brand]])} {rng.choice(KINDS)}")
        heads.append(len(ids) - 1)
        tails.append(brand)
        split.append(SPLIT_VALID if p % 5 == 0 else SPLIT_TRAIN)
    node_type = torch.tensor([0] * len(BRANDS) + [1] * 240)
    return Snapshot(ids, ["Brand", "Product"], node_type, texts, ["HAS_BRAND"], torch.tensor([heads, tails]),
                    torch.zeros(len(heads), dtype=torch.long), torch.tensor(split))


def test_hard_negatives_are_other_nodes_of_the_same_type():
    node_type = torch.tensor([0, 0, 0, 1, 1, 2])
    tails = torch.tensor([0, 1, 2, 3, 4, 5] * 50)
    negatives = same_type_negatives(node_type, tails, torch.Generator().manual_seed(0))
    assert torch.equal(node_type[negatives], node_type[tails])
    only_child = tails == 5  # the only node of its type: itself
    assert torch.equal(negatives[only_child], tails[only_child])
    assert not (negatives[~only_child] == tails[~only_child]).any()
    assert set(negatives[tails == 0].tolist()) == {1, 2}  # both others drawn


def test_a_short_fine_tune_raises_validation_mrr_and_reloads_exactly(tmp_path):
    snapshot = coded_catalogue()
    model = load_encoder(default_embedding_model())
    model = type(model)(default_embedding_model(), device="cpu")  # a private copy: load_encoder's is shared
    before = text_only_metrics(model, snapshot)
    cfg = FinetuneConfig(time_budget_s=60, batch_size=16, max_seq_length=24, lr=1e-4, freeze_layers=3,
                         eval_every_s=15, patience=2)
    result = finetune(model, snapshot, cfg)
    assert result.before["mrr"] == before["mrr"]
    assert result.best["mrr"] > before["mrr"] + 0.1, (before, result.best, result.curve)
    assert result.curve and result.steps > 0

    folder = save_encoder(model, tmp_path)
    assert folder.name.startswith("ft-") and save_encoder(model, tmp_path) == folder  # content-addressed
    reloaded = load_encoder(str(folder))
    texts = node_texts(snapshot)[:20]
    assert torch.allclose(torch.as_tensor(model.encode(texts)), torch.as_tensor(reloaded.encode(texts)), atol=1e-5)
    assert abs(text_only_metrics(reloaded, snapshot)["mrr"] - result.best["mrr"]) < 1e-6

    # the embedding cache keeps the frozen and the fine-tuned vectors apart
    frozen_fp, tuned_fp = model_fingerprint(default_embedding_model()), model_fingerprint(str(folder))
    assert frozen_fp != tuned_fp
    frozen = encode_texts(texts, default_embedding_model(), tmp_path / "cache")
    tuned = encode_texts(texts, str(folder), tmp_path / "cache")
    assert not torch.allclose(frozen, tuned, atol=1e-3)
    assert len(list((tmp_path / "cache").glob("embeddings-*.sqlite"))) == 2
    again = encode_texts(texts, str(folder), tmp_path / "cache", stats=(stats := {}))
    assert stats["encoded"] == 0 and torch.equal(again, tuned)

    # a run that names the fine-tuned encoder gets its vectors (pipeline featurize, cfg.encoder)
    settings = Settings(KGP_HOME=str(tmp_path / "home"))
    featurized = featurize(snapshot, settings, TrainConfig(), encoder=str(folder))
    products = slice(len(BRANDS), 20)  # the brands' own text is empty; node_texts names them
    assert torch.allclose(featurized[products], tuned[products], atol=1e-5)


def test_cheap_validation_ranks_among_the_true_ends_and_a_fixed_sample():
    triples = torch.tensor([[0, 0, 5], [7, 0, 2]])
    picked = candidate_sample(triples, num_nodes=50, max_nodes=10, seed=1)
    assert len(picked) == 10 and {0, 2, 5, 7} <= set(picked.tolist())
    assert torch.equal(picked, candidate_sample(triples, num_nodes=50, max_nodes=10, seed=1))  # the same every time
    assert candidate_sample(triples, num_nodes=50, max_nodes=50, seed=1) is None  # all of them: no sample
