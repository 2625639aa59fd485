"""Sum of many regression trees' outputs per row, for the combiner (learn/selector.py Combiner.logit).

The trees are plain arrays (JSON in the run directory, never a pickle). Walking thousands of trees over hundreds of
thousands of candidates in numpy took minutes at 100k relationships, so each tree is handed to scikit-learn's
compiled tree walker (the one its HistGradientBoosting models predict with), built from the same arrays. That
walker is private scikit-learn API: when it is missing or changes shape, the numpy walk below answers instead.
"""

from __future__ import annotations

import numpy as np
import torch


def tree_outputs_sum(x: np.ndarray, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray,
                     right: np.ndarray, is_leaf: np.ndarray, value: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """Per row of x, the sum over trees of the leaf value the row reaches. Node arrays are indexed globally (left
    and right too); tree i's nodes start at roots[i] and are contiguous. A row goes left when x <= threshold."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    try:
        return _compiled_sum(x, feature, threshold, left, right, is_leaf, value, roots)
    except (ImportError, TypeError, ValueError, AttributeError):
        return _numpy_sum(x, feature, threshold, left, right, is_leaf, value, roots)


def _compiled_sum(x, feature, threshold, left, right, is_leaf, value, roots) -> np.ndarray:
    from sklearn.ensemble._hist_gradient_boosting._predictor import _predict_from_raw_data
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    ends = np.append(roots[1:], len(feature))
    no_bitsets = np.zeros((0, 8), dtype=np.uint32)
    f_idx_map = np.zeros(x.shape[1], dtype=np.uint32)
    total, out = np.zeros(len(x)), np.empty(len(x))
    threads = torch.get_num_threads()  # what this process may use (a worker's KGP_TORCH_THREADS share)
    for start, end in zip(roots.tolist(), ends.tolist()):
        nodes = np.zeros(end - start, dtype=PREDICTOR_RECORD_DTYPE)
        nodes["value"] = value[start:end]
        nodes["feature_idx"] = feature[start:end]
        nodes["num_threshold"] = threshold[start:end]
        leaf = is_leaf[start:end]
        nodes["is_leaf"] = leaf
        nodes["left"] = np.where(leaf, 0, left[start:end] - start)  # leaves point nowhere; keep the field valid
        nodes["right"] = np.where(leaf, 0, right[start:end] - start)
        _predict_from_raw_data(nodes, x, no_bitsets, no_bitsets, f_idx_map, threads, out)
        total += out
    return total


def _numpy_sum(x, feature, threshold, left, right, is_leaf, value, roots) -> np.ndarray:
    total = np.zeros(len(x))
    rows = np.arange(len(x))
    for root in roots.tolist():
        node = np.full(len(x), root, dtype=np.int64)
        active = rows[~is_leaf[node]]
        while active.size:
            at = node[active]
            go_left = x[active, feature[at]] <= threshold[at]
            node[active] = np.where(go_left, left[at], right[at])
            active = active[~is_leaf[node[active]]]
        total += value[node]
    return total
