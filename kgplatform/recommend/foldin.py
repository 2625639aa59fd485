"""Users and items the trained model has never seen, placed without retraining.

LightGCN's propagation has no weights: a user's layer k+1 is the degree-normalised sum of their items' layer-k
vectors. Given each item's layers 0..L-1 (computed once per model over every interaction), any set of items
gives a user vector in O(items x L x d):

- a known user keeps their learned layer 0, and layers 1..L come from their current items, so new behaviour shows
  at once; with an unchanged history the result equals the batch vector (the tests check it);
- a new user has no layer 0: their vector is the mean of layers 1..L (a common scale never changes a ranking).

A new item gets layer 0 from what the model learned to read: its projected text and one attentive pass over its
KG neighbours (their stored KG-round inputs), gated as in training. With no behaviour yet, its layers 1..L are
zero, which is exactly what training gives an item nobody has touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from kgplatform.recommend.data import RecData
from kgplatform.recommend.model import KGRecommender


@dataclass(frozen=True)
class FoldIn:
    item_layers: Tensor  # [L, I, d]: item layers 0..L-1, the inputs of user layers 1..L
    user_layer0: Tensor  # [U, d]
    item_degree: Tensor  # [I] float: distinct users per item in the propagation graph (>= 1)
    items_final: Tensor  # [I, d]
    users_final: Tensor  # [U, d]: the batch vectors (what fold-in gives for an unchanged history)
    kg_inputs: list[Tensor]  # the input of each KG round, [E, d] each (round 0: the entity inputs)
    normalise: bool  # the softmax objective ranks by cosine

    @property
    def num_layers(self) -> int:
        return self.item_layers.shape[0]


def fold_in_basis(model: KGRecommender, data: RecData) -> FoldIn:
    """Propagate once over every interaction (whatever its split) and keep what fold-in needs."""
    pairs = torch.unique(data.interactions, dim=0) if len(data.interactions) else data.interactions
    model.set_graph(pairs, data.kg)
    model.eval()
    with torch.no_grad():
        user_layers, item_layers, _ = model.propagate_layers()
        inputs = [model.entity_input().detach()]
        if model.kg_edges.numel():
            for _ in range(model.cfg.kg_layers - 1):
                inputs.append(model.kg_layer(inputs[-1]))
        items_final, users_final = torch.stack(item_layers).mean(0), torch.stack(user_layers).mean(0)
    degree = torch.bincount(pairs[:, 1], minlength=data.num_items).float().clamp(min=1) if len(pairs) \
        else torch.ones(data.num_items)
    normalise = model.cfg.behaviour_loss == "softmax"
    return FoldIn(item_layers=torch.stack(item_layers[:-1]) if len(item_layers) > 1 else torch.empty(0),
                  user_layer0=user_layers[0].detach().clone(), item_degree=degree,
                  items_final=F.normalize(items_final, dim=-1) if normalise else items_final,
                  users_final=F.normalize(users_final, dim=-1) if normalise else users_final,
                  kg_inputs=inputs if model.kg_edges.numel() and model.cfg.kg_layers else [], normalise=normalise)


def fold_in_user(basis: FoldIn, items: Tensor, user: int | None = None) -> Tensor:
    """A user's final vector [d] from their distinct items (indexes < I); user: their row, when the model knows
    them. No items and no row: a zero vector (nothing to go on; callers fall back to popularity)."""
    items = torch.unique(items.long())
    d = basis.items_final.shape[1]
    if not len(items):
        return basis.user_layer0[user].clone() if user is not None else torch.zeros(d)
    layers = [basis.user_layer0[user]] if user is not None else []
    if basis.num_layers:
        weights = (len(items) * basis.item_degree[items]).rsqrt().unsqueeze(1)
        layers += [(weights * basis.item_layers[k, items]).sum(0) for k in range(basis.num_layers)]
    else:  # no propagation: the mean of the user's items stands in for the missing learned vector
        layers.append(basis.items_final[items].mean(0))
    vector = torch.stack(layers).mean(0)
    return F.normalize(vector, dim=0) if basis.normalise else vector


def new_item_vector(model: KGRecommender, basis: FoldIn, text_vector: Tensor | None,
                    neighbours: list[tuple[int, int]]) -> Tensor:
    """Final vector [d] of an item the model never saw. text_vector: its sentence-transformers vector (the run's
    encoder), or None; neighbours: (propagation relation id, entity index) of its KG edges, with the relation id of
    the direction the message flows in (r for item -[r]-> entity, r + R for entity -[r]-> item)."""
    d = basis.items_final.shape[1]
    with torch.no_grad():
        x = torch.zeros(d)
        if model.text_proj is not None and text_vector is not None:
            x = model.text_proj(text_vector.float().reshape(1, -1))[0]
        if basis.kg_inputs and neighbours:
            rel = model.rel_emb(torch.tensor([r for r, _ in neighbours]))
            ents = torch.tensor([e for _, e in neighbours])
            own, rounds = x, []
            for inputs in basis.kg_inputs:
                messages = rel * inputs[ents]
                attention = torch.softmax((own * messages).sum(-1) / d ** 0.5, dim=0)
                own = (attention.unsqueeze(1) * messages).sum(0)
                rounds.append(own)
            x = x + model.kg_gate * torch.stack(rounds).mean(0)
        vector = x / (basis.num_layers + 1)  # no behaviour yet: layers 1..L are zero
    return F.normalize(vector, dim=0) if basis.normalise else vector
