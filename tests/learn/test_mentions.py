"""Name mentions between nodes (learn/mentions.py) and the link predictor's mention term."""

from __future__ import annotations

import pytest
import torch

from kgplatform.learn.config import TrainConfig
from kgplatform.learn.mentions import mention_matrix, mention_pairs, reversed_pairs, updated_pairs
from kgplatform.learn.model import LinkPredictor

TEXTS = [
    "poodle. an intelligent dog with a thick curly coat",  # 0: names dog (1 and 2: both senses) and coat (3)
    "dog. a member of the genus canis",                     # 1: its homonym 2 is no mention; names canis (4)
    "dog. a dull unattractive unpleasant girl or woman",    # 2
    "coat. an outer garment that has sleeves",              # 3
    "canis. type genus of the canidae",                     # 4
    "a. the first letter",                                  # 5: a common word, never matched
    "physical entity. an entity that has physical existence",  # 6: its name contains entity (7)
    "entity. that which is perceived: dogs? ' OR 1=1 //",      # 7: plural 'dogs' is not 'dog'
]


def test_pairs_name_whole_words_skip_self_homonyms_and_common_words():
    pairs = mention_pairs(TEXTS)
    got = set(map(tuple, pairs.t().tolist()))
    assert got == {(0, 1), (0, 2), (0, 3), (1, 4), (6, 7)}
    keys = pairs[0] * len(TEXTS) + pairs[1]
    assert torch.equal(keys, torch.sort(keys).values)  # sorted by (i, j): the lookups depend on it
    flipped = reversed_pairs(pairs)
    assert set(map(tuple, flipped.t().tolist())) == {(j, i) for i, j in got}


def test_huge_texts_are_searched_on_a_bounded_prefix():
    texts = ["needle. x", "hay. " + "straw " * 10 + "needle"]
    assert mention_pairs(texts).t().tolist() == [[1, 0]]
    assert mention_pairs(texts, max_chars=20).numel() == 0


@pytest.mark.parametrize("shape", ["all", "shared", "per_query", "pairwise"])
def test_mention_matrix_agrees_across_candidate_shapes(shape):
    pairs, n = mention_pairs(TEXTS), len(TEXTS)
    heads = torch.tensor([0, 1, 6, 5])
    full = mention_matrix(pairs, heads, None, n)
    assert full.shape == (4, n) and full[0, 1] == full[0, 2] == full[0, 3] == 1 and full.sum() == 5
    if shape == "shared":
        tails = torch.tensor([7, 2, 4])
        assert torch.equal(mention_matrix(pairs, heads, tails, n), full[:, tails])
    elif shape == "per_query":
        tails = torch.tensor([[1, 5], [4, 0], [7, 6], [0, 1]])
        assert torch.equal(mention_matrix(pairs, heads, tails, n), full.gather(1, tails))
    elif shape == "pairwise":
        tails = torch.tensor([3, 2, 7, 0])
        assert torch.equal(mention_matrix(pairs, heads, tails, n, pairwise=True), full[torch.arange(4), tails])


def test_mention_term_scores_consistently_and_survives_save_and_load():
    n, cfg = len(TEXTS), TrainConfig(dim=8, encoder="none", use_text=False, use_mentions=True)
    torch.manual_seed(0)
    model = LinkPredictor(n, 2, cfg, mentions=mention_pairs(TEXTS))
    with torch.no_grad():
        model.mention_weight.copy_(torch.randn(4, 2))
    model.eval()
    z = model.encode(torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    h, r = torch.tensor([0, 4, 6]), torch.tensor([0, 3, 1])
    scores = model.score_tails(z, h, r)
    for t in range(n):
        assert torch.allclose(model.score_triples(z, h, r, torch.full_like(h, t)), scores[:, t], atol=1e-5)
    # The weights move scores only where a name is mentioned: poodle names both dogs and coat, canis is named by
    # dog (1), physical entity names entity.
    moved = model._mention_term(h, r, None).nonzero().tolist()
    assert moved == [[0, 1], [0, 2], [0, 3], [1, 1], [2, 7]]
    loaded = LinkPredictor(n, 2, cfg)  # constructed without pairs, as pipeline.steps.load_model does
    loaded.load_state_dict(model.state_dict())
    loaded.eval()
    assert torch.equal(loaded.mentions, model.mentions) and "mentioned_by" not in model.state_dict()
    assert torch.allclose(loaded.score_tails(z, h, r), scores)


def test_nodes_added_after_training_get_their_mentions():
    from kgplatform.learn.inductive import extend_with_nodes

    n, cfg = len(TEXTS), TrainConfig(dim=8, encoder="none", use_text=False, use_mentions=True)
    model = LinkPredictor(n, 2, cfg, mentions=mention_pairs(TEXTS))
    with torch.no_grad():
        model.mention_weight.fill_(1.0)
    with pytest.raises(ValueError, match=f"node_text for all {n + 1} nodes"):
        extend_with_nodes(model, None, num_new=1)
    texts = TEXTS + ["terrier. a small lively dog"]  # names both dogs; nobody names it yet
    extended = extend_with_nodes(model, None, num_new=1, node_text=texts)
    term = extended._mention_term(torch.tensor([n, 1]), torch.tensor([0, 2]), None)
    assert term.shape == (2, n + 1)
    assert term[0].nonzero().flatten().tolist() == [1, 2]  # the new head names the two dogs
    assert term[1].nonzero().flatten().tolist() == [0, 4, n]  # dog: named by poodle and the new node, names canis
    assert torch.equal(model.mentions, mention_pairs(TEXTS))  # the trained model is left as it was


def test_updated_pairs_search_only_the_rewritten_texts_again():
    base = mention_pairs(TEXTS)
    texts = TEXTS + ["leash. a strap for a dog or a poodle"]  # new node 8 names dog (1, 2) and poodle (0)
    texts[3] = "coat. an outer garment worn by a canis"        # edited: now names canis, no longer anything else
    got = updated_pairs(base, texts, [3, 8])
    assert torch.equal(got, mention_pairs(texts))
    assert torch.equal(updated_pairs(base, TEXTS, []), base)
