"""Merged ensembles (learn/ensemble.py): one LinkPredictor that scores the mean of its members."""

from __future__ import annotations

import pytest
import torch

from kgplatform.learn.config import TrainConfig
from kgplatform.learn.ensemble import merge_members
from kgplatform.learn.index import train_edges
from kgplatform.learn.model import LinkPredictor
from tests.support.snapshots import random_member, tiny_snapshot, tiny_text_x


@pytest.mark.parametrize("decoder", ["complex", "distmult"])
@pytest.mark.parametrize("with_text", [False, True])
def test_merged_model_scores_the_mean_of_its_members(decoder, with_text):
    snap = tiny_snapshot()
    text_x = tiny_text_x(snap)
    cfg = TrainConfig(dim=8, decoder=decoder, encoder="none", use_text=with_text, use_mentions=with_text)
    members = [random_member(snap, cfg, text_x, seed) for seed in range(3)]
    members[1].has_embedding[2] = False
    merged = merge_members(members)
    assert (merged.cfg.dim == 8 and merged.cfg.ensemble_members == 3
            and merged.node_emb.weight.shape == (snap.num_nodes, 24))
    assert not merged.has_embedding[2] and int(merged.has_embedding.sum()) == snap.num_nodes - 1
    for m in members:  # a node one member may not use is scored by text and edges only in the merged model
        m.has_embedding[2] = False
    edges = train_edges(snap)
    h, r = torch.tensor([0, 4, 2, 1]), torch.tensor([0, 3, 1, 2])
    expected = torch.stack([m.score_tails(m.encode(*edges), h, r) for m in members]).mean(0)
    got = merged.score_tails(merged.encode(*edges), h, r)
    assert torch.allclose(got, expected, atol=1e-4)
    rebuilt = LinkPredictor(snap.num_nodes, snap.num_relations, merged.cfg, text_x if with_text else None)
    rebuilt.load_state_dict(merged.state_dict())  # as pipeline.steps.load_model does, from the run's saved config
    assert torch.allclose(rebuilt.eval().score_tails(rebuilt.encode(*edges), h, r), expected, atol=1e-4)
    t = torch.tensor([4, 0, 3, 1])
    pair = torch.stack([m.score_triples(m.encode(*edges), h, r, t) for m in members]).mean(0)
    assert torch.allclose(merged.score_triples(merged.encode(*edges), h, r, t), pair, atol=1e-4)


def test_only_models_without_message_passing_or_distances_merge():
    snap = tiny_snapshot()
    gnn = LinkPredictor(snap.num_nodes, snap.num_relations, TrainConfig(dim=8, use_text=False, num_layers=1))
    with pytest.raises(ValueError, match="member 0 passes messages"):
        merge_members([gnn, gnn])
    rotate = LinkPredictor(snap.num_nodes, snap.num_relations,
                           TrainConfig(dim=8, use_text=False, encoder="none", decoder="rotate"))
    with pytest.raises(ValueError, match="decoder='rotate'"):
        merge_members([rotate])
    small = LinkPredictor(snap.num_nodes, snap.num_relations, TrainConfig(dim=8, use_text=False, encoder="none"))
    large = LinkPredictor(snap.num_nodes, snap.num_relations, TrainConfig(dim=16, use_text=False, encoder="none"))
    with pytest.raises(ValueError, match="member 1 differs"):
        merge_members([small, large])
    with pytest.raises(ValueError, match="ensemble_members > 1 needs encoder='none'"):
        TrainConfig(ensemble_members=2)


def test_an_ensemble_trains_its_members_on_their_seeds_and_merges_them():
    from kgplatform.learn.train import train_link_predictor
    from tests.support.snapshots import load_tsv_snapshot

    snap = load_tsv_snapshot("amazon-giftcards-2018")
    single = TrainConfig(use_text=False, encoder="none", dim=32, epochs=3, eval_every=3, batch_size=512, lr=0.02)
    seen = []
    result = train_link_predictor(snap, None, single.model_copy(update={"ensemble_members": 2}),
                                  progress=lambda stage, cur, tot, info: seen.append(info))
    assert [m["seed"] for m in result.members] == [0, 1] and {e["member"] for e in seen} == {0, 1}
    assert result.model.cfg.ensemble_members == 2 and result.model.node_emb.weight.shape[1] == 64
    first = train_link_predictor(snap, None, single)  # member 0 is exactly the single model of the same seed
    assert result.members[0]["best_valid_mrr"] == pytest.approx(first.best_valid_mrr)
    seconds = [e["seconds"] for e in result.history]
    assert seconds == sorted(seconds)  # one clock across the members
    assert result.best_valid_mrr > 0.8 * max(m["best_valid_mrr"] for m in result.members)
