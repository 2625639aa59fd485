"""Popularity and implicit's ALS: score functions over every item, fitted on a set of (user, item) pairs."""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp
import torch

from kgplatform.bench.recbaselines.common import SELECT_METRIC, Budget, Splits, report

# ALS grid, searched cheapest first (factors x iterations) until the budget runs out; alpha is implicit's confidence
# weight (1 + alpha * r), the knob that matters most for binary feedback, so it is searched too. (Narrower grids
# picked their edge values on all three benchmark datasets: few factors, strong regularisation, large alpha.)
ALS_GRID = {"factors": (16, 32, 64, 128), "regularization": (0.01, 0.1, 1.0, 10.0, 100.0), "iterations": (15, 50),
            "alpha": (1.0, 10.0, 40.0)}


def popularity_scores(pairs: torch.Tensor, num_items: int) -> torch.Tensor:
    """float [num_items]: distinct users per item, ties broken toward the lower item index (minus index * 1e-6 / N)."""
    counts = torch.bincount(pairs[:, 1], minlength=num_items).double() if pairs.numel() else \
        torch.zeros(num_items, dtype=torch.double)
    return counts - torch.arange(num_items, dtype=torch.double) / (num_items + 1)


def popularity_fn(pairs: torch.Tensor, num_items: int):
    scores = popularity_scores(pairs, num_items)
    return lambda users: scores.unsqueeze(0).expand(len(users), -1)


def _csr(pairs: torch.Tensor, num_users: int, num_items: int) -> sp.csr_matrix:
    p = pairs.numpy()
    return sp.csr_matrix((np.ones(len(p), dtype=np.float32), (p[:, 0], p[:, 1])), shape=(num_users, num_items))


def als_fit(pairs: torch.Tensor, num_users: int, num_items: int, params: dict, seed: int, threads: int = 2):
    """A score function of implicit.cpu.als.AlternatingLeastSquares fitted on ``pairs`` (user x item CSR)."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):  # implicit's advice: its own threads, single-threaded BLAS
        model = AlternatingLeastSquares(factors=params["factors"], regularization=params["regularization"],
                                        alpha=params["alpha"], iterations=params["iterations"], random_state=seed,
                                        num_threads=threads)
        model.fit(_csr(pairs, num_users, num_items), show_progress=False)
    users = torch.from_numpy(np.asarray(model.user_factors))
    items = torch.from_numpy(np.asarray(model.item_factors))
    return lambda u: users[u] @ items.T


def als_select(splits: Splits, num_users: int, budget: Budget, seed: int, grid: dict | None = None,
               progress=None, threads: int = 2) -> tuple[dict, dict, object, list[dict]]:
    """Grid search on valid recall@20: (best params, its valid metrics, its score function, every tried row)."""
    grid = {**ALS_GRID, **(grid or {})}
    keys = list(grid)
    combos = sorted(itertools.product(*grid.values()), key=lambda c: (c[0] * c[2], c))
    best, tried, last_s = None, [], 0.0
    for n, combo in enumerate(combos):
        if tried and not budget.fits(last_s):
            break
        start = budget.elapsed()
        params = dict(zip(keys, combo))
        fn = als_fit(splits.train, num_users, splits.num_items, params, seed, threads)
        valid = splits.valid_metrics(fn)
        last_s = budget.elapsed() - start
        tried.append({**params, SELECT_METRIC: valid[SELECT_METRIC], "seconds": round(last_s, 2)})
        if best is None or valid[SELECT_METRIC] > best[1][SELECT_METRIC]:
            best = (params, valid, fn)
        report(progress, "als grid", n + 1, len(combos))
    return best[0], best[1], best[2], tried
