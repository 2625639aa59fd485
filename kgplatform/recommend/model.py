"""One collaborative knowledge graph: users, items and KG entities, propagated together.

Why this member of the KGAT / KGIN family:
- knowledge-graph edges are relation-aware and attentive: the message from a neighbour is the relation vector
  times the neighbour's vector (KGIN's relational aggregation, no per-relation matrices: KGAT's W_r costs d^2 per
  relation and overfits small graphs), weighted by a softmax over the receiving node's KG neighbours of
  <e_h * e_r, e_t> (KGAT's idea that some relations of an item say more than others);
- what the KG says about an item enters the item's layer 0 through a learned gate, and behaviour then propagates
  LightGCN-style (no weights, no non-linearity, symmetric degree normalisation). Interleaving KG and behaviour
  messages in every layer (KGAT) was measured here first: on lastfm-kgcn it lost to LightGCN alone (test
  Recall@20 0.278 against 0.326), because a weak KG drowns the behaviour signal; the gate lets the data decide;
- the layer-0 entity table doubles as the node table of PyG's DistMult, so L_KG is the graph's own link loss on
  the same vectors the recommender propagates.
Item text (sentence-transformers) and attributes are projected into layer 0 too, so an item without behaviour
still has a vector: the cold-start path.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn.kge import DistMult
from torch_geometric.utils import softmax

from kgplatform.recommend.config import RecConfig


class _SpMM(torch.autograd.Function):
    """sparse @ dense whose backward uses the precomputed transpose: autograd's own would transpose and coalesce
    the sparse matrix in every step (measured: most of a LightGCN step's backward on lastfm-kgcn)."""

    @staticmethod
    def forward(ctx, matrix: Tensor, transposed: Tensor, dense: Tensor) -> Tensor:
        ctx.transposed = transposed
        return torch.sparse.mm(matrix, dense)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return None, None, torch.sparse.mm(ctx.transposed, grad)


def spmm(matrix: Tensor, transposed: Tensor, dense: Tensor) -> Tensor:
    return _SpMM.apply(matrix, transposed, dense)


def _csr(coo: Tensor) -> Tensor:
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the one op used here is stable
        warnings.simplefilter("ignore", UserWarning)
        return coo.to_sparse_csr()


def normalised_bipartite(pairs: Tensor, num_users: int, num_items: int) -> tuple[Tensor, Tensor]:
    """Sparse [users, items] and [items, users] matrices with weights 1/sqrt(deg(u) deg(i)) (LightGCN)."""
    if pairs.numel() == 0:
        empty = torch.sparse_coo_tensor(torch.empty(2, 0, dtype=torch.long, device=pairs.device),
                                        torch.empty(0, device=pairs.device), (num_users, num_items),
                                        check_invariants=True)
        return _csr(empty.coalesce()), _csr(empty.t().coalesce())
    pairs = torch.unique(pairs, dim=0)
    deg_u = torch.bincount(pairs[:, 0], minlength=num_users).float().clamp(min=1)
    deg_i = torch.bincount(pairs[:, 1], minlength=num_items).float().clamp(min=1)
    w = (deg_u[pairs[:, 0]] * deg_i[pairs[:, 1]]).rsqrt()
    ui = torch.sparse_coo_tensor(pairs.t(), w, (num_users, num_items), check_invariants=True).coalesce()
    iu = torch.sparse_coo_tensor(pairs.flip(1).t(), w, (num_items, num_users), check_invariants=True).coalesce()
    return _csr(ui), _csr(iu)


def both_directions(kg: Tensor, num_relations: int) -> tuple[Tensor, Tensor]:
    """KG edges as (source, target) [2, 2T] with relation ids, sorted by target; the reverse of relation r is
    r + num_relations. Sorted targets matter: index_add_ over a sorted index is ~50x faster on CPU here."""
    src = torch.cat([kg[:, 2], kg[:, 0]])
    dst = torch.cat([kg[:, 0], kg[:, 2]])
    rel = torch.cat([kg[:, 1], kg[:, 1] + num_relations])
    order = torch.argsort(dst, stable=True)
    return torch.stack([src[order], dst[order]]), rel[order]


def attribute_features(numeric: Tensor, categorical: Tensor) -> tuple[Tensor, Tensor]:
    """Numeric attributes standardised, with a missing flag per column (NaN -> 0, flag 1); categorical codes
    shifted by one so that 0 means missing."""
    if numeric.shape[1]:
        present = ~torch.isnan(numeric)
        filled = torch.where(present, numeric, torch.zeros_like(numeric))
        count = present.sum(0).clamp(min=1)
        mean = filled.sum(0) / count
        std = (((filled - mean) * present).pow(2).sum(0) / count).sqrt().clamp(min=1e-6)
        standard = torch.where(present, (numeric - mean) / std, torch.zeros_like(numeric))
        numeric = torch.cat([standard, (~present).float()], dim=1)
    return numeric, categorical + 1


class KGRecommender(nn.Module):
    def __init__(self, *, num_users: int, num_entities: int, num_items: int, num_relations: int, cfg: RecConfig,
                 text_x: Tensor | None = None, item_numeric: Tensor | None = None,
                 item_categorical: Tensor | None = None, categorical_sizes: list[int] | None = None):
        super().__init__()
        self.cfg = cfg
        self.num_users, self.num_entities, self.num_items = num_users, num_entities, num_items
        self.num_relations = max(num_relations, 1)
        d = cfg.dim
        self.user_emb = nn.Embedding(num_users, d)
        self.kge = DistMult(num_entities, self.num_relations, d, margin=cfg.kg_margin)  # entity table + L_KG
        self.rel_emb = nn.Embedding(2 * self.num_relations, d)  # propagation messages, both directions
        self.kg_gate = nn.Parameter(torch.tensor(cfg.kg_gate))  # how much of the KG's view enters layer 0
        nn.init.normal_(self.user_emb.weight, std=0.1)
        nn.init.normal_(self.kge.node_emb.weight, std=0.1)
        nn.init.normal_(self.rel_emb.weight, mean=1.0, std=0.1)  # start as "pass the neighbour on"
        self.register_buffer("text_x", text_x if cfg.use_text and text_x is not None else torch.empty(0, 0),
                             persistent=False)
        self.text_proj = nn.Linear(self.text_x.shape[1], d, bias=False) if self.text_x.numel() else None
        numeric = item_numeric if item_numeric is not None else torch.empty(num_items, 0)
        categorical = item_categorical if item_categorical is not None else torch.empty(num_items, 0, dtype=torch.long)
        if not cfg.use_attributes:
            numeric, categorical = numeric[:, :0], categorical[:, :0]
        numeric, categorical = attribute_features(numeric, categorical)
        self.register_buffer("item_numeric", numeric, persistent=False)
        self.register_buffer("item_categorical", categorical, persistent=False)
        self.numeric_proj = nn.Linear(numeric.shape[1], d, bias=False) if numeric.shape[1] else None
        sizes = categorical_sizes or []
        self.categorical_emb = nn.ModuleList(nn.Embedding(n + 1, d, padding_idx=0) for n in sizes)
        self.ui = self.iu = None
        self.kg_edges = torch.empty(2, 0, dtype=torch.long)
        self.kg_rel = torch.empty(0, dtype=torch.long)
        self.kg_ptr = torch.zeros(num_entities + 1, dtype=torch.long)  # CSR row pointer of the sorted targets

    @property
    def device(self) -> torch.device:
        return self.user_emb.weight.device

    # graph ------------------------------------------------------------------------------------------------
    def set_graph(self, train_pairs: Tensor, kg: Tensor) -> None:
        """The behaviour and KG edges to propagate over (train only: valid/test never leak in). Built on the
        model's device: move the model first (they are plain attributes, which Module.to does not move)."""
        train_pairs, kg = train_pairs.to(self.device), kg.to(self.device)
        self.ui, self.iu = normalised_bipartite(train_pairs, self.num_users, self.num_items)
        if self.cfg.use_kg and kg.numel():
            self.kg_edges, self.kg_rel = both_directions(kg, self.num_relations)
        else:
            self.kg_edges = torch.empty(2, 0, dtype=torch.long, device=self.device)
            self.kg_rel = torch.empty(0, dtype=torch.long, device=self.device)
        self.kg_ptr = torch.zeros(self.num_entities + 1, dtype=torch.long, device=self.device)
        self.kg_ptr[1:] = torch.bincount(self.kg_edges[1], minlength=self.num_entities).cumsum(0)

    # layer 0 ------------------------------------------------------------------------------------------------
    def entity_input(self, hide_items: Tensor | None = None) -> Tensor:
        x = self.kge.node_emb.weight
        if hide_items is not None:  # id dropout: these items rely on text, attributes and the KG this step
            keep = torch.ones(self.num_entities, 1, device=x.device)
            keep[hide_items.to(x.device)] = 0.0
            x = x * keep
        extra = torch.zeros(self.num_items, x.shape[1], device=x.device)
        if self.numeric_proj is not None:
            extra = extra + self.numeric_proj(self.item_numeric)
        for c, emb in enumerate(self.categorical_emb):
            extra = extra + emb(self.item_categorical[:, c])
        if self.numeric_proj is not None or len(self.categorical_emb):
            x = torch.cat([x[: self.num_items] + extra, x[self.num_items:]])
        if self.text_proj is not None:
            x = x + self.text_proj(self.text_x)
        return x

    # propagation ----------------------------------------------------------------------------------------------
    def kg_layer(self, x: Tensor) -> Tensor:
        src, dst = self.kg_edges
        rel = self.rel_emb(self.kg_rel)
        msg = rel * x[src]
        logits = (x[dst] * rel * x[src]).sum(-1) / x.shape[1] ** 0.5
        attn = softmax(logits, ptr=self.kg_ptr)
        return torch.zeros_like(x).index_add_(0, dst, attn.unsqueeze(-1) * msg)

    def knowledge(self, entities: Tensor) -> Tensor:
        """What the KG says about each entity: the mean of kg_layers rounds of attentive relational propagation."""
        x, layers = entities, []
        for _ in range(self.cfg.kg_layers):
            x = self.kg_layer(x)
            layers.append(x)
        return torch.stack(layers).mean(0)

    def layer0(self, hide_items: Tensor | None = None) -> Tensor:
        """Every entity's layer 0 [E, d]: its own input plus, gated, what the KG says about it."""
        entities = self.entity_input(hide_items)
        if self.kg_edges.numel() and self.cfg.kg_layers:
            entities = entities + self.kg_gate * self.knowledge(entities)
        return entities

    def propagate_layers(self, hide_items: Tensor | None = None) -> tuple[list[Tensor], list[Tensor], Tensor]:
        """(user layers 0..L, item layers 0..L, entity layer 0): LightGCN over behaviour from layer 0."""
        entities = self.layer0(hide_items)
        users, items = self.user_emb.weight, entities[: self.num_items]
        user_layers, item_layers = [users], [items]
        for _ in range(self.cfg.num_layers):
            users, items = spmm(self.ui, self.iu, items), spmm(self.iu, self.ui, users)
            user_layers.append(users)
            item_layers.append(items)
        return user_layers, item_layers, entities

    def propagate(self, hide_items: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Final (users [U, d], entities [E, d]): the mean of layers 0..L (softmax objective: unit length)."""
        user_layers, item_layers, entities = self.propagate_layers(hide_items)
        users_final, items_final = torch.stack(user_layers).mean(0), torch.stack(item_layers).mean(0)
        if self.cfg.behaviour_loss == "softmax":  # trained on cosines: score (and rank) by them too
            users_final, items_final = F.normalize(users_final, dim=-1), F.normalize(items_final, dim=-1)
        return users_final, torch.cat([items_final, entities[self.num_items:]])

    # scores and losses ---------------------------------------------------------------------------------------
    def score_items(self, users_final: Tensor, entities_final: Tensor, users: Tensor) -> Tensor:
        return users_final[users.to(users_final.device)] @ entities_final[: self.num_items].t()

    def bpr_loss(self, users_final: Tensor, entities_final: Tensor, u: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        zu = users_final[u]
        diff = (zu * entities_final[pos]).sum(-1) - (zu * entities_final[neg]).sum(-1)
        reg = (self.user_emb.weight[u].pow(2).sum() + self.kge.node_emb.weight[pos].pow(2).sum()
               + self.kge.node_emb.weight[neg].pow(2).sum()) / (2 * len(u))
        return F.softplus(-diff).mean() + self.cfg.l2 * reg

    def softmax_loss(self, users_final: Tensor, entities_final: Tensor, u: Tensor, pos: Tensor,
                     candidates: Tensor | None = None) -> Tensor:
        """Cross-entropy of each positive against every item (candidates None) or against itself plus a shared
        set of sampled candidates; scores are cosines / temperature."""
        zu = users_final[u]
        if candidates is None:
            logits = zu @ entities_final[: self.num_items].t()
            target = pos
        else:
            logits = torch.cat([(zu * entities_final[pos]).sum(-1, keepdim=True),
                                zu @ entities_final[candidates].t()], dim=1)
            target = torch.zeros(len(u), dtype=torch.long, device=zu.device)
        reg = (self.user_emb.weight[u].pow(2).sum() + self.kge.node_emb.weight[pos].pow(2).sum()) / (2 * len(u))
        return F.cross_entropy(logits / self.cfg.temperature, target) + self.cfg.l2 * reg

    def kg_loss(self, triples: Tensor) -> Tensor:
        return self.kge.loss(triples[:, 0], triples[:, 1], triples[:, 2])
