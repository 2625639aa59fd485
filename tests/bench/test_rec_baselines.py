"""Library baselines for the recommendation benchmark: judged by our metrics, on exactly our split."""

from __future__ import annotations

import math
import os
import random
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from kgplatform.bench.recbaselines import BASELINES, run_baseline
from kgplatform.bench.recbaselines.common import Splits
from kgplatform.bench.recdata_files import read_rec_dataset
from kgplatform.recommend.data import RecData
from kgplatform.snapshot import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID
from tests.support.env import require_dataset

METRIC_KEYS = {"recall@10", "ndcg@10", "hit@10", "recall@20", "ndcg@20", "hit@20", "coverage@10", "coverage@20",
               "cold_recall@10", "cold_recall@20", "users", "cold_pairs"}


def _recdata(num_users, num_items, train, valid, test, kg=(), entities=0, ctr=(), ctr_split=()) -> RecData:
    pairs = [*train, *valid, *test]
    split = [SPLIT_TRAIN] * len(train) + [SPLIT_VALID] * len(valid) + [SPLIT_TEST] * len(test)
    ids = [f"item{i}" for i in range(num_items)] + [f"ent{e}" for e in range(entities)]
    return RecData(user_ids=[f"user{u}" for u in range(num_users)], entity_ids=ids, num_items=num_items,
                   entity_text=list(ids), rel_names=["IN_GROUP", "HAS_COLOUR"],
                   kg=torch.tensor(list(kg), dtype=torch.long).reshape(-1, 3),
                   interactions=torch.tensor(pairs, dtype=torch.long), split=torch.tensor(split),
                   ctr=torch.tensor(list(ctr), dtype=torch.long).reshape(-1, 3),
                   ctr_split=torch.tensor(list(ctr_split), dtype=torch.long))


@pytest.fixture(scope="module")
def planted() -> RecData:
    """60 users in 4 taste groups, 40 items in 4 groups of 10: each user has 7 items of their group (5 train, 1 valid,
    1 test). KG: item -> its group entity (IN_GROUP), item -> one of 3 colour entities (noise). CTR: each valid / test
    positive with a negative from another group."""
    rng = random.Random(7)
    train, valid, test, ctr, ctr_split = [], [], [], [], []
    for u in range(60):
        group = u % 4
        items = rng.sample(range(group * 10, group * 10 + 10), 7)
        train += [(u, i) for i in items[:5]]
        valid.append((u, items[5]))
        test.append((u, items[6]))
        for code, item in ((SPLIT_VALID, items[5]), (SPLIT_TEST, items[6])):
            negative = rng.choice([i for i in range(40) if i // 10 != group])
            ctr += [(u, item, 1), (u, negative, 0)]
            ctr_split += [code, code]
    kg = [(i, 0, 40 + i // 10) for i in range(40)] + [(i, 1, 44 + i % 3) for i in range(40)]
    return _recdata(60, 40, train, valid, test, kg=kg, entities=7, ctr=ctr, ctr_split=ctr_split)


def test_popularity_matches_a_hand_computation():
    # 25 items; train counts: item 0 -> 3 users, item 1 -> 2, item 2 -> 1, the rest 0: order 0, 1, 2, 3, ..., 24.
    data = _recdata(3, 25, train=[(0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2)],
                    valid=[(0, 1), (0, 23), (1, 2)], test=[(0, 12), (2, 24)])
    out = run_baseline("popularity", data, time_budget_s=10)
    valid, test = out["valid"], out["test"]
    # valid, train masked. u0: candidates 1..24, item 1 at rank 0, item 23 at rank 22; u1: item 2 at rank 0.
    assert valid["recall@10"] == pytest.approx((0.5 + 1.0) / 2)
    assert valid["recall@20"] == pytest.approx((0.5 + 1.0) / 2)
    assert valid["ndcg@10"] == pytest.approx((1.0 / (1.0 + 1.0 / math.log2(3)) + 1.0) / 2)
    assert valid["hit@20"] == 1.0
    assert valid["coverage@20"] == pytest.approx(21 / 25)  # u0 top 20: 1..20, u1: 2..21
    # cold items (<= 1 train user): 2..24; cold valid pairs (0, 23) missed, (1, 2) hit
    assert valid["cold_recall@20"] == pytest.approx(0.5)
    # test, train + valid masked. u0: candidates 2..22, 24: item 12 at rank 10; u2: candidates 3..24: 24 at rank 21
    assert test["recall@10"] == 0.0
    assert test["recall@20"] == pytest.approx(0.5)
    assert test["ndcg@20"] == pytest.approx((1.0 / math.log2(12) + 0.0) / 2)
    assert test["users"] == 2.0
    assert out["epochs"] == 0 and "ctr" not in out and out["how"].startswith("popularity")


def test_popularity_refit_counts_valid_too():
    data = _recdata(3, 25, train=[(0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2)],
                    valid=[(0, 5), (1, 5)], test=[(2, 5), (2, 3)])
    plain = run_baseline("popularity", data, time_budget_s=10)
    refit = run_baseline("popularity", data, time_budget_s=10, refit_on_valid=True)
    assert plain["valid"] == refit["valid"]
    # u2 test candidates 3..24: without refit 3 ranks first, 5 third; after refit (item 5 has 2 users) 5 first
    assert plain["test"]["ndcg@10"] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert refit["test"]["ndcg@10"] == pytest.approx(1.0)


def test_als_beats_random_and_reports_ctr(planted):
    out = run_baseline("als", planted, time_budget_s=20, params={"factors": (8, 16), "iterations": (15,)})
    splits = Splits.of(planted)
    generator = torch.Generator().manual_seed(0)
    random_valid = splits.valid_metrics(lambda users: torch.rand(len(users), 40, generator=generator))
    assert out["valid"]["recall@10"] > random_valid["recall@10"] + 0.3
    assert out["test"]["recall@10"] > 0.6
    assert set(out["config"]) >= {"factors", "regularization", "iterations", "alpha"}
    assert out["config"]["grid_tried"] == len(out["history"]) > 1
    assert set(out["ctr"]) == {"auc", "f1", "threshold", "valid_auc"} and out["ctr"]["auc"] > 0.8


@pytest.mark.parametrize("name", [n for n in BASELINES if n.startswith("recbole-")])
def test_recbole_model_trains_and_reports(planted, name):
    pytest.importorskip("recbole")
    argv, cuda = list(sys.argv), os.environ.get("CUDA_VISIBLE_DEVICES")
    out = run_baseline(name, planted, time_budget_s=4, params={"epochs": 3}, threads=1)
    assert 1 <= out["epochs"] <= 3 and 1 <= out["best_epoch"] <= out["epochs"]
    for split in ("valid", "test"):
        assert set(out[split]) == METRIC_KEYS
        assert all(math.isfinite(v) for k, v in out[split].items() if not k.startswith("cold_recall"))
        assert out[split]["users"] == 60.0
    assert set(out["ctr"]) == {"auc", "f1", "threshold", "valid_auc"} and math.isfinite(out["ctr"]["auc"])
    assert out["config"]["embedding_size"] == 64 and out["config"]["epochs"] == 3
    assert out["train_s"] > 0 and "RecBole" in out["how"]
    # RecBole's process-wide side effects are undone; the torch_scatter stand-in never outlives a call
    assert sys.argv == argv and os.environ.get("CUDA_VISIBLE_DEVICES") == cuda
    assert "kgplatform's scoped stand-in" not in (getattr(sys.modules.get("torch_scatter"), "__doc__", "") or "")


@pytest.mark.parametrize("model_name", ["BPR", "KGAT"])
def test_recbole_trains_on_exactly_our_split_and_kg(planted, model_name):
    """RecBole re-indexes users, items and entities: mapped back through its tokens it holds our train pairs and our
    KG, every item is scored, and (KG models) item i is entity i."""
    pytest.importorskip("recbole")
    from kgplatform.bench.recbaselines.recbole_run import RecboleModel

    splits = Splits.of(planted)
    with tempfile.TemporaryDirectory() as tmp:
        rb = RecboleModel(model_name, planted, splits.train, splits.valid, splits.test, Path(tmp), 0, None)
    ds = rb.train_data._dataset
    users = ds.field2id_token["user_id"][ds.inter_feat["user_id"].numpy()]
    items = ds.field2id_token["item_id"][ds.inter_feat["item_id"].numpy()]
    assert sorted((int(u[1:]), int(i[1:])) for u, i in zip(users, items)) == sorted(map(tuple, splits.train.tolist()))
    assert not rb.item_unknown.any() and len(set(rb.item_map.tolist())) == planted.num_items
    if model_name == "KGAT":
        ent = ds.field2id_token["entity_id"]
        rel = ds.field2id_token["relation_id"]
        kg = {(int(ent[h][1:]), int(rel[r][1:]), int(ent[t][1:])) for h, r, t in
              zip(ds.head_entities, ds.relations, ds.tail_entities)}
        assert kg == set(map(tuple, planted.kg.tolist()))
        assert [ent[j] for j in rb.item_map.tolist()] == [f"e{i}" for i in range(planted.num_items)]
        # the DGL-free attention init: per relation, a head's out-edges share 1, so a row sums to its relation count
        a = rb.model.A_in.to_dense()
        heads, rels = rb.model.all_hs, rb.model.all_rs
        for h in range(a.shape[0]):
            assert float(a[h].sum()) == pytest.approx(len(set(rels[heads == h].tolist())), abs=1e-5)
    rb.begin_scoring()
    scores = rb.score(torch.arange(5))
    assert scores.shape == (5, planted.num_items) and torch.isfinite(scores).all()


def test_read_rec_dataset_layout(tmp_path):
    (tmp_path / "items.tsv").write_text("i0\tE0\tAlpha\ts:0\tAlpha, the first\ni1\tE1\tBeta\ts:1\tgreek\n")
    (tmp_path / "entities.tsv").write_text("E0\tAlpha\ts:0\nX\tExtra\ts:x\nE1\tBeta\ts:1\n")
    (tmp_path / "relations.tsv").write_text("0\tmusic.genre\nLIKES\tlikes\n")
    (tmp_path / "kg.tsv").write_text("E0\t0\tX\nE1\tLIKES\tY\n")
    (tmp_path / "interactions_train.tsv").write_text("u9\ti1\t5\t100\nu3\ti0\t4\t200\n")
    (tmp_path / "interactions_valid.tsv").write_text("u9\ti0\t5\t300\n")
    (tmp_path / "interactions_test.tsv").write_text("u3\ti1\t5\t400\n")
    (tmp_path / "ctr_test.tsv").write_text("u3\ti1\t1\nu3\ti0\t0\n")
    data = read_rec_dataset(tmp_path)
    assert data.num_items == 2 and data.entity_ids == ["E0", "E1", "X", "Y"]
    assert data.entity_text[:3] == ["Alpha, the first", "Beta. greek", "Extra"]
    assert data.rel_names == ["music.genre", "LIKES"]
    assert data.kg.tolist() == [[0, 0, 2], [1, 1, 3]]
    assert data.user_ids == ["u9", "u3"]
    assert data.train_pairs().tolist() == [[0, 1], [1, 0]] and data.test_pairs().tolist() == [[1, 1]]
    assert data.timestamp.tolist() == [100_000, 200_000, 300_000, 400_000]
    assert data.ctr.tolist() == [[1, 1, 1], [1, 0, 0]] and data.ctr_split.tolist() == [SPLIT_TEST, SPLIT_TEST]


def test_read_rec_dataset_counts_of_the_shipped_lastfm():
    data = read_rec_dataset(require_dataset("lastfm-kgcn"))
    assert (data.num_users, data.num_items, data.num_entities, len(data.rel_names)) == (1872, 3846, 9366, 60)
    assert [len(data.pairs(c)) for c in (SPLIT_TRAIN, SPLIT_VALID, SPLIT_TEST)] == [12711, 4207, 4255]
    assert data.kg.shape == (15518, 3) and data.ctr.shape == (25408 + 8469 + 8469, 3)


@pytest.mark.parametrize("name", ["als", "recbole-bpr"])
def test_refit_on_valid_keeps_the_selection_valid_score(planted, name):
    if name.startswith("recbole-"):
        pytest.importorskip("recbole")
    params = {"epochs": 2} if name.startswith("recbole-") else {"factors": (8,), "regularization": (0.1,),
                                                                 "iterations": (15,), "alpha": (1.0,)}
    plain = run_baseline(name, planted, time_budget_s=10, params=params, threads=1)
    refit = run_baseline(name, planted, time_budget_s=10, params=params, threads=1, refit_on_valid=True)
    assert repr(refit["valid"]) == repr(plain["valid"]) and refit["config"]["refit_on_valid"] is True  # nan != nan
    assert refit["test"] != plain["test"] and "refit on train+valid" in refit["how"]
