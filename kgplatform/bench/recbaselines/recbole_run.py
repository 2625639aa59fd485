"""RecBole 1.2.1 models (BPR, LightGCN, KGAT, KGIN) trained on exactly our split and judged by our metrics.

``recbole.quick_start`` does not import here (its ray dependency needs pkg_resources and numpy < 2), so this drives
RecBole's pieces directly: the RecData is written as atomic files into a temp dir (``rb.train/valid/test.inter`` via
``benchmark_filename``, so RecBole neither filters nor re-splits; ``rb.user`` / ``rb.item`` list every user and item so
every one gets a RecBole id and every item is scored; ``rb.kg`` and ``rb.link`` item i -> entity i for the items the
KG mentions), then Config / create_dataset / data_preparation / the model class, and our own epoch loop: RecBole's
optimiser settings (Adam, its learning rate and weight decay), RecBole's trainer logic per model (KGAT: a BPR pass,
a KG (TransR) pass, then update_attentive_A; KGIN: RSKG batches, as KGTrainer does), early stopping on OUR valid
recall@20 (patience = RecBole's stopping_step), the wall-clock budget, and the best epoch's state restored at the end.
Scores come from ``full_sort_predict`` mapped back through RecBole's token ids (``dataset.field2token_id``).
The shims RecBole needs on this stack are in recbole_shims.py.
"""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path

import torch

from kgplatform.bench.recbaselines import recbole_shims
from kgplatform.bench.recbaselines.common import SELECT_METRIC, Budget, Splits, report
from kgplatform.recommend.data import RecData

MODELS = {"recbole-bpr": "BPR", "recbole-lightgcn": "LightGCN", "recbole-kgat": "KGAT", "recbole-kgin": "KGIN"}
KG_MODELS = {"KGAT", "KGIN"}
# Validation cadence (see fit_recbole); patience (RecBole's stopping_step) counts validations.
MIN_STEPS_BETWEEN_VALIDATIONS = 50
MAX_EVAL_EVERY = 5
DATASET = "rb"
# RecBole's overall.yaml defaults (lr 1e-3, batch 2048, one uniform negative, stopping_step 10) and each model's own
# yaml; only what must differ here is set: CPU, no progress bars, our seed, and the epoch cap: RecBole's 300 epochs
# are 600 optimiser steps on amazon-giftcards-2018-rec (2,049 train pairs), far from converged at lr 1e-3 (KGIN was
# still improving at epoch 1000 there), so the cap is 5000 and training ends by early stopping or the budget instead.
OVERRIDES = {"use_gpu": False, "gpu_id": "", "show_progress": False, "state": "WARNING", "reproducibility": True,
             "epochs": 5000}
RECORDED = ("embedding_size", "kg_embedding_size", "n_layers", "layers", "reg_weight", "mess_dropout",
            "aggregator_type", "node_dropout_rate", "mess_dropout_rate", "sim_regularity", "context_hops",
            "n_factors", "ind", "temperature", "learning_rate", "weight_decay", "train_batch_size", "epochs",
            "stopping_step", "train_neg_sample_args", "kg_reverse_r", "learner", "seed")


def _write(path: Path, header: list[str], rows) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("\t".join(header) + "\n")
        f.writelines("\t".join(r) + "\n" for r in rows)


def write_atomic_files(folder: Path, data: RecData, train: torch.Tensor, valid: torch.Tensor, test: torch.Tensor,
                       with_kg: bool) -> None:
    """Tokens: users ``u<index>``, items ``i<index>``, entities ``e<index>``, relations ``r<index>`` (our indices)."""
    inter = ["user_id:token", "item_id:token"]
    for name, pairs in (("train", train), ("valid", valid), ("test", test)):
        _write(folder / f"{DATASET}.{name}.inter", inter, ((f"u{u}", f"i{i}") for u, i in pairs.tolist()))
    _write(folder / f"{DATASET}.user", ["user_id:token"], ((f"u{u}",) for u in range(data.num_users)))
    _write(folder / f"{DATASET}.item", ["item_id:token"], ((f"i{i}",) for i in range(data.num_items)))
    if with_kg:
        kg = data.kg.tolist()
        _write(folder / f"{DATASET}.kg", ["head_id:token", "relation_id:token", "tail_id:token"],
               ((f"e{h}", f"r{r}", f"e{t}") for h, r, t in kg))
        # RecBole's item/entity merge assumes every linked entity occurs in the KG: link only those items.
        in_kg = {h for h, _, _ in kg} | {t for _, _, t in kg}
        _write(folder / f"{DATASET}.link", ["item_id:token", "entity_id:token"],
               ((f"i{i}", f"e{i}") for i in range(data.num_items) if i in in_kg))


class RecboleModel:
    """One RecBole model built on (train, valid, test) pairs of a RecData; ``score(users)`` -> [B, num_items]."""

    def __init__(self, model_name: str, data: RecData, train: torch.Tensor, valid: torch.Tensor,
                 test: torch.Tensor, folder: Path, seed: int, params: dict | None):
        recbole_shims.apply()
        from recbole.config import Config
        from recbole.data import create_dataset, data_preparation
        from recbole.utils import get_model, init_seed

        self.name, self.kg = model_name, model_name in KG_MODELS
        if self.kg and not data.kg.numel():
            raise ValueError(f"{model_name} needs a knowledge graph; this dataset has no KG triples")
        (folder / DATASET).mkdir(parents=True, exist_ok=True)
        write_atomic_files(folder / DATASET, data, train, valid, test, self.kg)
        load_col = {"inter": ["user_id", "item_id"], "user": ["user_id"], "item": ["item_id"]}
        if self.kg:
            load_col.update(kg=["head_id", "relation_id", "tail_id"], link=["item_id", "entity_id"])
        config_dict = {**OVERRIDES, "data_path": str(folder), "checkpoint_dir": str(folder / "saved"),
                       "benchmark_filename": ["train", "valid", "test"], "load_col": load_col, "seed": seed,
                       **(params or {})}
        with recbole_shims.recbole_env():
            self.config = Config(model=model_name, dataset=DATASET, config_dict=config_dict)
            init_seed(seed, True)
            self.dataset = create_dataset(self.config)
            self.train_data, _, _ = data_preparation(self.config, self.dataset)
            train_dataset = self.train_data._dataset
            if model_name == "KGAT":
                self.model = recbole_shims.kgat_class()(self.config, recbole_shims.kgat_dataset_view(train_dataset))
            else:
                self.model = get_model(model_name)(self.config, train_dataset)
        if len(train_dataset) != len(train):
            raise RuntimeError(f"RecBole kept {len(train_dataset)} of {len(train)} train pairs")
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.config["learning_rate"],
                                          weight_decay=self.config["weight_decay"] or 0.0)
        tokens = self.dataset.field2token_id
        self.user_map = torch.tensor([tokens["user_id"].get(f"u{u}", 0) for u in range(data.num_users)])
        item_ids = [tokens["item_id"].get(f"i{i}", -1) for i in range(data.num_items)]
        self.item_map = torch.tensor([max(i, 0) for i in item_ids])
        self.item_unknown = torch.tensor([i < 0 for i in item_ids])

    def recorded_config(self) -> dict:
        out = {k: self.config[k] for k in RECORDED if self.config[k] is not None}
        return {"model": self.name, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}}

    def train_epoch(self) -> tuple[float, int]:
        """One epoch as RecBole's trainer for this model runs it: (summed loss, optimiser steps)."""
        from recbole.utils import KGDataLoaderState

        model, total, steps = self.model, 0.0, 0
        model.train()
        phases = [(None, model.calculate_loss)]
        if self.name == "KGAT":  # KGATTrainer: recommendation pass, then the KG (TransR) pass
            phases = [(KGDataLoaderState.RS, model.calculate_loss), (KGDataLoaderState.KG, model.calculate_kg_loss)]
        elif self.kg:  # KGTrainer without train_rec_step: joint RSKG batches
            phases = [(KGDataLoaderState.RSKG, model.calculate_loss)]
        with recbole_shims.recbole_env():
            for state, loss_fn in phases:
                if state is not None:
                    self.train_data.set_mode(state)
                for batch in self.train_data:
                    self.optimizer.zero_grad()
                    loss = loss_fn(batch)
                    loss = sum(loss) if isinstance(loss, tuple) else loss
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"{self.name}: loss is {float(loss)}")
                    loss.backward()
                    self.optimizer.step()
                    total += float(loss.detach())
                    steps += 1
            if self.name == "KGAT":
                model.eval()
                with torch.no_grad():
                    model.update_attentive_A()
        return total, steps

    def _clear_cache(self) -> None:
        for attr in ("restore_user_e", "restore_item_e", "restore_entity_e"):
            if hasattr(self.model, attr):
                setattr(self.model, attr, None)

    def snapshot(self) -> dict:
        state = {"params": copy.deepcopy(self.model.state_dict())}
        if hasattr(self.model, "A_in"):  # KGAT's attention matrix is an attribute, not a parameter
            state["A_in"] = self.model.A_in.clone()
        return state

    def restore(self, state: dict) -> None:
        self.model.load_state_dict(state["params"])
        if "A_in" in state:
            self.model.A_in = state["A_in"]
        self._clear_cache()

    def begin_scoring(self) -> None:
        """Eval mode and a fresh cache. KGIN: RecBole samples KG edges (node dropout) even in eval mode; scoring
        switches it off, as the KGIN authors' evaluation does."""
        self.model.eval()
        self._clear_cache()
        gcn = getattr(self.model, "gcn", None)
        if self.name == "KGIN" and gcn is not None:
            self._node_dropout, gcn.node_dropout_rate = gcn.node_dropout_rate, 0.0

    def end_scoring(self) -> None:
        if self.name == "KGIN":
            self.model.gcn.node_dropout_rate = self._node_dropout
        self._clear_cache()

    @torch.no_grad()
    def score(self, users: torch.Tensor) -> torch.Tensor:
        from recbole.data.interaction import Interaction

        with recbole_shims.recbole_env():
            flat = self.model.full_sort_predict(Interaction({"user_id": self.user_map[users]}))
        out = flat.view(len(users), -1)[:, self.item_map].float()
        out[:, self.item_unknown] = float("-inf")
        return out


def fit_recbole(name: str, data: RecData, splits: Splits, budget: Budget, seed: int, params: dict | None,
                progress=None, train: torch.Tensor | None = None, fixed_epochs: int | None = None):
    """Train with early stopping on valid recall@20 (or exactly ``fixed_epochs`` on ``train`` without selection).

    At least one epoch; another only while the budget fits its expected length. Validation runs every k epochs and
    after the last one: k is at least what MIN_STEPS_BETWEEN_VALIDATIONS optimiser steps take (on a small dataset an
    epoch is one or two steps, and ten validations one epoch apart would stop BPR before it moves), and otherwise
    adapts so that validation costs about as much as training (at most MAX_EVAL_EVERY). Training stops after
    ``stopping_step`` validations without improvement.
    Returns (model, best valid metrics or None, epochs run, best epoch, history)."""
    model_name = MODELS[name]
    with tempfile.TemporaryDirectory(prefix="recbole-") as tmp:
        rb = RecboleModel(model_name, data, splits.train if train is None else train, splits.valid, splits.test,
                          Path(tmp), seed, params)
    max_epochs = fixed_epochs or int(rb.config["epochs"])
    patience = int(rb.config["stopping_step"])
    best, best_valid, best_epoch, bad, history = None, None, 0, 0, []
    epoch = validated = 0  # epochs run; the last validated epoch
    eval_every, train_s, eval_s = 1, 0.0, 0.0  # seconds of the last epoch / validation

    def validate() -> None:
        nonlocal best, best_valid, best_epoch, bad, eval_s, validated
        start = budget.elapsed()
        rb.begin_scoring()
        valid = splits.valid_metrics(rb.score)
        rb.end_scoring()
        eval_s, validated = budget.elapsed() - start, epoch
        history[-1][SELECT_METRIC] = valid[SELECT_METRIC]
        if best_valid is None or valid[SELECT_METRIC] > best_valid[SELECT_METRIC]:
            best, best_valid, best_epoch, bad = rb.snapshot(), valid, epoch, 0
        else:
            bad += 1

    while epoch < max_epochs:
        if epoch and not budget.fits(train_s + (eval_s if epoch + 1 - validated >= eval_every else 0.0)):
            break
        start = budget.elapsed()
        loss, steps = rb.train_epoch()
        train_s = budget.elapsed() - start
        epoch += 1
        history.append({"epoch": epoch, "loss": round(loss, 4), "seconds": round(train_s, 3)})
        eval_every = max(math.ceil(MIN_STEPS_BETWEEN_VALIDATIONS / max(steps, 1)),
                         min(MAX_EVAL_EVERY, math.ceil(eval_s / max(train_s, 1e-3))))
        if fixed_epochs is None and epoch - validated >= eval_every:
            validate()
        report(progress, name, epoch, max_epochs)
        if not math.isfinite(loss) or bad >= patience:
            break
    if fixed_epochs is None and validated < epoch:
        validate()  # the last epochs before the budget or the epoch cap ran out
    if best is not None:
        rb.restore(best)
    rb.begin_scoring()
    return rb, best_valid, epoch, best_epoch or epoch, history
