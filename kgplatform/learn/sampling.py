"""Neighbour sampling for message passing over a step's subgraph, in plain torch: PyG's NeighborLoader needs
pyg-lib, which is not installable here, and k_hop_subgraph is exact (too big around hubs of degree 6,000)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class InEdges:
    """The message edges into each node in both directions (the encoder adds every edge's inverse), as CSR:
    entries ptr[v]:ptr[v+1] hold the source and the stored edge's id; an inverse entry names the edge it reverses.
    edge_index [2, E] and edge_type [E] are the stored edges (relation ids < R)."""

    ptr: Tensor  # [N + 1]
    src: Tensor  # [2E]
    edge_id: Tensor  # [2E]
    edge_index: Tensor
    edge_type: Tensor

    @classmethod
    def build(cls, edge_index: Tensor, edge_type: Tensor, num_nodes: int) -> "InEdges":
        src, dst = edge_index
        ids = torch.arange(len(src))
        into, sources = torch.cat([dst, src]), torch.cat([src, dst])
        order = torch.argsort(into, stable=True)
        ptr = torch.zeros(num_nodes + 1, dtype=torch.long)
        ptr[1:] = torch.bincount(into, minlength=num_nodes).cumsum(0)
        return cls(ptr, sources[order], torch.cat([ids, ids])[order], edge_index, edge_type)

    def degree(self, nodes: Tensor) -> Tensor:
        return self.ptr[nodes + 1] - self.ptr[nodes]

    def sample(self, nodes: Tensor, fanout: int, gen: torch.Generator) -> Tensor:
        """Entry positions: every entry of a node with at most ``fanout``, else exactly ``fanout`` distinct ones, one
        drawn uniformly from each of ``fanout`` near-equal strata of its list (each entry has chance ~fanout/degree).
        Vectorised over nodes; the cost follows the entries drawn, not the degrees."""
        start, degree = self.ptr[nodes], self.degree(nodes)
        take = degree.clamp(max=fanout)
        owner = torch.repeat_interleave(torch.arange(len(nodes)), take)
        slot = torch.arange(len(owner)) - torch.repeat_interleave(take.cumsum(0) - take, take)
        deg = degree[owner]
        low, high = slot * deg // fanout, (slot + 1) * deg // fanout  # integer bounds: strata never overlap
        drawn = low + (torch.rand(len(owner), generator=gen, dtype=torch.float64) * (high - low)).long()
        return start[owner] + torch.where(deg > fanout, drawn, slot)


@dataclass(frozen=True)
class Subgraph:
    """Sampled neighbourhood of some seed nodes: ``nodes`` sorted global ids; edges as positions in ``nodes``."""

    nodes: Tensor
    edge_index: Tensor
    edge_type: Tensor

    def position(self, ids: Tensor) -> Tensor:
        """Positions in ``nodes`` of node ids that are in it."""
        return torch.searchsorted(self.nodes, ids.contiguous())


def sample_subgraph(in_edges: InEdges, seeds: Tensor, fanout: int, num_layers: int, gen: torch.Generator,
                    ) -> Subgraph:
    """Up to ``fanout`` incoming edges per node per layer, hop by hop from the seeds (each node sampled once, at
    its first hop). With fanout >= every degree the seeds' num_layers-hop neighbourhood is whole, so their states
    are exact."""
    nodes = torch.unique(seeds)
    frontier, picked = nodes, []
    for _ in range(num_layers):
        entries = in_edges.sample(frontier, fanout, gen)
        picked.append(in_edges.edge_id[entries])
        reached = torch.unique(in_edges.src[entries])
        frontier = reached[~torch.isin(reached, nodes)]
        nodes = torch.unique(torch.cat([nodes, frontier]))
    # An edge sampled from both ends is passed once: the encoder adds its inverse itself.
    ids = torch.unique(torch.cat(picked)) if picked else torch.zeros(0, dtype=torch.long)
    return Subgraph(nodes, torch.searchsorted(nodes, in_edges.edge_index[:, ids]), in_edges.edge_type[ids])
