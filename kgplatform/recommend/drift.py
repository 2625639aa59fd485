"""Drift guard of the recommender: does the trained model still rank what people do now?

The figure is Recall@K (K = 20) of the newest interactions, measured like the run's validation figure (all-ranking,
averaged over users, every item the user already had in the run's data masked), with the run's final vectors. When
it falls below the run's validation Recall@K by more than a margin, behaviour has moved away from what the model
learnt, and a retrain is due. Too few new interactions give no verdict: the figure would be noise.
Pure functions; pipeline/recdrift.py reads the run and the new behaviour.
"""

from __future__ import annotations

import torch
from torch import Tensor

from kgplatform.recommend.data import RecData
from kgplatform.recommend.metrics import known_by_user, ranking_metrics

K = 20


def recall_on_new(users_final: Tensor, entities_final: Tensor, data: RecData, new_pairs: Tensor,
                  k: int = K) -> dict:
    """Recall@k of ``new_pairs`` (user index, item index) of the run's users and items, ranking every item and
    masking what each user already had in ``data``. A new pair the user already had (a repeat) can't be ranked:
    counted and left out, like duplicates. Returns {"recall" (None without pairs), "pairs", "users", "repeats"}."""
    known = torch.unique(data.interactions, dim=0) if len(data.interactions) else data.interactions.reshape(0, 2)
    grouped = known_by_user(known)
    had = set(map(tuple, known.tolist()))
    distinct = set(map(tuple, new_pairs.tolist()))
    fresh = sorted(distinct - had)
    repeats = len(distinct) - len(fresh)
    if not fresh:
        return {"recall": None, "pairs": 0, "users": 0, "repeats": repeats}
    items = entities_final[: data.num_items]

    def score(batch: Tensor) -> Tensor:
        return users_final[batch] @ items.t()

    target = torch.tensor(fresh, dtype=torch.long)
    figures = ranking_metrics(score, target, grouped, data.num_items, ks=(k,))
    return {"recall": figures[f"recall@{k}"], "pairs": len(fresh), "users": int(figures["users"]),
            "repeats": repeats}


def rec_drift_verdict(recall: float | None, valid_recall: float | None, count: int, *, margin: float,
                      min_count: int, k: int = K) -> dict:
    """{"retrain", "verdict" ('retrain' | 'ok' | 'too-few' | 'no-validation'), "reasons", "recall", "valid_recall",
    "threshold", "count", "min_count"}: retrain when ``recall`` < ``valid_recall`` - ``margin`` over at least
    ``min_count`` new interactions; no verdict below that, or when the run has no validation figure."""
    threshold = None if valid_recall is None else valid_recall - margin
    out = {"retrain": False, "verdict": "ok", "reasons": [], "recall": recall, "valid_recall": valid_recall,
           "threshold": threshold, "count": count, "min_count": min_count}
    if valid_recall is None:
        return {**out, "verdict": "no-validation",
                "reasons": ["the run has no validation figure to compare with (too little behaviour to hold any out)"]}
    if count < min_count or recall is None:
        return {**out, "verdict": "too-few",
                "reasons": [f"{count} new interactions of known people and items; a verdict needs {min_count}"]}
    if recall < threshold:
        return {**out, "retrain": True, "verdict": "retrain",
                "reasons": [f"Recall@{k} on {count} new interactions {recall:.3f} is below the run's validation "
                            f"Recall@{k} {valid_recall:.3f} - margin {margin:.3f} = {threshold:.3f}"]}
    return out
