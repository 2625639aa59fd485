"""The relation-prediction view of the link predictor's score and its auxiliary loss (Chen et al. 2021)."""

from __future__ import annotations

import pytest
import torch

from kgplatform.learn.config import TrainConfig
from kgplatform.learn.index import both_directions, train_edges
from kgplatform.learn.model import LinkPredictor
from kgplatform.learn.train import train_link_predictor
from kgplatform.snapshot import SPLIT_VALID
from tests.support.snapshots import load_tsv_snapshot, random_member, tiny_snapshot, tiny_text_x


@pytest.mark.parametrize("decoder", ["distmult", "complex"])
@pytest.mark.parametrize("with_text", [False, True])
def test_score_relations_is_score_triples_along_the_relation_axis(decoder, with_text):
    snap = tiny_snapshot()
    cfg = TrainConfig(dim=8, decoder=decoder, encoder="compgcn", use_text=with_text, use_mentions=with_text)
    model = random_member(snap, cfg, tiny_text_x(snap), seed=0)  # text-match and mention weights moved too
    z = model.encode(*train_edges(snap))
    h, t = torch.tensor([0, 1, 4, 2]), torch.tensor([4, 0, 0, 2])  # (2, 2): a self pair gets no text bonus
    by_relation = model.score_relations(z, h, t)
    assert by_relation.shape == (4, 2 * snap.num_relations)
    for r in range(2 * snap.num_relations):
        assert torch.allclose(model.score_triples(z, h, torch.full_like(h, r), t), by_relation[:, r], atol=1e-5)


def test_relation_prediction_needs_a_product_decoder():
    with pytest.raises(ValueError, match="relation_prediction_weight"):
        TrainConfig(decoder="rotate", relation_prediction_weight=0.5)


def relation_accuracy(model: LinkPredictor, snap) -> float:
    """Share of validation triples (both directions) whose own relation scores highest between its two nodes."""
    queries = both_directions(snap.triples(SPLIT_VALID), snap.num_relations)
    with torch.no_grad():
        z = model.encode(*train_edges(snap))
        best = model.score_relations(z, queries[:, 0], queries[:, 2]).argmax(1)
    return (best == queries[:, 1]).float().mean().item()


def test_the_auxiliary_loss_teaches_which_relation_joins_two_nodes():
    snap = load_tsv_snapshot("amazon-giftcards-2018")
    base = TrainConfig(use_text=False, encoder="none", dim=32, epochs=3, eval_every=3, batch_size=512, lr=0.02)
    plain = train_link_predictor(snap, None, base)
    aux = train_link_predictor(snap, None, base.model_copy(update={"relation_prediction_weight": 1.0}))
    # Both directions share their nodes, so without the term ALSO_BOUGHT and its reciprocal look alike.
    assert relation_accuracy(aux.model, snap) > relation_accuracy(plain.model, snap) + 0.05
