"""Message passing over sampled subgraphs (TrainConfig.message_batches), for graphs too large to encode whole on
every step: a step encodes the sampled neighbourhood of the nodes it reads, and every node's state is computed in
chunks of targets, so memory follows the batch or the chunk instead of the edge count."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from kgplatform.learn.config import TrainConfig
from kgplatform.learn.sampling import InEdges, Subgraph, sample_subgraph

SUBGRAPH_ROWS = 2**18  # most subgraph rows one chunk of node states may reach: bounds its memory


def uses_sampling(cfg: TrainConfig | None, num_edges: int) -> bool:
    """Whether a model of this configuration passes messages over sampled subgraphs for a graph of num_edges."""
    if cfg is None or cfg.encoder == "none" or cfg.num_layers == 0:
        return False
    if cfg.message_batches == "auto":
        return cfg.objective != "1-n" and num_edges > cfg.sampled_above_edges
    return cfg.message_batches == "sampled"


def encode_subgraph(model, sub: Subgraph, use_embedding: Tensor | None = None) -> Tensor:
    return model.encode(sub.edge_index, sub.edge_type, use_embedding, nodes=sub.nodes)


@dataclass(frozen=True)
class SampledStep:
    """One step's states on its subgraph: ``z`` rows of the nodes ``ids``; queries, drawn tails and rejected rows
    with node ids replaced by positions in ``ids`` (the scorers take ``ids=``)."""

    z: Tensor
    ids: Tensor
    queries: Tensor
    drawn: object  # train.StepCandidates
    rejected: Tensor | None


def sampled_step(model, in_edges: InEdges, queries: Tensor, drawn, rejected: Tensor | None,
                 use_embedding: Tensor | None, gen: torch.Generator) -> SampledStep:
    """Encode the sampled neighbourhood of the heads, drawn tails and rejected rows' nodes (all on the CPU)."""
    cfg = model.cfg
    triples = [queries] if rejected is None else [queries, rejected]
    seeds = torch.cat([drawn.tails.reshape(-1)] + [t[:, [0, 2]].reshape(-1) for t in triples])
    sub = sample_subgraph(in_edges, seeds, cfg.fanout, cfg.num_layers, gen)

    def local(rows: Tensor) -> Tensor:
        return torch.stack([sub.position(rows[:, 0]), rows[:, 1], sub.position(rows[:, 2])], dim=1)

    return SampledStep(encode_subgraph(model, sub, use_embedding), sub.nodes, local(queries),
                       replace(drawn, tails=sub.position(drawn.tails)), None if rejected is None else local(rejected))


def sampled_states(model, edge_index: Tensor, edge_type: Tensor, seed: int = 0) -> Tensor:
    """Every node's state [N, d] (on the model's device), encoded chunk by chunk of targets over their sampled
    neighbourhoods (seeded: the same states on every call). Exact when fanout >= every node's degree."""
    cfg = model.cfg
    in_edges = InEdges.build(edge_index.cpu(), edge_type.cpu(), model.num_nodes)
    gen = torch.Generator().manual_seed(seed)
    reach = sum(cfg.fanout ** k for k in range(cfg.num_layers + 1))  # rows one target can bring, at most
    out = None
    for targets in torch.arange(model.num_nodes).split(max(1, SUBGRAPH_ROWS // reach)):
        sub = sample_subgraph(in_edges, targets, cfg.fanout, cfg.num_layers, gen)
        z = encode_subgraph(model, sub)
        if out is None:
            out = z.new_empty(model.num_nodes, z.size(1))
        out[targets.to(z.device)] = z[sub.position(targets).to(z.device)]
    return out


@torch.no_grad()
def encode_all(model, edge_index: Tensor, edge_type: Tensor) -> Tensor:
    """The encoder's states of every node over these edges: one full pass, or sampled_states when the model's
    configuration samples at this size. Uses the model's current mode (evaluation callers set eval)."""
    if uses_sampling(getattr(model, "cfg", None), edge_index.size(1)):
        return sampled_states(model, edge_index, edge_type, model.cfg.seed)
    return model.encode(edge_index, edge_type)
