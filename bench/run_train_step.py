"""Training speed of the default model against the default it replaced, side by side in one run, on real graphs.

For each dataset (ingested into the embedded store and exported, as the pipeline does; MiniLM text features):
1. Seconds per training step of both configurations, interleaved so that a change in host load hits both, and
   from them seconds per epoch.
2. Per-epoch validation curves: each configuration trained for --epochs epochs (no time budget, validation MRR
   on the default 5,000-triple sample after every epoch), so quality is compared at equal epochs and equal time.

'before' is the default until this benchmark: softmax over every entity ('1-n') and per-edge message passing.

    .venv/bin/python bench/run_train_step.py [--datasets amazon-beauty-2014 codex-s] [--epochs 6] [--steps 10]

Writes bench/results/train_step.json and bench/results/train_step.md. CPU steal time (the share of time the
hypervisor gave this machine's cores to others) is recorded, because on a shared host it inflates every timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kgplatform.bench.linkpred import graph_name_for  # noqa: E402
from kgplatform.graph.export import export_snapshot  # noqa: E402
from kgplatform.graph.store import open_store  # noqa: E402
from kgplatform.ingest.load import ingest_path  # noqa: E402
from kgplatform.learn.config import TrainConfig  # noqa: E402
from kgplatform.learn.index import both_directions  # noqa: E402
from kgplatform.learn.model import LinkPredictor  # noqa: E402
from kgplatform.learn.train import TypedNegativeSampler, adam, batch_loss, draw_candidates, train_link_predictor  # noqa: E402,E501
from kgplatform.pipeline.stages import featurize  # noqa: E402
from kgplatform.settings import Settings  # noqa: E402
from kgplatform.snapshot import SPLIT_TRAIN  # noqa: E402

DATASETS = Path(os.environ.get("KGP_DATASETS", REPO.parent / "shared" / "datasets"))
# the model only: the input race (learn/choose.py) is off in both, so the curves compare one model each
CONFIGS = {"before": {"objective": "1-n", "message_passing": "per_edge", "choose_inputs": False},
           "after": {"choose_inputs": False}}


def cpu_times() -> list[int]:
    with open("/proc/stat") as f:
        return [int(v) for v in f.readline().split()[1:]]


def steal_share(before: list[int], after: list[int]) -> float:
    delta = [b - a for a, b in zip(before, after)]
    return delta[7] / max(1, sum(delta[:8]))  # user nice system idle iowait irq softirq steal


def load(name: str, settings: Settings):
    store = open_store(settings, graph=graph_name_for(DATASETS / name))
    ingest_path(store, DATASETS / name, batch_size=settings.write_batch_size)
    snapshot = export_snapshot(store, page_size=settings.page_size)
    return snapshot, featurize(snapshot, settings, TrainConfig())


def step_seconds(snapshot, text_x, cfg: TrainConfig, steps: int) -> list[float]:
    """Seconds of each of ``steps`` training steps (after two warm-up steps), one epoch's message graph."""
    torch.manual_seed(0)
    R = snapshot.num_relations
    model = LinkPredictor(snapshot.num_nodes, R, cfg, text_x)
    opt = adam(model.parameters(), lr=cfg.lr)
    sampler = TypedNegativeSampler(torch.ones(2 * R, snapshot.num_nodes, dtype=torch.bool))
    gen = torch.Generator().manual_seed(0)
    train = snapshot.triples(SPLIT_TRAIN)
    perm = torch.randperm(len(train), generator=gen)
    hidden = round(cfg.hidden_edge_ratio * len(train))
    targets, message = train[perm[:hidden]], train[perm[hidden:]]
    edges, types = message[:, [0, 2]].t(), message[:, 1]
    times = []
    for step, batch in enumerate(targets.split(cfg.batch_size)[: steps + 2]):
        started = time.perf_counter()
        queries = both_directions(batch, R)
        drawn = draw_candidates(queries, cfg, sampler, snapshot.num_nodes, gen)
        loss = batch_loss(model, model.encode(edges, types), queries, cfg, drawn)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step >= 2:
            times.append(time.perf_counter() - started)
    return times


def curve(snapshot, text_x, cfg: TrainConfig) -> dict:
    result = train_link_predictor(snapshot, text_x, cfg)
    return {"valid_mrr": [round(e["valid_mrr"], 4) for e in result.history],
            "seconds": [round(e["seconds"], 1) for e in result.history],
            "best_valid_mrr": round(result.best_valid_mrr, 4), "best_epoch": result.best_epoch}


def measure(name: str, settings: Settings, epochs: int, steps: int) -> dict:
    snapshot, text_x = load(name, settings)
    cfgs = {k: TrainConfig(**v) for k, v in CONFIGS.items()}
    started = cpu_times()
    times: dict[str, list[float]] = {k: [] for k in cfgs}
    for _ in range(2):  # interleaved
        for key, cfg in cfgs.items():
            times[key] += step_seconds(snapshot, text_x, cfg, steps)
    row = {"dataset": name, "nodes": snapshot.num_nodes, "train_triples": int((snapshot.edge_split == 0).sum()),
           "relations": snapshot.num_relations, "configs": CONFIGS, "epochs": epochs}
    for key, cfg in cfgs.items():
        per_step = statistics.median(times[key])
        steps_per_epoch = -(-round(cfg.hidden_edge_ratio * row["train_triples"]) // cfg.batch_size)
        row[key] = {"s_per_step": round(per_step, 4), "steps_per_epoch": steps_per_epoch,
                    "s_per_epoch": round(per_step * steps_per_epoch, 1)}
    row["epoch_speedup"] = round(row["before"]["s_per_epoch"] / row["after"]["s_per_epoch"], 2)
    for key, cfg in cfgs.items():
        row[key]["curve"] = curve(snapshot, text_x, cfg.model_copy(update={
            "epochs": epochs, "eval_every": 1, "patience": epochs, "time_budget_s": 1e9,
            "message_passing": "sparse"}))  # same values as per-edge (tested), so the curves cost less
        print(name, key, row[key], flush=True)
    row["cpu_steal_share"] = round(steal_share(started, cpu_times()), 3)
    return row


def render(report: dict) -> str:
    lines = ["# Training speed: the default model against the default it replaced (same run)", "",
             f"torch {report['torch']}, {report['threads']} threads. Command: `{report['command']}`. 'before': "
             "softmax over every entity and per-edge message passing; 'after': today's TrainConfig defaults. "
             "Seconds per epoch = median seconds per step x steps per epoch; curves: validation MRR after each "
             "epoch, every configuration with the same message passing (equal values, tested).", "",
             "| dataset | nodes | train triples | before s/epoch | after s/epoch | speed-up | "
             "before valid MRR by epoch | after valid MRR by epoch | CPU steal |", "|---" * 9 + "|"]

    def mrrs(row: dict, key: str) -> str:
        return " ".join(f"{v:.3f}" for v in row[key]["curve"]["valid_mrr"])

    for r in report["rows"]:
        lines.append(f"| {r['dataset']} | {r['nodes']:,} | {r['train_triples']:,} | "
                     f"{r['before']['s_per_epoch']:.1f} | {r['after']['s_per_epoch']:.1f} | "
                     f"{r['epoch_speedup']:.2f}x | {mrrs(r, 'before')} | {mrrs(r, 'after')} | "
                     f"{r['cpu_steal_share']:.0%} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["amazon-beauty-2014", "codex-s", "amazon-giftcards-2018"])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    settings = Settings()
    rows = [measure(name, settings, args.epochs, args.steps) for name in args.datasets]
    report = {"benchmark": "train_step", "torch": torch.__version__, "threads": torch.get_num_threads(),
              "command": "python bench/run_train_step.py --datasets %s --epochs %d --steps %d"
                         % (" ".join(args.datasets), args.epochs, args.steps), "rows": rows}
    out = REPO / "bench/results"
    (out / "train_step.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "train_step.md").write_text(render(report))


if __name__ == "__main__":
    main()
