"""Nodes that arrive after training: extend a trained model with them, no retraining, no optimizer.

A new node has no learned embedding; it is scored from its text vector (through the trained text projection and
the per-relation text-cosine term) and from whatever edges it already has (message passing at encode time).
Training with ``TrainConfig.unseen_node_ratio`` > 0 teaches the model to score such nodes.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from kgplatform.learn.mentions import mention_pairs, reversed_pairs
from kgplatform.learn.model import LinkPredictor


@torch.no_grad()
def extend_with_nodes(model: LinkPredictor, new_text_x: Tensor | None, num_new: int | None = None,
                      node_text: list[str] | None = None) -> LinkPredictor:
    """A copy of ``model`` over N + M nodes: the N old ones unchanged, then M new ones without learned embedding.

    new_text_x: float [M, text dim], the new nodes' text vectors (same encoder as the model's ``text_x``); None
    only for a model without text input, with ``num_new`` = M (such new nodes are known by their edges only).
    node_text: every node's text, the N old (as they read now) then the M new; needed by a model with name
    mentions (``TrainConfig.use_mentions``), whose pairs are found again over all of them, so a new product whose
    title names its brand gets that evidence too.
    Every trained parameter is copied as it is, so the old nodes score exactly as before (given the same edges);
    ``model`` itself is not modified. The copy is on the model's device; new_text_x may be on the CPU.
    """
    if model.text_x is not None:
        if new_text_x is None:
            raise ValueError("extend_with_nodes: the model reads node text; pass the new nodes' text vectors")
        if new_text_x.dim() != 2 or new_text_x.size(1) != model.text_x.size(1):
            raise ValueError(f"extend_with_nodes: text vectors of shape {tuple(new_text_x.shape)}, "
                             f"the model's have {model.text_x.size(1)} columns")
        m = new_text_x.size(0)
        if num_new is not None and num_new != m:
            raise ValueError(f"extend_with_nodes: num_new={num_new} but {m} text vectors")
    else:
        if new_text_x is not None:
            raise ValueError("extend_with_nodes: the model was trained without text; new_text_x must be None")
        if num_new is None or num_new < 0:
            raise ValueError("extend_with_nodes: a model without text input needs num_new >= 0")
        m = num_new

    n = model.num_nodes
    if model.mention_weight is not None and (node_text is None or len(node_text) != n + m):
        got = "none" if node_text is None else len(node_text)
        raise ValueError(f"extend_with_nodes: the model uses name mentions; pass node_text for all {n + m} "
                         f"nodes (old then new), got {got}")
    out = copy.deepcopy(model)
    out.num_nodes = n + m
    if model.text_x is not None:
        out.text_x = torch.cat([model.text_x, new_text_x.to(model.text_x)])  # its dtype and device
    if model.node_emb is not None:
        weight = torch.cat([model.node_emb.weight, model.node_emb.weight.new_zeros(m, model.node_emb.embedding_dim)])
        out.node_emb = nn.Embedding.from_pretrained(weight, freeze=False)
    out.has_embedding = torch.cat([model.has_embedding, model.has_embedding.new_zeros(m)])
    if model.mention_weight is not None:
        out.mentions = mention_pairs(node_text).to(model.device)
        out.mentioned_by = reversed_pairs(out.mentions)
    out.train(model.training)
    return out
