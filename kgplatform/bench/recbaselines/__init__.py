"""Library baselines for the recommendation benchmark, judged exactly as our recommender is."""

from __future__ import annotations

import time

import torch

from kgplatform.bench.recbaselines.common import SELECT_METRIC, Budget, Splits, ctr_result, report
from kgplatform.bench.recbaselines.recbole_run import MODELS, fit_recbole
from kgplatform.bench.recbaselines.simple import als_fit, als_select, popularity_fn
from kgplatform.recommend.data import RecData

BASELINES = ("popularity", "als", *MODELS)
TORCH_THREADS = 2


def run_baseline(name: str, data: RecData, *, time_budget_s: float, seed: int = 0, refit_on_valid: bool = False,
                 progress=None, params: dict | None = None, threads: int = TORCH_THREADS) -> dict:
    """Train and judge one baseline.

    Names (BASELINES): ``popularity`` (distinct train users per item), ``als`` (implicit.cpu.als on the train user x
    item CSR; factors / regularization / iterations / alpha chosen by valid recall@20 from a small grid, within the
    budget), ``recbole-bpr``, ``recbole-lightgcn``, ``recbole-kgat``, ``recbole-kgin`` (RecBole 1.2.1 with its
    published default hyper-parameters, trained on exactly our split, early-stopped on our valid recall@20; see
    recbole_run.py and the shims in recbole_shims.py). All of them read the interactions as binary positives (split
    pairs, duplicates removed); behaviour types, weights and timestamps are not used. KGAT / KGIN need KG triples
    (ValueError otherwise).

    Every model is evaluated by all-ranking (kgplatform.recommend.metrics.ranking_metrics over every item): valid
    masks train pairs, test masks train + valid pairs, cold items = cold_item_mask(train). Where the dataset ships
    CTR rows (data.ctr), their valid / test rows are scored by the same model and judged by ctr_metrics.

    The result: ``{"valid": metrics, "test": metrics, "ctr": {auc, f1, threshold, valid_auc} (only with CTR rows),
    "epochs": n, "best_epoch": n, "train_s": s, "eval_s": s, "config": {...}, "how": "one line", "history":
    [...]}``. ``valid`` is always the selected model's valid score (before any refit). ``refit_on_valid=True`` then
    refits the selected configuration on train + valid (same number of epochs / iterations) and scores test with it.
    ``train_s`` is wall-clock fitting time including the in-loop validation that drives selection; ``eval_s`` the
    final valid, test and CTR scoring. ``params`` overrides hyper-parameters: RecBole config keys (``{"epochs":
    2}``) or ALS grid axes (``{"factors": (64,)}``). Torch (and implicit) run with ``threads`` threads during a call
    (torch's setting is restored afterwards); on a loaded 2-core machine 1 thread can be several times faster than
    2.
    """
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        return _run(name, data, time_budget_s, seed, refit_on_valid, progress, params, threads)
    finally:
        torch.set_num_threads(previous)


def _run(name, data, time_budget_s, seed, refit, progress, params, threads) -> dict:
    splits = Splits.of(data)
    budget = Budget(time_budget_s)
    train_valid = splits.train_valid()
    history: list = []
    if name == "popularity":
        fn, valid, epochs, best_epoch = popularity_fn(splits.train, data.num_items), None, 0, 0
        config = {"score": "distinct train users per item, ties to the lower item index"}
        how = "popularity: items ranked by number of distinct train users (train+valid when refit)"
        if refit:
            valid = splits.valid_metrics(fn)
            fn = popularity_fn(train_valid, data.num_items)
    elif name == "als":
        chosen, valid, fn, history = als_select(splits, data.num_users, budget, seed, params, progress, threads)
        epochs = best_epoch = chosen["iterations"]
        config = {**chosen, "library": "implicit.cpu.als.AlternatingLeastSquares",
                  "grid_tried": len(history), "random_state": seed}
        how = (f"implicit ALS on the binary train user x item CSR, grid of {len(history)} configs by valid "
               f"{SELECT_METRIC}, chosen {chosen}")
        if refit:
            fn = als_fit(train_valid, data.num_users, data.num_items, chosen, seed, threads)
    else:
        rb, valid, epochs, best_epoch, history = fit_recbole(name, data, splits, budget, seed, params, progress)
        config = rb.recorded_config()
        fn = rb.score
        how = (f"RecBole 1.2.1 {MODELS[name]} (default hyper-parameters) on our exact split via atomic files, own "
               f"epoch loop on CPU (cap {config['epochs']}), early stop on valid {SELECT_METRIC} (patience "
               f"{config['stopping_step']} validations >= 50 steps apart), best epoch {best_epoch} of {epochs} "
               f"restored; shims: numpy-1 aliases, dok_matrix._update"
               + (", KGAT init_graph without DGL" if MODELS[name] == "KGAT" else "")
               + (", scoped torch_scatter.scatter_mean stand-in, scored without KG edge dropout"
                  if MODELS[name] == "KGIN" else ""))
        if refit:
            valid = valid if valid is not None else splits.valid_metrics(fn)
            rb, _, _, _, _ = fit_recbole(name, data, splits, Budget(float("inf")), seed, params, progress,
                                         train=train_valid, fixed_epochs=best_epoch)
            fn = rb.score
    train_s = budget.elapsed()
    start = time.perf_counter()
    if valid is None:
        valid = splits.valid_metrics(fn)
    result = {"valid": valid, "test": splits.test_metrics(fn)}
    ctr = ctr_result(fn, data)
    if ctr is not None:
        result["ctr"] = ctr
    if refit:
        how += "; refit on train+valid before test"
    report(progress, name, 1, 1)
    return {**result, "epochs": epochs, "best_epoch": best_epoch, "train_s": round(train_s, 2),
            "eval_s": round(time.perf_counter() - start, 2), "config": {**config, "refit_on_valid": refit,
                                                                        "seed": seed, "time_budget_s": time_budget_s,
                                                                        "threads": threads},
            "how": how, "history": history}
