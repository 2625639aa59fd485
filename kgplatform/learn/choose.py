"""Which inputs a graph's model should read, chosen on validation within the training budget.

Text helps where names carry the answer (a product title names its brand) and can hurt where they do not (on
amazon-magazine-2018 a text+graph model once lost to graph-only, 0.271 against 0.357 test MRR). A user cannot
know which in advance, so with ``TrainConfig.choose_inputs`` training races the configured model against its
graph-only and text-only variants:

1. each variant trains on an even share of ``PROBE_SHARE`` of the budget, the configured model first;
2. the best validation MRR wins (ties go to the configured model, then in the order listed);
3. a winner that stopped on its probe budget goes on training, from its best state, for what is left.

A race the budget cannot afford is not run: when the configured model's pace gives a probe fewer than
``MIN_PROBE_EPOCHS`` epochs (amazon-beauty-2014 at the 300 s default), the probes would compare half-trained
models and leave the winner too little time, so the configured model keeps the whole budget and the choice says
what budget would let the race run.

The result records every probe and the reason for the choice (``TrainResult.choice``), for the run report.
"""

from __future__ import annotations

import time

import torch

from kgplatform.learn.budget import epoch_seconds
from kgplatform.learn.config import TrainConfig

PROBE_SHARE = 0.5  # of the budget, split evenly between the variants
MIN_PROBE_EPOCHS = 3

# name -> the fields a variant changes; 'configured' is the config as given
VARIANTS = {
    "configured": {},
    "graph only": {"use_text": False, "learned_embeddings": True},
    "text only": {"use_text": True, "learned_embeddings": False, "encoder": "none"},
}


def input_variants(cfg: TrainConfig, has_text: bool) -> dict[str, TrainConfig]:
    """The distinct variants worth racing: without text only the graph-only one is possible, and a variant equal to
    the configured model is not trained twice."""
    base = cfg.model_copy(update={"choose_inputs": False})
    if not has_text:
        return {"configured": base.model_copy(update={"use_text": False, "learned_embeddings": True})}
    out: dict[str, TrainConfig] = {}
    for name, fields in VARIANTS.items():
        variant = base.model_copy(update=fields)
        if variant not in out.values():
            out[name] = variant
    return out


def describe(cfg: TrainConfig) -> str:
    inputs = "+".join(p for p, on in (("text", cfg.use_text), ("learned embeddings", cfg.learned_embeddings)) if on)
    layers = cfg.num_layers if cfg.encoder != "none" else 0
    return f"{inputs}, {cfg.encoder if layers else 'no'} encoder" + (f" x{layers}" if layers else "")


def pick(probes: dict[str, dict]) -> tuple[str, str]:
    """(winner, reason) from {name: {"valid_mrr": ...}} in race order; None MRRs (no validation) lose."""
    scored = {k: v["valid_mrr"] for k, v in probes.items() if v["valid_mrr"] is not None}
    if not scored:
        return "configured", "no validation split: the configured model is kept"
    best = max(scored.values())
    winner = next(k for k, v in scored.items() if v == best)
    others = ", ".join(f"{k} {v:.3f}" for k, v in scored.items() if k != winner)
    return winner, f"best validation MRR {best:.3f}" + (f" (against {others})" if others else "")


def probe_budget(cfg: TrainConfig, variants: int) -> float:
    return cfg.time_budget_s * PROBE_SHARE / max(1, variants)


def remaining(cfg: TrainConfig, started: float) -> float:
    return cfg.time_budget_s - (time.perf_counter() - started)


def race_inputs(snapshot, text_x, cfg: TrainConfig, progress, unseen_nodes, train_fn):
    """Race the input variants (module docstring) with ``train_fn`` (learn.train._train); the TrainResult of the
    winner, with ``choice`` filled in and the probes' history entries marked by variant."""
    started = time.perf_counter()
    variants = input_variants(cfg, text_x is not None and cfg.use_text)
    probe = probe_budget(cfg, len(variants))
    results, probes, history = {}, {}, []
    skipped = None
    for name, variant in variants.items():
        if results and skipped is None:
            pace = epoch_seconds(history)
            if probe < MIN_PROBE_EPOCHS * pace:
                skipped = (f"no race: a probe's {probe:.0f} s is under {MIN_PROBE_EPOCHS} epochs at {pace:.1f} s per "
                           f"epoch; a budget of {pace * MIN_PROBE_EPOCHS * len(variants) / PROBE_SHARE:.0f} s lets "
                           "the race run")
        if skipped is not None:
            break
        offset = time.perf_counter() - started
        torch.manual_seed(variant.seed)
        budget = probe if len(variants) > 1 else remaining(cfg, started)
        results[name] = train_fn(snapshot, text_x if variant.use_text else None,
                                 variant.model_copy(update={"time_budget_s": budget}),
                                 _tagged(progress, name, offset), unseen_nodes)
        r = results[name]
        probes[name] = {"inputs": describe(variant), "valid_mrr": r.best_valid_mrr, "best_epoch": r.best_epoch,
                        "epochs": len(r.history), "stopped_reason": r.stopped_reason,
                        "seconds": round(r.train_seconds, 1)}
        history += [{**e, "variant": name, "seconds": e["seconds"] + offset} for e in r.history]
    winner, reason = pick(probes)
    if skipped is not None:
        reason = skipped
    result, variant = results[winner], variants[winner]
    left = remaining(cfg, started)
    continued = None
    if len(variants) > 1 and result.stopped_reason == "time_budget" and left > 0.05 * cfg.time_budget_s:
        offset = time.perf_counter() - started
        torch.manual_seed(variant.seed + 1)
        more = train_fn(snapshot, text_x if variant.use_text else None,
                        variant.model_copy(update={"time_budget_s": left}), _tagged(progress, winner, offset),
                        unseen_nodes, start_from=result.model.state_dict())
        done = len(result.history)
        history += [{**e, "variant": winner, "epoch": e["epoch"] + done, "seconds": e["seconds"] + offset}
                    for e in more.history]
        continued = {"epochs": len(more.history), "valid_mrr": more.best_valid_mrr,
                     "stopped_reason": more.stopped_reason}
        if more.best_valid_mrr is not None and more.best_valid_mrr >= (result.best_valid_mrr or float("-inf")):
            more.best_epoch += done
            result = more
        else:
            result.stopped_reason = more.stopped_reason
        reason += f"; continued for {left:.0f} s from its best state"
    result.history = history
    result.train_seconds = time.perf_counter() - started
    result.choice = {"chosen": winner, "inputs": describe(variant), "reason": reason, "probes": probes,
                     "probe_budget_s": round(probe, 1), "continued": continued,
                     "config": {k: getattr(variant, k) for k in ("use_text", "learned_embeddings", "encoder")}}
    result.model.cfg = variant
    return result


def _tagged(progress, variant: str, offset: float):
    if progress is None:
        return None

    def report(stage: str, cur: int, tot: int, info: dict) -> None:
        progress(stage, cur, tot, {**info, "variant": variant, "seconds": info["seconds"] + offset})
    return report
