"""Seconds per training step with PyTorch's per-parameter Adam loop against the fused Adam that training uses
(kgplatform.learn.train.adam), side by side in one run, at the shapes of two benchmark datasets.

A step is what train_link_predictor runs for a model without message passing: draw candidates, encode the rows
they name, score, loss, backward, optimiser step. The graph is random (a step's cost depends on shapes, not on
which entities are linked); text features are random unit vectors of MiniLM's width.

    .venv/bin/python bench/run_train_step.py [--steps 20]

Writes bench/results/train_step.json and bench/results/train_step.md. CPU steal time (the share of time the
hypervisor gave this machine's cores to others) is recorded, because on a shared host it inflates every timing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kgplatform.learn.config import TrainConfig  # noqa: E402
from kgplatform.learn.index import both_directions  # noqa: E402
from kgplatform.learn.model import LinkPredictor  # noqa: E402
from kgplatform.learn.train import TypedNegativeSampler, adam, batch_loss, draw_candidates  # noqa: E402

# (name, nodes, relations, text width or None, TrainConfig fields): the settings of bench/configs/<dataset>.json
SHAPES = [
    ("wn18rr", 40943, 11, 384, {"objective": "shared", "num_negatives": 4096, "encoder": "none"}),
    ("codex-s", 2034, 42, None, {"dim": 1000, "encoder": "none", "use_text": False}),
]


def cpu_times() -> list[int]:
    with open("/proc/stat") as f:
        return [int(v) for v in f.readline().split()[1:]]


def steal_share(before: list[int], after: list[int]) -> float:
    delta = [b - a for a, b in zip(before, after)]
    return delta[7] / max(1, sum(delta[:8]))  # user nice system idle iowait irq softirq steal


def step_seconds(nodes: int, relations: int, text_width: int | None, fields: dict, fused: bool, steps: int) -> list:
    torch.manual_seed(0)
    cfg = TrainConfig(**fields)
    text = torch.nn.functional.normalize(torch.randn(nodes, text_width), dim=1) if text_width else None
    model = LinkPredictor(nodes, relations, cfg, text)
    opt = adam(model.parameters(), lr=cfg.lr) if fused else torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sampler = TypedNegativeSampler(torch.ones(2 * relations, nodes, dtype=torch.bool))
    gen = torch.Generator().manual_seed(0)
    times = []
    for step in range(steps + 2):  # the first two warm up allocators and kernels
        batch = torch.stack([torch.randint(nodes, (cfg.batch_size,), generator=gen),
                             torch.randint(relations, (cfg.batch_size,), generator=gen),
                             torch.randint(nodes, (cfg.batch_size,), generator=gen)], dim=1)
        started = time.perf_counter()
        queries = both_directions(batch, relations)
        drawn = draw_candidates(queries, cfg, sampler, nodes, gen)
        step_nodes = drawn.nodes(queries[:, 0])
        z = model.encode_rows(step_nodes) if step_nodes is not None else model.encode_rows(torch.arange(nodes))
        loss = batch_loss(model, z, queries, cfg, drawn)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step >= 2:
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    rows = []
    for name, nodes, relations, text_width, fields in SHAPES:
        before = cpu_times()
        timings = {}
        for fused in (False, True, False, True):  # interleaved, so a change in host load hits both
            timings.setdefault(fused, []).extend(step_seconds(nodes, relations, text_width, fields, fused, args.steps))
        loop, fused = statistics.median(timings[False]), statistics.median(timings[True])
        rows.append({"shape": name, "nodes": nodes, "text_width": text_width, "config": fields,
                     "steps_each": len(timings[True]), "adam_loop_s": round(loop, 4), "adam_fused_s": round(fused, 4),
                     "speedup": round(loop / fused, 2), "cpu_steal_share": round(steal_share(before, cpu_times()), 3)})
        print(rows[-1], flush=True)
    out = REPO / "bench/results"
    report = {"benchmark": "train_step", "torch": torch.__version__, "threads": torch.get_num_threads(),
              "command": "python bench/run_train_step.py --steps %d" % args.steps, "rows": rows}
    (out / "train_step.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# Seconds per training step: Adam loop vs fused Adam (median, same run)", "",
             f"torch {torch.__version__}, {torch.get_num_threads()} threads. Command: `{report['command']}`.", "",
             "| shape | nodes | Adam loop s/step | fused Adam s/step | speed-up | CPU steal |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['shape']} | {r['nodes']:,} | {r['adam_loop_s']:.3f} | {r['adam_fused_s']:.3f} | "
              f"{r['speedup']:.2f}x | {r['cpu_steal_share']:.0%} |" for r in rows]
    (out / "train_step.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
