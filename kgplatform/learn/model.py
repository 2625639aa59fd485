"""Text + relation-aware GNN link predictor: input features -> GNN encoder -> reciprocal KGE decoder."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch_geometric.nn import RGCNConv

from kgplatform.learn.config import TrainConfig
from kgplatform.learn.mentions import mention_matrix, reversed_pairs
from kgplatform.learn.propagate import EdgeMessages, MessageGraph


def rows(x: Tensor, index: Tensor) -> Tensor:
    """x[index] for an index of any shape. index_select's backward is deterministic on CPU; x[index]'s is not."""
    return x.index_select(0, index.reshape(-1)).view(*index.shape, x.size(-1))


def among_tails(scores: Tensor, tails: Tensor | None) -> Tensor:
    """Scores [B, N] of every entity cut to score_tails' candidate shapes: tails None -> [B, N]; one shared set [C]
    -> [B, C]; per-query candidates [B, K] -> [B, K]. For scorers that always score every entity."""
    if tails is None:
        return scores
    return scores[:, tails.to(scores.device)] if tails.dim() == 1 else scores.gather(1, tails.to(scores.device))


def add_inverse_edges(edge_index: Tensor, edge_type: Tensor, num_relations: int) -> tuple[Tensor, Tensor]:
    """Append the reverse of every edge with relation r + R, so information flows both ways."""
    return (
        torch.cat([edge_index, edge_index.flip(0)], dim=1),
        torch.cat([edge_type, edge_type + num_relations]),
    )


class FastDropout(nn.Module):
    """Inverted dropout with its mask drawn by torch.rand: 12 ms against nn.Dropout's 37 ms on a [14k, 200] state
    here (torch's CPU bernoulli is slow), and a training step drops two such states."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        return x * (torch.rand_like(x) >= self.p).to(x.dtype) * (1.0 / (1.0 - self.p))


class CompGCNLayer(nn.Module):
    """CompGCN-style layer (Vashishth et al. 2020) with multiplicative composition and mean aggregation.

    Linear maps commute with sums, so messages are aggregated per direction first and projected once per node
    (W_out for original edges, W_in for inverse edges): the matmul runs on N rows instead of E rows. The sum
    itself is a sparse matrix product over (target, type) pairs (learn/propagate.py).
    """

    def __init__(self, dim: int, num_relations: int):
        super().__init__()
        self.num_relations = num_relations  # R original relations; edge types are in [0, 2R)
        self.rel = nn.Parameter(torch.empty(2 * num_relations, dim))
        self.loop = nn.Parameter(torch.ones(1, dim))
        self.w_out = nn.Linear(dim, dim, bias=False)
        self.w_in = nn.Linear(dim, dim, bias=False)
        self.w_self = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.rel)

    def forward(self, x: Tensor, graph: MessageGraph) -> Tensor:
        n = x.size(0)
        agg = graph.aggregate(x, self.rel)
        return (self.w_out(agg[:n]) + self.w_in(agg[n:])) / graph.in_degree.to(x.dtype) + self.w_self(x * self.loop)


class LinkPredictor(nn.Module):
    """Scores (head, relation, tail) for 2R relations: r < R as stored, r + R its reverse (head prediction).

    Input: Linear(text_x) and/or a learned embedding per node. Encoder: CompGCN-style layers, PyG RGCNConv or
    none, always with a residual so nodes without edges keep their input features.
    """

    def __init__(self, num_nodes: int, num_relations: int, cfg: TrainConfig, text_x: Tensor | None = None,
                 mentions: Tensor | None = None):
        """mentions: learn.mentions.mention_pairs of the nodes' texts, read when cfg.use_mentions (None: none yet;
        a saved state brings its own)."""
        super().__init__()
        self.num_nodes, self.num_relations, self.cfg = num_nodes, num_relations, cfg
        d = cfg.dim * cfg.ensemble_members  # a merged ensemble lays its members side by side (ensemble.py)
        use_text = cfg.use_text and text_x is not None
        if not (use_text or cfg.learned_embeddings):
            raise ValueError("LinkPredictor: no input features (use_text is on but text_x is None)")
        # Frozen text features travel with the model (a buffer, saved in state_dict) so scoring needs no re-embed.
        self.register_buffer("text_x", text_x.float() if use_text else None)
        self.text_proj = nn.Linear(text_x.size(1), d) if use_text else None
        # Per-relation weight on the raw text cosine of head and tail: a product whose title names its brand
        # should score that brand high even before the projection has learned it (measured: text cosine alone
        # ranks the demo's held-out HAS_BRAND tails at MRR 0.72, the model without this term at 0.41).
        self.text_match = nn.Parameter(torch.ones(2 * num_relations)) if use_text else None
        # "The head's text names the tail" and "the tail's text names the head", weighted per relation (mentions.py).
        self.mention_weight = nn.Parameter(torch.zeros(2 * num_relations, 2)) if cfg.use_mentions else None
        if cfg.use_mentions:
            pairs = mentions if mentions is not None else torch.zeros(2, 0, dtype=torch.long)
            self.register_buffer("mentions", pairs)
            self.register_buffer("mentioned_by", reversed_pairs(pairs), persistent=False)  # derived, not saved
        self.node_emb = nn.Embedding(num_nodes, d) if cfg.learned_embeddings else None
        if self.node_emb is not None:
            nn.init.normal_(self.node_emb.weight, std=1.0 / math.sqrt(d))
        # False for nodes whose learned embedding must not be used (added after training, or held out): they are
        # scored from their text and their edges only. Saved in state_dict; older states without it load as all
        # True (see _load_from_state_dict).
        self.register_buffer("has_embedding", torch.ones(num_nodes, dtype=torch.bool))
        layers = cfg.num_layers if cfg.encoder != "none" else 0
        if cfg.encoder == "rgcn":
            self.convs = nn.ModuleList(
                RGCNConv(d, d, 2 * num_relations, num_bases=min(cfg.num_bases, 2 * num_relations))
                for _ in range(layers)
            )
        else:
            self.convs = nn.ModuleList(CompGCNLayer(d, num_relations) for _ in range(layers))
        # ReZero gates (start at 0): training starts from the pure input embedding and only adds neighbourhood
        # information where it lowers the loss (with dropout 0.4: CoDEx-S valid MRR 0.402 vs 0.388 ungated).
        self.gates = nn.Parameter(torch.zeros(layers))
        self.dropout = FastDropout(cfg.dropout)
        rel_dim = d // 2 if cfg.decoder == "rotate" else d  # RotatE: one phase per complex coordinate
        self.rel_emb = nn.Parameter(torch.empty(2 * num_relations, rel_dim))
        if cfg.decoder == "rotate":
            nn.init.uniform_(self.rel_emb, -math.pi, math.pi)
            self.margin = nn.Parameter(torch.tensor(6.0))
        else:
            nn.init.normal_(self.rel_emb, mean=1.0 if cfg.decoder == "distmult" else 0.0, std=0.1)
            if cfg.decoder == "complex":  # start near the identity rotation: real part 1, imaginary part ~0
                with torch.no_grad():
                    self.rel_emb[:, : d // 2] += 1.0

    def __getstate__(self) -> dict:
        """Copies (copy.deepcopy) leave the message-graph cache behind: it is rebuilt on use, and sparse CSR
        tensors cannot be deep-copied."""
        state = dict(super().__getstate__())
        state.pop("_graph_cache", None)
        return state

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        key = prefix + "has_embedding"
        if key not in state_dict:  # saved before the buffer existed: every node had its learned embedding
            state_dict[key] = torch.ones_like(self.has_embedding)
        saved_mentions = state_dict.get(prefix + "mentions")
        if self.mention_weight is not None and saved_mentions is not None:  # as many pairs as the saved texts had
            self.mentions = torch.empty_like(saved_mentions)
            self.mentioned_by = reversed_pairs(saved_mentions)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    @property
    def device(self) -> torch.device:
        return self.rel_emb.device

    def _here(self, *tensors: Tensor | None) -> tuple:
        """Index tensors moved to the model's device: callers may keep theirs on the CPU (a no-op there)."""
        return tuple(None if t is None else t.to(self.device) for t in tensors)

    def node_input(self, use_embedding: Tensor | None = None, nodes: Tensor | None = None) -> Tensor:
        """Input features [N, d]: projected text plus the learned embedding of nodes that may use theirs.

        use_embedding: optional bool [N], further restricting ``has_embedding`` (training's unseen-node dropout).
        nodes: only these rows ([len(nodes), d]), for encoding a subgraph.
        """
        use_embedding, nodes = self._here(use_embedding, nodes)
        x = 0
        if self.text_proj is not None:
            x = x + self.text_proj(self.text_x if nodes is None else rows(self.text_x, nodes))
        if self.node_emb is not None:
            keep = self.has_embedding if use_embedding is None else self.has_embedding & use_embedding
            weight = self.node_emb.weight
            if nodes is not None:
                keep, weight = keep[nodes], rows(weight, nodes)
            x = x + (weight if bool(keep.all()) else weight * keep.unsqueeze(1))
        return x

    def encode(self, edge_index: Tensor, edge_type: Tensor, use_embedding: Tensor | None = None,
               nodes: Tensor | None = None) -> Tensor:
        """Node states [N, d] from message passing over the given edges (relation ids < R); inverses are added.

        use_embedding: see node_input (None: every node with ``has_embedding``).
        nodes: encode the subgraph of these nodes only ([len(nodes), d]); edge_index then holds positions in
        ``nodes``. A node's state is exact when the subgraph holds its whole num_layers-hop neighbourhood.
        """
        x = self.dropout(self.node_input(use_embedding, nodes))
        if len(self.convs):
            graph = self.message_graph(edge_index, edge_type, x.size(0))
            for gate, conv in zip(self.gates, self.convs):
                x = x + gate * self.dropout(torch.tanh(conv(x, *graph)))  # residual: isolated nodes keep input
        return x

    def message_graph(self, edge_index: Tensor, edge_type: Tensor, num_nodes: int) -> tuple:
        """The convs' arguments for these edges: (edge_index, edge_type) with inverses for RGCNConv, a MessageGraph
        for CompGCN layers. The last one is kept while the caller passes the very same tensors again (training
        encodes one epoch's message graph on every step); holding them keeps their identity from being reused.
        Callers must not modify those tensors in place between calls."""
        key = (edge_index, edge_type, num_nodes)
        cached = getattr(self, "_graph_cache", None)
        if cached is not None and all(a is b for a, b in zip(cached[0], key)):
            return cached[1]
        ei, et = add_inverse_edges(*self._here(edge_index, edge_type), self.num_relations)
        if self.cfg.encoder == "rgcn":
            graph = (ei, et)
        elif self.cfg.message_passing == "per_edge":
            graph = (EdgeMessages(ei, et, num_nodes, self.num_relations),)
        else:
            graph = (MessageGraph.build(ei, et, num_nodes, self.num_relations),)
        self._graph_cache = (key, graph)
        return graph

    def encode_rows(self, nodes: Tensor, use_embedding: Tensor | None = None) -> Tensor:
        """States [N, d] of a model without message passing, computed for ``nodes`` only (other rows 0).

        Without layers a node's state is its own input, so a training step that scores a few thousand of
        WN18RR's 41k entities pays for those rows instead of projecting every node's text.
        """
        if len(self.convs):
            raise ValueError("encode_rows: this model passes messages; a node's state needs its neighbours (encode)")
        x = self.dropout(self.node_input(use_embedding, nodes))
        return x.new_zeros(self.num_nodes, x.size(1)).index_copy(0, nodes.to(x.device), x)

    # The torch_geometric.nn.kge classes (DistMult, ComplEx, RotatE) only score rows of their own node_emb
    # tables, one triple at a time; we need scores for GNN outputs against all entities, so the three score
    # functions are written here as a query vector per (head, rel) compared with every tail.
    def _query(self, zh: Tensor, rels: Tensor) -> Tensor:
        r = rows(self.rel_emb, rels)
        if self.cfg.decoder == "distmult":
            return zh * r
        hr, hi = zh.chunk(2, dim=-1)
        if self.cfg.decoder == "complex":
            rr, ri = r.chunk(2, dim=-1)
        else:
            rr, ri = torch.cos(r), torch.sin(r)
        return torch.cat([hr * rr - hi * ri, hr * ri + hi * rr], dim=-1)  # complex product h * r

    def _compare(self, q: Tensor, zt: Tensor, pairwise: bool) -> Tensor:
        if self.cfg.decoder == "rotate":  # margin - ||h o r - t||
            dist = (q - zt).norm(dim=-1) if pairwise else torch.cdist(q, zt)
            return self.margin - dist
        return (q * zt).sum(-1) if pairwise else q @ zt.t()  # Re<h * r, conj(t)> for complex

    TEXT_MATCH_SCALE = 10.0  # cosines live in [-1, 1]; KGE scores span tens

    def _text_match(self, heads: Tensor, rels: Tensor, tails: Tensor | None, pairwise: bool = False) -> Tensor:
        """Weighted text cosine of head and tail. A node's cosine with itself (always the maximum) counts 0: it is
        no evidence for a self-loop, and on WN18RR it put the head itself first in every query (Hits@1 0.000)."""
        weight = self.TEXT_MATCH_SCALE * rows(self.text_match.unsqueeze(1), rels).squeeze(-1)
        th = rows(self.text_x, heads)
        if tails is None:
            cosine = (th @ self.text_x.t()).scatter_(1, heads.unsqueeze(1), 0.0)
            return weight.unsqueeze(1) * cosine
        if pairwise:
            return weight * (th * rows(self.text_x, tails)).sum(-1) * (tails != heads)
        if tails.dim() == 1:  # one candidate set shared by every query
            cosine = (th @ rows(self.text_x, tails).t()) * (tails.unsqueeze(0) != heads.unsqueeze(1))
            return weight.unsqueeze(1) * cosine
        cosine = (th.unsqueeze(1) * rows(self.text_x, tails)).sum(-1) * (tails != heads.unsqueeze(1))
        return weight.unsqueeze(1) * cosine

    MENTION_SCALE = 10.0  # lets Adam move a weight by ~0.1 per step, on the scale of KGE scores

    def _mention_term(self, heads: Tensor, rels: Tensor, tails: Tensor | None, pairwise: bool = False) -> Tensor:
        """Per-relation weights on 'the head's text names the tail' and 'the tail's text names the head'."""
        weight = self.MENTION_SCALE * rows(self.mention_weight, rels)  # [B, 2]
        names = mention_matrix(self.mentions, heads, tails, self.num_nodes, pairwise)
        named_by = mention_matrix(self.mentioned_by, heads, tails, self.num_nodes, pairwise)
        if not pairwise:
            weight = weight.unsqueeze(1)
        return weight[..., 0] * names + weight[..., 1] * named_by

    def score_tails(self, z: Tensor, heads: Tensor, rels: Tensor, tails: Tensor | None = None,
                    ids: Tensor | None = None) -> Tensor:
        """Scores [B, N] of every entity as tail of (heads[b], rels[b]); [B, K] for candidate tails [B, K] per
        query; or [B, C] for one candidate set [C] shared by every query. Scores are on the model's device.

        ids: z holds only these nodes' rows (a sampled subgraph's); heads and tails are then positions in it, and
        tails None means all of its rows.
        """
        heads, rels, tails, ids = self._here(heads, rels, tails, ids)
        if ids is not None and tails is None:
            tails = torch.arange(z.size(0), device=z.device)
        q = self._query(rows(z, heads), rels)
        if tails is None:
            out = self._compare(q, z, pairwise=False)
        elif tails.dim() == 1:
            out = self._compare(q, rows(z, tails), pairwise=False)
        else:
            out = self._compare(q.unsqueeze(1), rows(z, tails), pairwise=True)
        if ids is not None:  # the text and mention terms read global node ids
            heads, tails = ids[heads], ids[tails]
        if self.text_match is not None:
            out = out + self._text_match(heads, rels, tails)
        if self.mention_weight is not None:
            out = out + self._mention_term(heads, rels, tails)
        return out

    def score_relations(self, z: Tensor, heads: Tensor, tails: Tensor, ids: Tensor | None = None) -> Tensor:
        """Scores [B, 2R] of every relation (reciprocals included) between heads[b] and tails[b]: the same score
        as score_triples, read along the relation axis, for the relation-prediction loss (Chen et al. 2021).
        ids: as in score_tails."""
        if self.cfg.decoder == "rotate":
            raise ValueError("score_relations: decoder='rotate' is a distance, not a product over relations; "
                             "relation prediction supports 'complex' and 'distmult'")
        heads, tails, ids = self._here(heads, tails, ids)
        zh, zt = rows(z, heads), rows(z, tails)
        if ids is not None:
            heads, tails = ids[heads], ids[tails]
        if self.cfg.decoder == "distmult":
            pair = zh * zt
        else:  # Re<h * r, conj(t)> = rr . (hr tr + hi ti) + ri . (hr ti - hi tr)
            hr, hi = zh.chunk(2, dim=-1)
            tr, ti = zt.chunk(2, dim=-1)
            pair = torch.cat([hr * tr + hi * ti, hr * ti - hi * tr], dim=-1)
        out = pair @ self.rel_emb.t()
        if self.text_match is not None:
            cosine = (rows(self.text_x, heads) * rows(self.text_x, tails)).sum(-1) * (tails != heads)
            out = out + self.TEXT_MATCH_SCALE * cosine.unsqueeze(1) * self.text_match.unsqueeze(0)
        if self.mention_weight is not None:
            names = mention_matrix(self.mentions, heads, tails, self.num_nodes, pairwise=True)
            named_by = mention_matrix(self.mentioned_by, heads, tails, self.num_nodes, pairwise=True)
            weight = self.MENTION_SCALE * self.mention_weight
            out = out + names.unsqueeze(1) * weight[:, 0] + named_by.unsqueeze(1) * weight[:, 1]
        return out

    def n3_penalty(self, z: Tensor, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        """N3 regulariser (Lacroix et al. 2018): mean over the batch of the summed cubed moduli of the head state,
        relation embedding and tail state; moduli of complex coordinates for ComplEx/RotatE, absolute values for
        DistMult. Off by default: on CoDEx-S it sped up the first epochs but ended no better (learn/README.md)."""
        def cubed(x: Tensor) -> Tensor:
            if self.cfg.decoder == "distmult":
                return x.abs().pow(3).sum(-1)
            re, im = x.chunk(2, dim=-1)
            return (re * re + im * im).pow(1.5).sum(-1)

        h, r, t = self._here(h, r, t)
        total = cubed(rows(z, h)) + cubed(rows(z, t))
        if self.cfg.decoder != "rotate":  # RotatE's relations are phases: unit moduli, nothing to shrink
            total = total + cubed(rows(self.rel_emb, r))
        return total.mean()

    def score_triples(self, z: Tensor, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        """Scores [B] of triples (h, r, t) with r in [0, 2R), on the model's device."""
        h, r, t = self._here(h, r, t)
        out = self._compare(self._query(rows(z, h), r), rows(z, t), pairwise=True)
        if self.text_match is not None:
            out = out + self._text_match(h, r, t, pairwise=True)
        if self.mention_weight is not None:
            out = out + self._mention_term(h, r, t, pairwise=True)
        return out


def inverse_query(h: Tensor, r: Tensor, t: Tensor, num_relations: int) -> tuple[Tensor, Tensor, Tensor]:
    """(h, r, t) -> (t, r + R, h): head prediction as tail prediction with the reciprocal relation."""
    return t, r + num_relations, h

