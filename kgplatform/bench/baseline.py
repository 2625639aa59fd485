"""Side-by-side baselines for `kgp bench linkpred`: PyKEEN's ComplEx and RotatE (the `bench` extra only).

Same snapshot and splits as our model (PyKEEN gets our integer ids), the same wall-clock training budget, the same
model selection (best filtered validation MRR, checked every few epochs) and the same evaluator (learn/evaluate.py:
filtered, both directions, ties at the mean rank), so the numbers differ only by the model and its training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import nn

from kgplatform.learn.evaluate import rank_metrics
from kgplatform.learn.index import KnownTails, relation_ranges
from kgplatform.learn.model import among_tails
from kgplatform.learn.train import adam
from kgplatform.snapshot import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID, Snapshot

# Hyper-parameters in the range PyKEEN's and the original papers' configurations use for these models.
BASELINES = {
    # 1-N (LCWA) with softmax cross-entropy, as the CoDEx paper trained ComplEx. lr 0.1: on CoDEx-S after 15
    # epochs valid MRR 0.215 vs 0.087 at 0.03 and 0.038 at 0.001 (PyKEEN's initial scores are large).
    "pykeen-complex": {"model": "ComplEx", "embedding_dim": 256, "loop": "lcwa", "loss": "crossentropy",
                       "lr": 0.1, "batch_size": 1024, "label_smoothing": 0.1},
    # Self-adversarial negative sampling, as in the RotatE paper. (1-N RotatE did not finish 15 CoDEx-S epochs in
    # 10 minutes here: PyKEEN scores it by broadcasting [B, N, d].)
    "pykeen-rotate": {"model": "RotatE", "embedding_dim": 256, "loop": "slcwa", "loss": "nssa",
                      "loss_kwargs": {"margin": 9.0, "adversarial_temperature": 1.0}, "num_negs_per_pos": 64,
                      "lr": 1e-2, "batch_size": 1024},
}


class BudgetExhausted(Exception):
    pass


class PykeenScorer(nn.Module):
    """Our evaluator's interface over a PyKEEN model: rel r < R predicts tails, r >= R (reciprocal) heads.

    predict_t/predict_h map relation ids to the model's internal ones (doubled when it trains with inverses).
    """

    def __init__(self, model, num_relations: int):
        super().__init__()
        self.model, self.num_relations = model, num_relations

    def encode(self, *_):
        return None

    @torch.no_grad()
    def score_tails(self, z, heads, rels, tails=None):
        from pykeen.models import RotatE

        if isinstance(self.model, RotatE):
            return among_tails(self._rotate_scores(heads, rels), tails)
        forward = rels < self.num_relations
        out = torch.empty(len(heads), self.model.num_entities)
        if forward.any():
            out[forward] = self.model.predict_t(torch.stack([heads[forward], rels[forward]], 1))
        if (~forward).any():  # (?, r, head) scored over every head
            out[~forward] = self.model.predict_h(torch.stack([rels[~forward] - self.num_relations, heads[~forward]], 1))
        return among_tails(out, tails)


    def _rotate_scores(self, heads, rels):
        """RotatE's -||h * r - t|| against every entity as one matmul: ||q - e||^2 = ||q||^2 + ||e||^2 - 2 Re<q, e>.

        PyKEEN's predict broadcasts [B, N, d] complex differences: on amazon-beauty-2014 ranking 10k validation
        queries took ~10 minutes. Head prediction uses |h * r - t| = |h - conj(r) * t| (r has unit modulus).
        Same scores up to float rounding (tests/test_bench_baseline.py compares ranks with PyKEEN's evaluator).
        """
        entities = torch.view_as_complex(self._real(self.model.entity_representations[0](indices=None)))
        forward = rels < self.num_relations
        r = torch.view_as_complex(self._real(self.model.relation_representations[0](
            indices=torch.where(forward, rels, rels - self.num_relations))))
        anchor = entities[heads]
        query = torch.where(forward.unsqueeze(1), anchor * r, anchor * torch.conj(r))
        q, e = torch.view_as_real(query).flatten(1), torch.view_as_real(entities).flatten(1)
        squared = (q * q).sum(1, keepdim=True) + (e * e).sum(1) - 2 * q @ e.t()
        return -squared.clamp_min(0).sqrt()

    @staticmethod
    def _real(x):
        """[n, d, 2] real view of complex representations, whichever way PyKEEN stores them."""
        return torch.view_as_real(x) if torch.is_complex(x) else x.view(*x.shape[:-1], -1, 2)


@dataclass
class BaselineResult:
    name: str
    test: dict
    test_unconstrained: dict
    best_valid_mrr: float | None
    best_epoch: int
    epochs: int
    train_seconds: float
    stopped_reason: str
    config: dict = field(default_factory=dict)


def build(name: str, snapshot: Snapshot, seed: int):
    from pykeen.losses import CrossEntropyLoss, NSSALoss
    from pykeen.models import ComplEx, RotatE
    from pykeen.training import LCWATrainingLoop, SLCWATrainingLoop
    from pykeen.triples import CoreTriplesFactory

    cfg = BASELINES[name]
    factory = CoreTriplesFactory(snapshot.triples(SPLIT_TRAIN), num_entities=snapshot.num_nodes,
                                 num_relations=snapshot.num_relations, create_inverse_triples=cfg["loop"] == "lcwa")
    loss = {"crossentropy": CrossEntropyLoss, "nssa": NSSALoss}[cfg["loss"]](**cfg.get("loss_kwargs", {}))
    model_cls = {"ComplEx": ComplEx, "RotatE": RotatE}[cfg["model"]]
    model = model_cls(triples_factory=factory, embedding_dim=cfg["embedding_dim"], loss=loss, random_seed=seed)
    optimizer = adam(model.parameters(), lr=cfg["lr"])  # fused, as ours, where its parameters allow
    if cfg["loop"] == "lcwa":
        loop = LCWATrainingLoop(model=model, triples_factory=factory, optimizer=optimizer)
    else:
        loop = SLCWATrainingLoop(model=model, triples_factory=factory, optimizer=optimizer,
                                 negative_sampler_kwargs={"num_negs_per_pos": cfg["num_negs_per_pos"]})
    return model, loop, factory, cfg


def run_baseline(name: str, snapshot: Snapshot, *, time_budget_s: float, seed: int = 0, eval_every: int = 5,
                 patience: int = 5, eval_batch_size: int = 512, max_epochs: int = 100000,
                 valid_max_triples: int | None = None, log=None) -> BaselineResult:
    """Train within the budget, keep the state with the best filtered validation MRR, rank the test split."""
    from pykeen.training.callbacks import TrainingCallback

    model, loop, factory, cfg = build(name, snapshot, seed)
    scorer = PykeenScorer(model, snapshot.num_relations)
    known = KnownTails(snapshot.triples(), snapshot.num_nodes, snapshot.num_relations)
    allowed = relation_ranges(snapshot)
    state = {"best": None, "best_mrr": None, "best_epoch": 0, "since_best": 0, "epochs": 0, "reason": "epochs"}
    started = time.perf_counter()

    def over_budget() -> bool:
        return time.perf_counter() - started > time_budget_s

    def evaluate(epoch: int) -> None:
        mrr = rank_metrics(scorer, snapshot, SPLIT_VALID, known=known, allowed=allowed,
                           batch_size=eval_batch_size, max_triples=valid_max_triples)["mrr"]
        if state["best_mrr"] is None or mrr > state["best_mrr"]:
            state.update(best={k: v.detach().clone() for k, v in model.state_dict().items()}, best_mrr=mrr,
                         best_epoch=epoch, since_best=0)
        else:
            state["since_best"] += 1
        if log:
            log(f"{name} epoch {epoch}: valid MRR {mrr:.3f} ({time.perf_counter() - started:.0f} s)")

    class Budget(TrainingCallback):
        def post_batch(self, epoch: int, batch, **kwargs) -> None:
            if over_budget():
                raise BudgetExhausted

        def post_epoch(self, epoch: int, epoch_loss: float, **kwargs) -> None:
            state["epochs"] = epoch
            if epoch % eval_every == 0:
                evaluate(epoch)
                if state["since_best"] >= patience:
                    state["reason"] = "patience"
                    self.training_loop._should_stop = True  # PyKEEN's own flag for a callback-requested stop

    try:
        loop.train(triples_factory=factory, num_epochs=max_epochs, batch_size=cfg["batch_size"], callbacks=[Budget()],
                   use_tqdm=False, **({"label_smoothing": cfg["label_smoothing"]} if "label_smoothing" in cfg else {}))
    except BudgetExhausted:
        state["reason"] = "time_budget"
    train_seconds = time.perf_counter() - started
    evaluate(state["epochs"])  # the state at the end of the budget competes too
    model.load_state_dict(state["best"])
    test = rank_metrics(scorer, snapshot, SPLIT_TEST, known=known, allowed=allowed, batch_size=eval_batch_size)
    unconstrained = rank_metrics(scorer, snapshot, SPLIT_TEST, known=known, type_constrained=False,
                                 batch_size=eval_batch_size)
    return BaselineResult(name, test, unconstrained, state["best_mrr"], state["best_epoch"], state["epochs"],
                          train_seconds, state["reason"], cfg)
