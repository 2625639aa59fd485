"""Learning stage on real data (amazon-giftcards-2018, CoDEx-S) and on hand-made tiny graphs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kgplatform.learn import train as train_mod
from kgplatform.learn.calibrate import (
    Calibrator,
    expected_calibration_error,
    threshold_for_precision,
    validation_candidates,
)
from kgplatform.learn.candidates import top_candidates
from kgplatform.learn.config import TrainConfig
from kgplatform.learn.evaluate import rank_metrics, ranks
from kgplatform.learn.index import KnownTails, both_directions, relation_ranges, train_edges
from kgplatform.learn.model import LinkPredictor
from kgplatform.learn.splits import assign_splits, needs_splits
from kgplatform.learn.train import (
    TypedNegativeSampler,
    adam,
    batch_loss,
    draw_candidates,
    shared_candidates,
    train_link_predictor,
)
from kgplatform.snapshot import SPLIT_NONE, SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID, Snapshot
from tests.support.snapshots import load_tsv_snapshot, tiny_snapshot


class FixedScores(torch.nn.Module):
    """Stub model: score of tail j for any query is scores[j] (or random when None)."""

    def __init__(self, scores: torch.Tensor | None, num_nodes: int, seed: int = 0):
        super().__init__()
        self.scores, self.n, self.gen = scores, num_nodes, torch.Generator().manual_seed(seed)

    def score_tails(self, z, heads, rels, tails=None):
        if self.scores is None:
            out = torch.rand(len(heads), self.n, generator=self.gen)
        else:
            out = self.scores.expand(len(heads), -1).clone()
        return out if tails is None else out[:, tails]  # tails: one candidate set shared by every query

    def score_triples(self, z, heads, rels, tails):
        if self.scores is None:
            return torch.rand(len(heads), generator=self.gen)
        return self.scores[tails]


# Few epochs of small batches learn enough on giftcards; the budget is only a safety net on a loaded machine.
FAST = dict(encoder="compgcn", dim=64, epochs=4, eval_every=2, patience=10, time_budget_s=120, batch_size=512, lr=0.02)


@pytest.fixture(scope="module")
def giftcards() -> Snapshot:
    return load_tsv_snapshot("amazon-giftcards-2018")


@pytest.fixture(scope="module")
def trained(giftcards):
    torch.set_num_threads(2)
    return train_link_predictor(giftcards, None, TrainConfig(use_text=False, **FAST))


def test_training_lowers_loss_and_beats_random_ranking(giftcards, trained):
    losses = [h["loss"] for h in trained.history]
    assert losses[-1] < 0.9 * losses[0]
    assert trained.best_valid_mrr is not None and trained.best_epoch >= 1
    assert trained.stopped_reason in ("epochs", "patience", "time_budget")

    allowed = relation_ranges(giftcards)
    known = KnownTails(giftcards.triples(), giftcards.num_nodes, giftcards.num_relations)
    queries = both_directions(giftcards.triples(SPLIT_VALID), giftcards.num_relations)
    random_mrr = float((1 / ranks(FixedScores(None, giftcards.num_nodes), None, queries, known, allowed)).mean())
    valid = rank_metrics(trained.model, giftcards, SPLIT_VALID)
    assert valid["mrr"] == pytest.approx(trained.best_valid_mrr)  # best state was restored
    assert valid["mrr"] > 3 * random_mrr and valid["mrr"] > random_mrr + 0.1
    assert valid["count"] == 2 * int((giftcards.edge_split == SPLIT_VALID).sum())
    assert set(valid["per_relation"]) <= set(giftcards.rel_names)
    assert 0 <= valid["hits@1"] <= valid["hits@3"] <= valid["hits@10"] <= 1


def test_targets_are_hidden_from_message_passing(giftcards, monkeypatch):
    seen = []
    real_loss = train_mod.batch_loss

    def spy(model, z, queries, cfg, *args):
        seen.append((model.last_edges, queries))
        return real_loss(model, z, queries, cfg, *args)

    real_encode = LinkPredictor.encode

    def encode(self, edge_index, edge_type):
        self.last_edges = (edge_index, edge_type)
        return real_encode(self, edge_index, edge_type)

    monkeypatch.setattr(train_mod, "batch_loss", spy)
    monkeypatch.setattr(LinkPredictor, "encode", encode)
    cfg = TrainConfig(use_text=False, encoder="compgcn", dim=16, epochs=2, eval_every=5, batch_size=4096,
                      hidden_edge_ratio=0.3)
    train_link_predictor(giftcards, None, cfg)
    assert len(seen) >= 2
    n, n_train = giftcards.num_nodes, int((giftcards.edge_split == SPLIT_TRAIN).sum())
    for (ei, et), queries in seen:
        message = set(((ei[0] * 64 + et) * n + ei[1]).tolist())
        fwd = queries[: len(queries) // 2]
        assert not message & set(((fwd[:, 0] * 64 + fwd[:, 1]) * n + fwd[:, 2]).tolist())
        assert ei.size(1) == n_train - round(0.3 * n_train)


@pytest.mark.parametrize("objective, negatives", [("sampled", 32), ("shared", 256)])
def test_sampled_objectives_are_deterministic_and_learn(giftcards, objective, negatives):
    cfg = TrainConfig(use_text=False, encoder="compgcn", dim=32, epochs=4, eval_every=2, objective=objective,
                      num_negatives=negatives, batch_size=512, lr=0.01)
    a = train_link_predictor(giftcards, None, cfg)
    b = train_link_predictor(giftcards, None, cfg)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert a.history[-1]["loss"] < a.history[0]["loss"]
    assert a.best_valid_mrr > 0.1


def test_training_without_an_encoder_learns(giftcards):
    c = train_link_predictor(giftcards, None, TrainConfig(use_text=False, encoder="none", epochs=2, eval_every=1))
    assert c.model.convs is not None and len(c.model.convs) == 0
    assert c.history[1]["valid_mrr"] > c.history[0]["valid_mrr"]


def test_shared_candidates_hold_every_true_tail_once():
    tails = torch.tensor([7, 3, 7, 9])
    candidates, target = shared_candidates(tails, 20, 50, torch.Generator().manual_seed(0))
    assert torch.equal(candidates, candidates.unique())  # distinct and sorted
    assert torch.equal(candidates[target], tails)
    assert len(candidates) > 4 and int(candidates.max()) < 20


@pytest.mark.parametrize("objective", ["shared", "sampled"])
def test_a_step_without_message_passing_computes_only_the_rows_it_scores(objective):
    """Same loss and gradients as encoding every node; rows the step does not score stay 0."""
    snap = tiny_snapshot()
    text_x = torch.nn.functional.normalize(torch.randn(snap.num_nodes, 12, generator=torch.Generator().manual_seed(1)))
    cfg = TrainConfig(dim=8, encoder="none", objective=objective, num_negatives=1, n3_weight=0.1)
    torch.manual_seed(0)
    model = LinkPredictor(snap.num_nodes, snap.num_relations, cfg, text_x).eval()  # eval: no dropout draws
    queries = both_directions(snap.triples(SPLIT_TRAIN)[:1], snap.num_relations)
    sampler = TypedNegativeSampler(relation_ranges(snap))
    drawn = draw_candidates(queries, cfg, sampler, snap.num_nodes, torch.Generator().manual_seed(0))
    nodes = drawn.nodes(queries[:, 0])
    assert len(nodes) < snap.num_nodes  # the step reads a strict subset, so the test compares something

    def loss_and_grads(z):
        model.zero_grad()
        loss = batch_loss(model, z, queries, cfg, drawn)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    z_rows = model.encode_rows(nodes)
    untouched = torch.ones(snap.num_nodes, dtype=torch.bool)
    untouched[nodes] = False
    assert torch.all(z_rows[untouched] == 0)
    full_loss, full_grads = loss_and_grads(model.encode(*train_edges(snap)))
    rows_loss, rows_grads = loss_and_grads(model.encode_rows(nodes))
    assert torch.allclose(full_loss, rows_loss)
    assert len(full_grads) == len(rows_grads) >= 3
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(full_grads, rows_grads))


def test_encode_rows_refuses_a_model_that_passes_messages():
    snap = tiny_snapshot()
    model = LinkPredictor(snap.num_nodes, snap.num_relations, TrainConfig(dim=8, encoder="compgcn", use_text=False))
    with pytest.raises(ValueError, match="passes messages"):
        model.encode_rows(torch.tensor([0, 1]))


def test_fused_adam_makes_the_same_updates_and_falls_back_for_complex_parameters():
    torch.manual_seed(0)
    start = torch.randn(50, 8)
    params = {kind: torch.nn.Parameter(start.clone()) for kind in ("fused", "loop")}
    optimisers = {"fused": adam([params["fused"]], lr=0.01, weight_decay=0.1),
                  "loop": torch.optim.Adam([params["loop"]], lr=0.01, weight_decay=0.1)}
    assert optimisers["fused"].defaults["fused"] is True
    for step in range(5):
        grad = torch.randn(50, 8, generator=torch.Generator().manual_seed(step))
        for kind in ("fused", "loop"):
            params[kind].grad = grad.clone()
            optimisers[kind].step()
    assert not torch.equal(params["fused"], start)
    torch.testing.assert_close(params["fused"], params["loop"], rtol=1e-5, atol=1e-6)
    complex_param = torch.nn.Parameter(torch.randn(4, 2, dtype=torch.cfloat))
    assert not adam([complex_param], lr=0.01).defaults["fused"]


def test_learning_rate_decays_after_each_evaluation_without_a_better_mrr(giftcards):
    cfg = TrainConfig(use_text=False, encoder="none", dim=16, epochs=8, eval_every=1, patience=8, lr=0.3,
                      lr_decay=0.5)
    history = train_link_predictor(giftcards, None, cfg).history
    best, expected = float("-inf"), 0.3
    for entry in history:
        assert entry["lr"] == pytest.approx(expected)  # the rate this epoch trained with
        if entry["valid_mrr"] > best:
            best = entry["valid_mrr"]
        else:
            expected *= 0.5
    assert expected < 0.3  # lr 0.3 overshoots on this graph: at least one evaluation did not improve


def test_text_features_are_used(giftcards):
    text_x = torch.nn.functional.normalize(
        torch.randn(giftcards.num_nodes, 384, generator=torch.Generator().manual_seed(1)))
    cfg = TrainConfig(dim=16, epochs=1, learned_embeddings=False, use_text=True, encoder="rgcn", decoder="rotate",
                      choose_inputs=False)
    res = train_link_predictor(giftcards, text_x, cfg)
    assert res.model.node_emb is None and torch.equal(res.model.text_x, text_x)
    with pytest.raises(ValueError):
        TrainConfig(use_text=False, learned_embeddings=False)


@pytest.mark.parametrize("decoder", ["distmult", "complex", "rotate"])
@pytest.mark.parametrize("encoder", ["compgcn", "rgcn", "none"])
def test_score_tails_matches_score_triples(decoder, encoder):
    snap = tiny_snapshot()
    torch.manual_seed(0)
    model = LinkPredictor(snap.num_nodes, snap.num_relations, TrainConfig(dim=8, decoder=decoder, encoder=encoder))
    model.eval()
    z = model.encode(*train_edges(snap))
    h, r = torch.tensor([0, 4, 2]), torch.tensor([0, 2, 3])
    all_scores = model.score_tails(z, h, r)
    assert all_scores.shape == (3, snap.num_nodes)
    for t in range(snap.num_nodes):
        tt = torch.full_like(h, t)
        assert torch.allclose(model.score_triples(z, h, r, tt), all_scores[:, t], atol=1e-5)
    assert torch.allclose(model.score_tails(z, h, r, torch.tensor([[1, 5]] * 3)), all_scores[:, [1, 5]], atol=1e-5)
    shared = torch.tensor([5, 0, 3])  # one candidate set for every query ('shared' objective)
    assert torch.allclose(model.score_tails(z, h, r, shared), all_scores[:, shared], atol=1e-5)


def test_text_cosine_of_a_node_with_itself_is_no_evidence():
    snap = tiny_snapshot()
    text_x = torch.nn.functional.normalize(torch.randn(snap.num_nodes, 12, generator=torch.Generator().manual_seed(3)))
    torch.manual_seed(0)
    model = LinkPredictor(snap.num_nodes, snap.num_relations, TrainConfig(dim=8), text_x).eval()
    z = model.encode(*train_edges(snap))
    h, r = torch.tensor([0, 4, 2]), torch.tensor([0, 2, 3])
    with_text = model.score_tails(z, h, r)
    with torch.no_grad():
        model.text_match.zero_()
    without_text = model.score_tails(z, h, r)
    gain = with_text - without_text
    assert torch.all(gain[torch.arange(3), h] == 0)  # the head's own column: no text bonus
    others = torch.ones_like(gain, dtype=torch.bool)
    others[torch.arange(3), h] = False
    assert torch.allclose(gain[others], (10.0 * text_x[h] @ text_x.t())[others], atol=1e-5)
    with torch.no_grad():
        model.text_match.fill_(1.0)
    for t in range(snap.num_nodes):  # the three ways of scoring agree, the self column included
        tt = torch.full_like(h, t)
        assert torch.allclose(model.score_triples(z, h, r, tt), with_text[:, t], atol=1e-5)
    assert torch.allclose(model.score_tails(z, h, r, h.unsqueeze(1)), with_text[torch.arange(3), h].unsqueeze(1),
                          atol=1e-5)
    assert torch.allclose(model.score_tails(z, h, r, h), with_text[:, h], atol=1e-5)  # shared set holding heads


@pytest.mark.parametrize("decoder", ["distmult", "complex"])
def test_n3_penalty_is_the_cubed_modulus_and_shrinks_states(decoder, giftcards):
    snap = tiny_snapshot()
    model = LinkPredictor(snap.num_nodes, snap.num_relations, TrainConfig(dim=4, decoder=decoder, encoder="none"))
    z = torch.tensor([[3.0, 0.0, 4.0, 0.0], [0.0, 1.0, 0.0, 0.0]] + [[0.0] * 4] * (snap.num_nodes - 2))
    with torch.no_grad():
        model.rel_emb.zero_()
    penalty = model.n3_penalty(z, torch.tensor([0]), torch.tensor([0]), torch.tensor([1]))
    # complex halves (3, 0) + i (4, 0): moduli 5 and 0; distmult: |3|^3 + |4|^3; the tail contributes 1 either way
    assert penalty.item() == pytest.approx(126.0 if decoder == "complex" else 92.0)
    plain = TrainConfig(dim=16, epochs=3, decoder=decoder, encoder="none", eval_every=100)
    norms = [train_link_predictor(giftcards, None, plain.model_copy(update={"n3_weight": w}), )
             .model.node_emb.weight.norm().item() for w in (0.0, 0.5)]
    assert norms[1] < norms[0]


def test_train_config_file_names_the_file_and_field(tmp_path):
    from kgplatform.learn.config import load_train_config

    good = tmp_path / "good.json"
    good.write_text('{"dim": 64, "encoder": "none"}')
    cfg = load_train_config(good, {"time_budget_s": 9.0})
    assert (cfg.dim, cfg.encoder, cfg.time_budget_s) == (64, "none", 9.0)
    for text, expected in (('{"dimm": 3}', "dimm"), ('{"dim": -1}', "dim"), ("[1]", "JSON object"),
                           ("{oops", "not a readable JSON")):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(ValueError, match=expected) as err:
            load_train_config(bad)
        assert "bad.json" in str(err.value)


def test_filtered_rank_never_exceeds_unfiltered_and_ties_are_realistic():
    snap = tiny_snapshot()
    R, n = snap.num_relations, snap.num_nodes
    known = KnownTails(snap.triples(), n, R)
    queries = both_directions(snap.triples(), R)
    model = FixedScores(torch.tensor([0.1, 0.5, 0.9, 0.3, 0.8, 0.7, 0.2]), n)
    filtered, unfiltered = ranks(model, None, queries, known, None), ranks(model, None, queries, None, None)
    assert (filtered <= unfiltered).all() and (filtered < unfiltered).any()
    # (0, LIVES_IN, 5): unfiltered, nodes 2 (.9) and 4 (.8) score higher -> rank 3; filtering removes the known
    # tail 4 -> rank 2; constraining to cities removes node 2 -> rank 1.
    q = torch.tensor([[0, 0, 5]])
    assert ranks(model, None, q, None, None).item() == 3
    assert ranks(model, None, q, known, None).item() == 2
    assert ranks(model, None, q, known, relation_ranges(snap)).item() == 1
    # all scores tied: realistic rank is the mean of best (1) and worst (#candidates) = (7 + 1) / 2
    assert ranks(FixedScores(torch.zeros(n), n), None, q, None, None).item() == 4.0


def test_validation_sample_is_fixed_and_ranks_only_its_triples(giftcards, trained):
    from kgplatform.learn.evaluate import sample_triples

    valid = giftcards.triples(SPLIT_VALID)
    a, b = sample_triples(valid, 100), sample_triples(valid, 100)
    assert len(a) == 100 and torch.equal(a, b) and sample_triples(valid, None) is valid
    rows = {tuple(x) for x in valid.tolist()}
    assert all(tuple(x) in rows for x in a.tolist())
    full = rank_metrics(trained.model, giftcards, SPLIT_VALID)
    part = rank_metrics(trained.model, giftcards, SPLIT_VALID, max_triples=100)
    assert part["count"] == 200 and full["count"] == 2 * len(valid)
    assert abs(part["mrr"] - full["mrr"]) < 0.15  # a sample, not another metric


def test_candidates_are_type_valid_and_new(giftcards, trained):
    rel = giftcards.rel_names.index("HAS_BRAND")
    products = torch.nonzero(giftcards.node_type == giftcards.type_names.index("Product")).flatten()[:300]
    z = trained.model.encode(*train_edges(giftcards))
    h, t, s = top_candidates(trained.model, z, giftcards, rel, products, k=5, chunk_size=64)
    assert len(h) == 5 * len(products)
    brand = giftcards.type_names.index("Brand")
    assert (giftcards.node_type[t] == brand).all() and (h != t).all()
    existing = set(map(tuple, giftcards.triples()[giftcards.edge_type == rel].tolist()))
    assert not existing & set(zip(h.tolist(), [rel] * len(h), t.tolist()))
    assert all((s[i] >= s[i + 1]) for i in range(len(s) - 1) if h[i] == h[i + 1])

    # already-predicted rows (snapshot.excluded) never come back
    first = torch.stack([h[::5], torch.full_like(h[::5], rel), t[::5]], dim=1)
    snap2 = Snapshot(**{**giftcards.__dict__, "excluded": first})
    h2, t2, _ = top_candidates(trained.model, z, snap2, rel, products, k=5, chunk_size=1000)
    assert not set(zip(h2.tolist(), t2.tolist())) & set(zip(first[:, 0].tolist(), first[:, 2].tolist()))
    with pytest.raises(ValueError):
        top_candidates(trained.model, z, giftcards, giftcards.num_relations, products, k=5)


def test_calibration_is_monotone_and_serialisable(giftcards, trained):
    z = trained.model.encode(*train_edges(giftcards))
    scores, labels = validation_candidates(trained.model, z, giftcards, k=10)
    assert len(scores) == len(labels) > 0 and 0 < labels.mean() < 1
    for method in ("isotonic", "platt"):
        cal = Calibrator(method).fit(scores, labels)
        grid = np.linspace(scores.min() - 1, scores.max() + 1, 200)
        p = cal.predict(grid)
        assert np.all(np.diff(p) >= -1e-12) and p.min() >= 0 and p.max() <= 1
        restored = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
        assert np.allclose(restored.predict(scores), cal.predict(scores))
        ece = expected_calibration_error(cal.predict(scores), labels)
        assert 0 <= ece < 0.1
    raw_ece = expected_calibration_error(1 / (1 + np.exp(-scores)), labels)
    iso = Calibrator().fit(scores, labels)
    assert expected_calibration_error(iso.predict(scores), labels) < raw_ece

    probs = iso.predict(scores)
    for target in (0.5, 0.8, 0.9):
        thr = threshold_for_precision(probs, labels, target)
        if thr is not None:
            assert labels[probs >= thr].mean() >= target


def test_threshold_for_precision_on_known_values():
    p = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    y = np.array([1, 1, 0, 1, 1, 0])
    assert threshold_for_precision(p, y, 0.8) == 0.6  # 4 of the top 5 are true
    assert threshold_for_precision(p, y, 1.0) == 0.9
    assert threshold_for_precision(p, np.zeros(6), 0.5) is None
    assert threshold_for_precision(np.array([0.7, 0.7]), np.array([1, 0]), 0.9) is None  # ties go together
    assert expected_calibration_error(np.array([0.0, 1.0]), np.array([0, 1])) == 0.0
    assert expected_calibration_error(np.array([0.9, 0.9]), np.array([0, 0])) == pytest.approx(0.9)


def test_assign_splits_is_deterministic_per_relation_and_transductive():
    codex = load_tsv_snapshot("codex-s")
    unsplit = Snapshot(**{**codex.__dict__, "edge_split": torch.full_like(codex.edge_split, SPLIT_NONE)})
    assert needs_splits(unsplit) and not needs_splits(codex)
    a = assign_splits(unsplit, 0.05, 0.05, seed=1)
    assert torch.equal(a.edge_split, assign_splits(unsplit, 0.05, 0.05, seed=1).edge_split)
    assert not torch.equal(a.edge_split, assign_splits(unsplit, 0.05, 0.05, seed=2).edge_split)
    assert (a.edge_split != SPLIT_NONE).all() and not needs_splits(a)
    counts = torch.bincount(a.edge_split, minlength=3)
    assert 0.03 < counts[SPLIT_VALID] / len(a.edge_split) <= 0.05
    assert 0.03 < counts[SPLIT_TEST] / len(a.edge_split) <= 0.05
    train = a.edge_split == SPLIT_TRAIN
    in_train = torch.zeros(a.num_nodes, dtype=torch.bool)
    in_train[a.edge_index[:, train].flatten()] = True
    assert in_train[a.edge_index[:, ~train].flatten()].all()
    for rel in range(a.num_relations):  # per relation: every sizeable relation gets held-out edges
        mask = a.edge_type == rel
        if mask.sum() >= 40:
            assert (a.edge_split[mask] == SPLIT_VALID).any() and (a.edge_split[mask] == SPLIT_TEST).any()
    kept = assign_splits(codex, 0.1, 0.1)  # already split: unchanged
    assert torch.equal(kept.edge_split, codex.edge_split)
