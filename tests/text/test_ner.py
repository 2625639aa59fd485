"""The entity tagger's pure parts: distant labels from the graph, tags aligned to tokens and back to spans. Training
it and finding brands the graph lacks: tests/pipeline/test_discover_step.py."""

from __future__ import annotations

import random

import torch

from kgplatform.settings import default_embedding_model
from kgplatform.snapshot import SPLIT_TRAIN, Snapshot
from kgplatform.text.ner import (
    Span,
    decode_spans,
    distant_examples,
    encode_batch,
    tag_names,
    token_labels,
)

BRANDS = ["Norvale", "Quistrel", "Bramwick", "Tolvane", "Feyhold", "Ostrava Works", "Kelmstead", "Pardona",
          "Vintrel", "Haskoll"]
KINDS = ["cordless drill", "garden hose", "desk lamp", "rain jacket", "kettle", "backpack", "headphones", "tent"]


def catalogue(brands: list[str], per_brand: int = 12, seed: int = 0) -> Snapshot:
    """Products whose titles name their brand in a few shapes; HAS_BRAND edges to brand nodes."""
    rng = random.Random(seed)
    shapes = ["{b} {k}, {n} pack", "{k} by {b} - size {n}", "{b} {k} ({n} pieces)", "New {b} {k} {n}"]
    ids = [f"brand:{b.lower().replace(' ', '_')}" for b in brands]
    texts = list(brands)
    heads, tails = [], []
    for i, brand in enumerate(brands):
        for _ in range(per_brand):
            ids.append(f"product:P{len(ids):04d}")
            texts.append(rng.choice(shapes).format(b=brand, k=rng.choice(KINDS), n=rng.randint(2, 40)))
            heads.append(len(ids) - 1)
            tails.append(i)
    node_type = torch.tensor([0] * len(brands) + [1] * (len(ids) - len(brands)))
    return Snapshot(ids, ["Brand", "Product"], node_type, texts, ["HAS_BRAND"], torch.tensor([heads, tails]),
                    torch.zeros(len(heads), dtype=torch.long), torch.full((len(heads),), SPLIT_TRAIN))


def test_distant_labels_mark_a_products_own_brand_and_align_to_tokens():
    from transformers import AutoTokenizer

    snapshot = catalogue(BRANDS[:3], per_brand=2)
    examples, types = distant_examples(snapshot, ["HAS_BRAND"])
    assert types == ["Brand"] and len(examples) == 6
    for e in examples:
        (span,) = e.spans
        assert span.text in BRANDS[:3] and e.text[span.start:span.end] == span.text

    tokenizer = AutoTokenizer.from_pretrained(default_embedding_model())
    text = "Deluxe Ostrava Works kettle"
    spans = [Span(7, 20, 0, "Ostrava Works")]
    _, (offsets,), labels = encode_batch(tokenizer, [text], 32, [spans])
    tagged = [(text[a:b], int(t)) for (a, b), t in zip(offsets, labels[0]) if b > a]
    assert tagged[0] == ("Deluxe", 0) and tagged[-1] == ("kettle", 0)
    inside = [t for (word, t) in tagged if t != 0]
    assert inside[0] == 1 and set(inside[1:]) == {2}  # B-Brand, then I-Brand for the rest of the span
    assert token_labels([(0, 0), (0, 3)], []) == [-100, 0]  # special tokens are ignored by the loss

    # tags back to spans: one probability row per token, argmax B then I
    probs = torch.zeros(len(offsets), len(tag_names(types)))
    probs[:, 0] = 1.0
    for i, (a, _) in enumerate(offsets):
        if 7 <= a < 20:
            probs[i] = torch.tensor([0.1, 0.9 if a == 7 else 0.0, 0.0 if a == 7 else 0.9])
    (decoded,) = [decode_spans(text, offsets, probs, 1)]
    assert [(s.text, s.kind) for s in decoded] == [("Ostrava Works", 0)] and abs(decoded[0].confidence - 0.9) < 1e-6
