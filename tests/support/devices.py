"""A tiny link-prediction run on a chosen device, for the device tests (CPU here, CUDA where there is one)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kgplatform.learn.candidates import top_candidates
from kgplatform.learn.config import TrainConfig
from kgplatform.learn.evaluate import rank_metrics
from kgplatform.learn.inductive import extend_with_nodes
from kgplatform.learn.train import train_link_predictor
from kgplatform.snapshot import SPLIT_TEST
from tests.support.snapshots import tiny_snapshot, tiny_text_x

# Dropout off: then the CPU and a GPU draw the very same batches (drawn on the CPU), so their runs differ only by
# floating-point rounding and can be compared closely.
TINY = TrainConfig(dim=16, epochs=6, eval_every=2, batch_size=4, lr=0.05, dropout=0.0, choose_inputs=False,
                   time_budget_s=120, num_negatives=4)


@dataclass
class TinyRun:
    losses: list[float]
    test: dict
    candidates: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    state: dict  # the trained model's state_dict, as the model holds it
    extended_scores: torch.Tensor  # a new node's scores after extend_with_nodes


def tiny_run(device: torch.device, cfg: TrainConfig = TINY) -> TinyRun:
    snapshot = tiny_snapshot()
    text_x = tiny_text_x(snapshot)
    result = train_link_predictor(snapshot, text_x, cfg, device=device)
    model = result.model
    test = rank_metrics(model, snapshot, SPLIT_TEST, type_constrained=cfg.type_constrained)
    with torch.no_grad():
        z = model.encode(snapshot.edge_index, snapshot.edge_type)
        candidates = top_candidates(model, z, snapshot, 0, torch.arange(4), k=2)
        grown = extend_with_nodes(model, text_x[:1].clone())  # on the CPU: the function moves it
        new = torch.tensor([snapshot.num_nodes])
        z_grown = grown.encode(snapshot.edge_index, snapshot.edge_type)
        scores = grown.score_tails(z_grown, new, torch.tensor([0])).cpu()
    return TinyRun([h["loss"] for h in result.history], test, candidates, model.state_dict(), scores)
