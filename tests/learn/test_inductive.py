"""New nodes without retraining: model extension, the held-out-products split, the text baseline, a real run."""

from __future__ import annotations

import torch

from kgplatform.bench.inductive import (
    CHANCE,
    ONE_EDGE,
    POPULARITY,
    QUERY_RELATIONS,
    ROW_FIELDS,
    TEXT_ONLY,
    NeighbourScorer,
    PopularityScorer,
    candidate_counts,
    chance_metrics,
    choose_held_out,
    first_nodes,
    make_split,
    remove_node_edges,
    render_inductive_markdown,
    reorder_nodes,
    run_inductive,
)
from kgplatform.learn.config import TrainConfig
from kgplatform.learn.evaluate import ranks
from kgplatform.learn.index import KnownTails, relation_ranges, train_edges
from kgplatform.learn.inductive import extend_with_nodes
from kgplatform.learn.model import LinkPredictor
from kgplatform.learn.train import train_link_predictor
from kgplatform.snapshot import Snapshot
from tests.support.env import require_dataset
from tests.support.snapshots import load_tsv_snapshot, tiny_snapshot

TINY = dict(dim=16, epochs=6, eval_every=2, patience=10, time_budget_s=60, batch_size=4, lr=0.05)


def tiny_text(n: int, seed: int = 1) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(n, 12, generator=torch.Generator().manual_seed(seed)), dim=1)


# ---- (a) model extension ----------------------------------------------------------------------------------------

def test_extending_a_trained_model_keeps_old_scores_and_scores_new_nodes():
    snap = tiny_snapshot()
    trained = train_link_predictor(snap, tiny_text(snap.num_nodes), TrainConfig(**TINY)).model
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    new_text = tiny_text(3, seed=7)

    extended = extend_with_nodes(trained, new_text)

    assert extended.num_nodes == snap.num_nodes + 3 and not extended.training
    assert extended.has_embedding.tolist() == [True] * snap.num_nodes + [False] * 3
    # no training happened: the original is untouched and every trained tensor is carried over as it is
    after = trained.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    ext = extended.state_dict()
    for key, value in before.items():
        if key in ("text_x", "node_emb.weight", "has_embedding"):
            assert torch.equal(ext[key][: snap.num_nodes], value)
        else:
            assert torch.equal(ext[key], value), key
    assert torch.equal(ext["text_x"][snap.num_nodes:], new_text)
    # the new nodes' input is their projected text only
    x = extended.node_input()
    assert torch.allclose(x[snap.num_nodes:], extended.text_proj(new_text))

    with torch.no_grad():
        z_old = trained.encode(*train_edges(snap))
        z_new = extended.encode(*train_edges(snap))  # new nodes are isolated: old states are unchanged
        heads, rels = torch.tensor([0, 1, 4, 2]), torch.tensor([0, 1, 2, 3])
        old_scores = trained.score_tails(z_old, heads, rels)
        new_scores = extended.score_tails(z_new, heads, rels)
        assert torch.allclose(new_scores[:, : snap.num_nodes], old_scores, atol=1e-6)
        # new nodes as heads and as tails, with one known edge each (new node 7 lives in city 4)
        ei = torch.cat([train_edges(snap)[0], torch.tensor([[7], [4]])], dim=1)
        et = torch.cat([train_edges(snap)[1], torch.tensor([0])])
        z = extended.encode(ei, et)
        s = extended.score_tails(z, torch.tensor([7, 8, 9]), torch.tensor([0, 0, 1]))
    assert s.shape == (3, snap.num_nodes + 3) and torch.isfinite(s).all()
    assert not torch.equal(z[7], z_new[7])  # its edge reached it


def test_has_embedding_masks_learned_embeddings_and_old_states_still_load():
    snap = tiny_snapshot()
    cfg = TrainConfig(dim=8)
    torch.manual_seed(0)
    model = LinkPredictor(snap.num_nodes, snap.num_relations, cfg, tiny_text(snap.num_nodes))
    full = model.node_input().detach()
    model.has_embedding[2] = False
    masked = model.node_input().detach()
    assert torch.equal(masked[[0, 1, 3]], full[[0, 1, 3]])
    assert torch.allclose(masked[2], model.text_proj(model.text_x[2]))
    # the buffer travels in state_dict ...
    state = model.state_dict()
    other = LinkPredictor(snap.num_nodes, snap.num_relations, cfg, tiny_text(snap.num_nodes))
    other.load_state_dict(state)
    assert not bool(other.has_embedding[2]) and int(other.has_embedding.sum()) == snap.num_nodes - 1
    # ... and a state saved before it existed (run directories of earlier versions) loads with every node on
    old = {k: v for k, v in state.items() if k != "has_embedding"}
    other.load_state_dict(old)
    assert bool(other.has_embedding.all())


def test_unseen_nodes_and_unseen_node_ratio_in_training(monkeypatch):
    snap = tiny_snapshot()
    cfg = TrainConfig(**TINY)
    text = tiny_text(snap.num_nodes)
    torch.manual_seed(cfg.seed)  # the trainer builds its model right after seeding with cfg.seed
    init = LinkPredictor(snap.num_nodes, snap.num_relations, cfg, text).node_emb.weight.detach().clone()
    res = train_link_predictor(snap, text, cfg, unseen_nodes=torch.tensor([1, 5]))
    weight = res.model.node_emb.weight.detach()
    assert res.model.has_embedding.tolist() == [True, False, True, True, True, False, True]
    assert torch.equal(weight[[1, 5]], init[[1, 5]])  # masked rows never receive a gradient
    assert not torch.equal(weight[[0, 2]], init[[0, 2]])

    seen = []
    real_encode = LinkPredictor.encode

    def spy(self, edge_index, edge_type, use_embedding=None):
        if self.training:
            seen.append(use_embedding)
        return real_encode(self, edge_index, edge_type, use_embedding)

    monkeypatch.setattr(LinkPredictor, "encode", spy)
    train_link_predictor(snap, text, TrainConfig(**TINY))
    assert seen and all(u is None for u in seen)  # default: every node keeps its embedding
    seen.clear()
    big = Snapshot(**{**snap.__dict__, "node_ids": [f"n{i}" for i in range(4000)],
                      "node_type": torch.cat([snap.node_type, torch.zeros(4000 - 7, dtype=torch.long)]),
                      "node_text": [""] * 4000})
    train_link_predictor(big, None, TrainConfig(**{**TINY, "epochs": 2}, use_text=False, unseen_node_ratio=0.3))
    assert seen and all(u is not None and u.shape == (4000,) for u in seen)
    share = 1 - torch.stack(seen).double().mean().item()
    assert 0.27 < share < 0.33


# ---- (b) the held-out split -------------------------------------------------------------------------------------

def test_held_out_split_removes_every_edge_of_the_chosen_products_and_only_theirs():
    snap = load_tsv_snapshot("amazon-giftcards-2018")
    product = snap.type_names.index("Product")
    n_products = int((snap.node_type == product).sum())
    held = choose_held_out(snap, 0.1, seed=3)
    assert len(held) == round(0.1 * n_products) and bool((snap.node_type[held] == product).all())
    assert torch.equal(held, choose_held_out(snap, 0.1, seed=3))
    assert not torch.equal(held, choose_held_out(snap, 0.1, seed=4))

    reduced, removed = remove_node_edges(snap, held)
    is_held = torch.zeros(snap.num_nodes, dtype=torch.bool)
    is_held[held] = True
    touches = is_held[snap.edge_index[0]] | is_held[snap.edge_index[1]]
    assert not (is_held[reduced.edge_index[0]] | is_held[reduced.edge_index[1]]).any()  # every edge of theirs
    assert len(reduced.edge_type) == int((~touches).sum())  # ... and only theirs
    assert sorted(map(tuple, removed.tolist())) == sorted(map(tuple, snap.triples()[touches].tolist()))
    assert set(reduced.edge_split.tolist()) == {0, 1, 2}  # the other products keep all three splits
    assert reduced.num_nodes == snap.num_nodes  # the nodes themselves stay

    split = make_split(snap, 0.1, seed=3)
    kept = split.num_kept
    assert split.full.node_ids[kept:] == [snap.node_ids[i] for i in held.tolist()]
    assert not (split.reduced.edge_index >= kept).any()
    assert len(split.removed) == len(removed) and len(split.reduced.edge_type) == len(reduced.edge_type)
    rels = split.full.rel_names
    av = rels.index("ALSO_VIEWED")
    full_rows = set(map(tuple, split.removed.tolist()))
    has_av_to_kept = {h if t < kept else t for h, r, t in full_rows if r == av and min(h, t) < kept}
    products_with_edges = {n for h, _, t in full_rows for n in (h, t) if n >= kept}
    assert sorted(split.revealed_for.tolist()) == sorted(products_with_edges)  # one edge per product ...
    for (h, r, t), node in zip(split.revealed.tolist(), split.revealed_for.tolist()):
        assert (h, r, t) in full_rows and node in (h, t)  # ... one of its own
        if node in has_av_to_kept:  # preference: ALSO_VIEWED to a product the model knows
            assert r == av and min(h, t) < kept
    q = split.queries
    assert len(q) > 0 and bool((q[:, 0] >= kept).all())
    assert {rels[r] for r in q[:, 1].tolist()} == set(QUERY_RELATIONS)
    assert not set(map(tuple, q.tolist())) & set(map(tuple, split.revealed.tolist()))


def test_renumbering_keeps_edges_and_review_rows_on_the_same_nodes():
    snap = tiny_snapshot()
    rows = torch.tensor([[0, 0, 6], [3, 1, 2]])
    extra = {name: rows.clone() for name in ROW_FIELDS if hasattr(snap, name)}
    snap = Snapshot(**{**snap.__dict__, **extra})
    order = torch.tensor([6, 2, 0, 1, 3, 5, 4])
    moved = reorder_nodes(snap, order)

    def named(s, triples):
        return sorted((s.node_ids[h], s.rel_names[r], s.node_ids[t]) for h, r, t in triples.tolist())

    assert named(moved, moved.triples()) == named(snap, snap.triples())
    assert [moved.node_type[i].item() for i in range(7)] == snap.node_type[order].tolist()
    for name in extra:
        assert named(moved, getattr(moved, name)) == named(snap, getattr(snap, name))
    # cutting the last nodes off drops the rows that touch them (node 4 is now last: cut 1 node after removal)
    reduced, _ = remove_node_edges(moved, torch.tensor([6]))
    cut = first_nodes(reduced, 6)
    assert cut.num_nodes == 6 and not (cut.edge_index >= 6).any()
    for name in extra:
        assert named(cut, getattr(cut, name)) == named(snap, getattr(snap, name))  # no row touched node 4


# ---- (c) the text nearest-neighbour baseline --------------------------------------------------------------------

def test_nearest_neighbour_baseline_ranks_the_neighbours_brand_first():
    # products 0-3, brands 4-6; product 3 is new: its text is nearest to product 1, whose brand is 5
    text = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.7, 0.0, 0.7], [0.5, 0.6, 0.0],
                         [0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    rows = torch.tensor([[0, 0, 4], [1, 0, 5], [2, 0, 4], [3, 0, 5]])
    snap = Snapshot([f"n{i}" for i in range(7)], ["Product", "Brand"], torch.tensor([0, 0, 0, 0, 1, 1, 1]),
                    [""] * 7, ["HAS_BRAND"], rows[:, [0, 2]].t(), rows[:, 1], torch.zeros(4, dtype=torch.long))
    reduced, _ = remove_node_edges(snap, torch.tensor([3]))
    known = KnownTails(snap.triples(), 7, 1)
    allowed = relation_ranges(reduced)
    q = torch.tensor([[3, 0, 5]])
    nn1 = NeighbourScorer(text, torch.tensor([0, 1, 2]), reduced.triples(), 1, k=1)
    assert ranks(nn1, None, q, known, allowed).item() == 1.0
    scores = nn1.score_tails(None, torch.tensor([3]), torch.tensor([0]))[0]
    assert scores[5] > 0 and scores[4] == 0 and scores[6] == 0
    # brand 4 is the more popular one: with all three neighbours it wins, and popularity alone ranks 5 second
    nn3 = NeighbourScorer(text, torch.tensor([0, 1, 2]), reduced.triples(), 1, k=3)
    assert ranks(nn3, None, q, known, allowed).item() == 2.0
    assert ranks(PopularityScorer(reduced.triples(), 7, 1), None, q, known, allowed).item() == 2.0
    # chance: 3 brands -> expected MRR (1 + 1/2 + 1/3) / 3
    counts = candidate_counts(q, known, allowed)
    assert counts.tolist() == [3]
    assert abs(chance_metrics(counts)["mrr"] - 11 / 18) < 1e-9


# ---- (d) a real run through the embedded store ------------------------------------------------------------------

def test_inductive_bench_on_giftcards_beats_chance(base_settings):
    data = require_dataset("amazon-giftcards-2018")
    import uuid

    graph = f"t_{uuid.uuid4().hex[:10]}"
    try:
        report = run_inductive(base_settings, data, time_budget=20, graph=graph)
    finally:
        from kgplatform.graph.store import open_store

        store = open_store(base_settings, graph=graph)
        store.delete_graph()
        store.close()
    settings = report["settings"]
    q = report["held_out"]
    assert q["products"] == round(0.1 * q["products_total"]) and q["revealed_edges"] > 0
    counts = {name: block["overall"]["count"] for name, block in settings.items()}
    assert len(set(counts.values())) == 1 and counts[TEXT_ONLY] > 100  # every setting ranks the same queries
    brand_chance = settings[CHANCE]["per_relation"]["HAS_BRAND"]
    brand_popular = settings[POPULARITY]["per_relation"]["HAS_BRAND"]
    assert brand_chance["mrr"] < 0.05  # hundreds of brands in the range
    for setting in (TEXT_ONLY, ONE_EDGE):
        brand = settings[setting]["per_relation"]["HAS_BRAND"]
        assert brand["count"] >= 20
        assert brand["mrr"] > max(5 * brand_chance["mrr"], brand_chance["mrr"] + 0.15), (setting, brand)
        assert brand["mrr"] > brand_popular["mrr"] + 0.1  # it reads the product, not just the brand's size
    table = render_inductive_markdown([report])
    assert "| amazon-giftcards-2018 | HAS_BRAND | model text-only |" in table
