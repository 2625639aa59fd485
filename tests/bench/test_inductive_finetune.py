"""`kgp bench inductive --finetune-budget`: before/after on one split, and no held-out product reaches the encoder."""

from __future__ import annotations

import random
import uuid

import torch

import kgplatform.bench.inductive_finetune as inductive_finetune
from kgplatform.bench.inductive import (
    CHANCE,
    POPULARITY,
    TEXT_ONLY,
    make_split,
    render_inductive_markdown,
    run_inductive,
)
from kgplatform.bench.inductive_finetune import finetune_graph
from kgplatform.graph.store import open_store
from kgplatform.learn.config import TrainConfig
from kgplatform.snapshot import SPLIT_TRAIN, SPLIT_VALID, Snapshot
from kgplatform.text.embeddings import load_encoder
from kgplatform.text.finetune import FinetuneConfig, node_texts
from tests.support.datasets import write_dataset

BRANDS = ["Norvale", "Quistrel", "Bramwick", "Tolvane", "Feyhold"]
CATEGORIES = ["Kitchen", "Garden", "Outdoor", "Audio"]
KINDS = ["kettle", "garden hose", "tent", "headphones"]
PRODUCTS = 50
SPLITS = ("train", "valid", "test")


def catalogue(seed: int = 0) -> tuple[list[tuple], dict[str, list[tuple]]]:
    """Products naming a series code of their brand (never the brand), one category each, ALSO_BOUGHT / ALSO_VIEWED
    within the brand: (entity rows, triples per split). Every product's text is its own."""
    rng = random.Random(seed)
    entities = [(f"brand:{b.lower()}", b, "", "Brand") for b in BRANDS]
    entities += [(f"category:{c.lower()}", c, "", "Category") for c in CATEGORIES]
    triples: list[tuple] = []
    for p in range(PRODUCTS):
        brand, kind = p % len(BRANDS), p % len(KINDS)
        pid = f"product:P{p:03d}"
        entities.append((pid, f"Series {chr(65 + brand)}Q-{100 + p} {KINDS[kind]}", "", "Product"))
        triples += [(pid, "HAS_BRAND", f"brand:{BRANDS[brand].lower()}"),
                    (pid, "IN_CATEGORY", f"category:{CATEGORIES[kind].lower()}")]
        if p >= len(BRANDS):
            triples.append((pid, rng.choice(["ALSO_BOUGHT", "ALSO_VIEWED"]), f"product:P{p - len(BRANDS):03d}"))
    by_split = {name: [t for i, t in enumerate(triples) if split_of(i) == name] for name in SPLITS}
    return entities, by_split


def split_of(i: int) -> str:
    return "valid" if i % 7 == 3 else "test" if i % 11 == 5 else "train"


def catalogue_snapshot() -> Snapshot:
    entities, by_split = catalogue()
    types = ["Brand", "Category", "Product"]
    index = {e[0]: i for i, e in enumerate(entities)}
    rels = sorted({t[1] for rows in by_split.values() for t in rows})
    rows = [(index[h], rels.index(r), index[t], code) for code, name in enumerate(SPLITS) for h, r, t in by_split[name]]
    rows_t = torch.tensor(rows)
    return Snapshot([e[0] for e in entities], types, torch.tensor([types.index(e[3]) for e in entities]),
                    [e[1] for e in entities], rels, rows_t[:, [0, 2]].t().contiguous(), rows_t[:, 1].contiguous(),
                    rows_t[:, 3].contiguous())


def assert_no_held_out_product(graph: Snapshot, held_ids: set[str], held_texts: set[str], all_edges: set[tuple],
                               kept_edges: set[tuple]) -> None:
    assert not held_ids & set(graph.node_ids)  # not nodes: never negatives or validation candidates either
    texts = node_texts(graph)
    assert not any(held in text for held in held_texts for text in texts)
    assert sum("Series" in text for text in texts) == PRODUCTS - len(held_ids)  # the kept products' texts are there
    edges = {(graph.node_ids[h], graph.rel_names[r], graph.node_ids[t]) for h, r, t in graph.triples().tolist()}
    assert edges == kept_edges and edges <= all_edges  # every edge among kept nodes, and no other
    assert bool((graph.edge_split == SPLIT_TRAIN).any()) and bool((graph.edge_split == SPLIT_VALID).any())


def test_finetune_graph_is_the_kept_nodes_with_train_and_valid_edges():
    snap = catalogue_snapshot()
    split = make_split(snap, 0.1, seed=0)
    held = set(split.full.node_ids[split.num_kept:])
    named = {(snap.node_ids[h], snap.rel_names[r], snap.node_ids[t]) for h, r, t in snap.triples().tolist()}
    kept = {e for e in named if e[0] not in held and e[2] not in held}
    texts = {split.full.node_text[i] for i in split.held_out.tolist()}
    assert len(held) == 5 and len(kept) < len(named)
    assert_no_held_out_product(finetune_graph(split.kept_graph), held, texts, named, kept)


def test_inductive_bench_before_and_after_fine_tuning(base_settings, tmp_path, monkeypatch):
    entities, by_split = catalogue()
    data = write_dataset(tmp_path / "tiny-catalogue", entities, by_split["train"],
                         {f"triples_{s}.tsv": "".join("\t".join(t) + "\n" for t in by_split[s]) for s in SPLITS[1:]})
    seen: list[Snapshot] = []
    real_finetune = inductive_finetune.finetune

    def spy(model, snapshot, cfg, progress=None):
        seen.append(snapshot)
        return real_finetune(model, snapshot, cfg, progress)

    monkeypatch.setattr(inductive_finetune, "finetune", spy)
    train_cfg = TrainConfig(dim=16, epochs=4, eval_every=2, patience=10, time_budget_s=20, batch_size=16, lr=0.05,
                            choose_inputs=False)
    ft_cfg = FinetuneConfig(batch_size=8, max_seq_length=16, eval_every_s=1, valid_max_triples=20, patience=1)
    graph = f"t_{uuid.uuid4().hex[:10]}"
    try:
        report = run_inductive(base_settings, data, graph=graph, train_cfg=train_cfg, finetune_cfg=ft_cfg,
                               finetune_budget=3)
    finally:
        store = open_store(base_settings, graph=graph)
        store.delete_graph()
        store.close()

    ft = report["finetune"]
    assert ft["budget_s"] == 3 and ft["steps"] > 0 and ft["stopped"] in ("budget", "patience")
    assert ft["encoder"].startswith("ft-") and ft["valid_before"]["count"] > 0 and "mrr" in ft["valid_after"]
    assert ft["graph"]["nodes"] == len(entities) - report["held_out"]["products"]
    frozen, tuned = report["settings"], report["settings_finetuned"]
    assert set(frozen) == set(tuned) and frozen[TEXT_ONLY]["overall"]["count"] > 0
    assert tuned[TEXT_ONLY]["overall"]["count"] == frozen[TEXT_ONLY]["overall"]["count"]  # the same queries
    assert tuned[POPULARITY] == frozen[POPULARITY] and tuned[CHANCE] == frozen[CHANCE]  # the same split
    assert report["train_finetuned"]["epochs"] > 0 and "finetune" in report["timings_s"]
    # nodes are encoded with the frozen encoder's truncation, not fine-tuning's shorter one: only the weights differ
    length = [load_encoder(folder).max_seq_length for folder in (base_settings.embed_model, ft["folder"])]
    assert length[0] == length[1] > ft_cfg.max_seq_length

    # what the encoder learned from: no held-out product, its text or any of its edges
    assert len(seen) == 1
    product_ids = {e[0] for e in entities if e[3] == "Product"}
    held = product_ids - set(seen[0].node_ids)
    assert len(held) == report["held_out"]["products"] == 5
    named = {t for rows in by_split.values() for t in rows}
    kept = {e for e in named if e[0] not in held and e[2] not in held}
    texts = {e[1] for e in entities if e[0] in held}
    assert_no_held_out_product(seen[0], held, texts, named, kept)

    table = render_inductive_markdown([report])
    assert "| encoder |" in table and "| tiny-catalogue | all | model text-only | frozen |" in table
    assert "| tiny-catalogue | all | model text-only | fine-tuned (3 s) |" in table
    assert "budget 3 s" in table


def test_markdown_without_fine_tuning_keeps_its_columns():
    block = {"overall": {"mrr": 0.5, "hits@1": 0.25, "hits@10": 1.0, "count": 4}, "per_relation": {}}
    report = {"dataset": "d", "protocol": "extend", "settings": {TEXT_ONLY: block},
              "held_out": {"products": 1, "products_total": 10, "products_with_queries": 1, "removed_edges": 3,
                           "revealed_by_relation": {}},
              "train": {"seconds": 1.0, "epochs": 2, "stopped_reason": "budget", "best_valid_mrr": 0.1}}
    table = render_inductive_markdown([report])
    assert table.splitlines()[0] == "| dataset | relation | setting | MRR | Hits@1 | Hits@10 | queries |"
    assert "| d | all | model text-only | 0.500 | 0.250 | 1.000 | 4 |" in table and "encoder" not in table
