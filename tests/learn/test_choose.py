"""The input race (learn/choose.py): variants, the pick, and a real race on a shared dataset."""

from __future__ import annotations

import torch

from kgplatform.learn import choose
from kgplatform.learn.budget import budget_check
from kgplatform.learn.choose import input_variants, pick
from kgplatform.learn.config import TrainConfig
from kgplatform.learn.train import train_link_predictor
from tests.support.snapshots import load_tsv_snapshot


def test_variants_are_distinct_and_need_text_to_use_it():
    with_text = input_variants(TrainConfig(), has_text=True)
    assert list(with_text) == ["configured", "graph only", "text only"]
    assert not with_text["graph only"].use_text and with_text["text only"].encoder == "none"
    assert all(not v.choose_inputs for v in with_text.values())
    graph_only = input_variants(TrainConfig(use_text=False), has_text=True)
    assert list(graph_only) == ["configured", "text only"]  # 'graph only' is the configured model itself
    assert list(input_variants(TrainConfig(), has_text=False)) == ["configured"]


def test_the_pick_takes_the_best_validation_mrr_and_breaks_ties_in_race_order():
    assert pick({"configured": {"valid_mrr": 0.3}, "graph only": {"valid_mrr": 0.4}})[0] == "graph only"
    assert pick({"configured": {"valid_mrr": 0.4}, "graph only": {"valid_mrr": 0.4}})[0] == "configured"
    winner, reason = pick({"configured": {"valid_mrr": None}})
    assert winner == "configured" and "no validation" in reason


def test_a_race_on_giftcards_keeps_the_best_probe_and_the_budget(monkeypatch):
    monkeypatch.setattr(choose, "MIN_PROBE_EPOCHS", 0)  # race whatever the host's pace (the skip is tested below)
    snap = load_tsv_snapshot("amazon-giftcards-2018")
    text_x = torch.nn.functional.normalize(torch.randn(snap.num_nodes, 32, generator=torch.Generator().manual_seed(0)))
    cfg = TrainConfig(dim=16, eval_every=1, patience=3, time_budget_s=15, batch_size=2048, valid_max_triples=500)
    result = train_link_predictor(snap, text_x, cfg)
    choice = result.choice
    assert set(choice["probes"]) == {"configured", "graph only", "text only"}
    best = max(p["valid_mrr"] for p in choice["probes"].values())
    assert choice["probes"][choice["chosen"]]["valid_mrr"] == best
    assert result.best_valid_mrr >= best  # continuing from the best state never ends below it
    chosen_fields = {k: getattr(result.model.cfg, k) for k in ("use_text", "learned_embeddings", "encoder")}
    assert chosen_fields == choice["config"] and not result.model.cfg.choose_inputs
    assert result.train_seconds < cfg.time_budget_s * 1.5 + 5  # probes and continuation share one budget
    assert {h["variant"] for h in result.history} == set(choice["probes"])
    check = budget_check(result.history, "time_budget", cfg.time_budget_s)
    assert check is None or check["seconds_per_epoch"] < cfg.time_budget_s


def test_a_race_without_validation_keeps_the_configured_model():
    snap = load_tsv_snapshot("amazon-giftcards-2018")
    train_only = snap.__class__(**{**snap.__dict__, "edge_split": torch.zeros_like(snap.edge_split)})
    result = train_link_predictor(train_only, None, TrainConfig(dim=16, epochs=1))
    assert result.choice["chosen"] == "configured" and result.model.cfg.use_text is False


def test_switching_the_race_off_trains_exactly_the_configuration():
    snap = load_tsv_snapshot("amazon-giftcards-2018")
    result = train_link_predictor(snap, None, TrainConfig(dim=16, epochs=1, use_text=False, choose_inputs=False))
    assert result.choice is None and len(result.history) == 1


def test_a_budget_too_small_to_race_keeps_the_configured_model_and_says_what_would_do():
    snap = load_tsv_snapshot("amazon-giftcards-2018")
    text_x = torch.nn.functional.normalize(torch.randn(snap.num_nodes, 32, generator=torch.Generator().manual_seed(0)))
    result = train_link_predictor(snap, text_x, TrainConfig(dim=64, time_budget_s=0.6, batch_size=256))
    choice = result.choice
    assert list(choice["probes"]) == ["configured"] and choice["chosen"] == "configured"
    assert choice["reason"].startswith("no race") and "lets the race run" in choice["reason"]
    assert result.model.cfg.use_text and result.model.cfg.learned_embeddings
