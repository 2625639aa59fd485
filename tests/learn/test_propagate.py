"""Sparse message passing equals the per-edge gather-multiply-scatter it replaces, values and gradients."""

import torch
from torch_geometric.utils import scatter

from kgplatform.learn.config import TrainConfig
from kgplatform.learn.model import LinkPredictor, add_inverse_edges
from kgplatform.learn.propagate import MessageGraph


def per_edge_aggregate(x, rel, edge_index, edge_type, num_relations):
    src, dst = edge_index
    msg = x[src] * rel[edge_type]
    slot = dst + x.size(0) * (edge_type >= num_relations).long()
    return scatter(msg, slot, dim=0, dim_size=2 * x.size(0), reduce="sum")


def test_aggregate_matches_per_edge_messages_and_gradients():
    gen = torch.Generator().manual_seed(3)
    n, r, e, d = 40, 3, 300, 8
    edge_index = torch.randint(n, (2, e), generator=gen)  # repeats and self-loops included on purpose
    edge_type = torch.randint(r, (e,), generator=gen)
    ei, et = add_inverse_edges(edge_index, edge_type, r)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64, requires_grad=True)
    rel = torch.randn(2 * r, d, generator=gen, dtype=torch.float64, requires_grad=True)

    graph = MessageGraph.build(ei, et, n, r)
    got = graph.aggregate(x, rel)
    want = per_edge_aggregate(x, rel, ei, et, r)
    assert torch.allclose(got, want)
    weights = torch.randn_like(want)
    grads_got = torch.autograd.grad((got * weights).sum(), (x, rel))
    grads_want = torch.autograd.grad((want * weights).sum(), (x, rel))
    for a, b in zip(grads_got, grads_want):
        assert torch.allclose(a, b)
    assert graph.pair_sum.size(0) < len(et)  # repeated (target, type) pairs were merged
    assert torch.equal(graph.in_degree.squeeze(1), torch.bincount(ei[1], minlength=n).clamp(min=1))


def test_model_reuses_the_graph_only_for_the_same_tensors():
    model = LinkPredictor(10, 2, TrainConfig(dim=4, dropout=0.0))
    edge_index, edge_type = torch.tensor([[0, 1], [1, 2]]), torch.tensor([0, 1])
    first = model.message_graph(edge_index, edge_type, 10)
    assert model.message_graph(edge_index, edge_type, 10) is first
    assert model.message_graph(edge_index.clone(), edge_type, 10) is not first


def test_per_edge_baseline_gives_the_same_states():
    gen = torch.Generator().manual_seed(5)
    edge_index, edge_type = torch.randint(30, (2, 120), generator=gen), torch.randint(4, (120,), generator=gen)
    states = []
    for mode in ("sparse", "per_edge"):
        torch.manual_seed(0)
        model = LinkPredictor(30, 4, TrainConfig(dim=6, dropout=0.0, message_passing=mode)).eval()
        with torch.no_grad():
            model.gates.fill_(1.0)
        states.append(model.encode(edge_index, edge_type))
    assert torch.allclose(states[0], states[1], atol=1e-5)
