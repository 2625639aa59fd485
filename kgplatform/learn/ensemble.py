"""Several independently trained link predictors, merged into one that scores their average.

For the product decoders the score is a sum over coordinates, so the average of K members' scores is itself the
score of one model whose states are the members' states side by side and whose relation embeddings are theirs,
side by side, divided by K: Re<h r conj(t)> summed over members = Re<[h_1..h_K] [r_1..r_K] conj([t_1..t_K])>.
The merged model is a plain ``LinkPredictor`` whose config says ``ensemble_members=K`` (its states are K*dim
wide, so the run's saved config rebuilds it), so saving, loading, calibration, write-back, extension
with new nodes and explanations need nothing new. Members must not pass messages (a GNN's layers mix coordinates,
so theirs cannot be laid side by side) and must not use RotatE (a distance, not a sum).
"""

from __future__ import annotations

import torch
from torch import Tensor

from kgplatform.learn.model import LinkPredictor


def _side_by_side(parts: list[Tensor], complex_layout: bool) -> Tensor:
    """Concatenate along the last dim; complex vectors keep all real halves first, then all imaginary halves."""
    if not complex_layout:
        return torch.cat(parts, dim=-1)
    halves = [p.chunk(2, dim=-1) for p in parts]
    return torch.cat([h[0] for h in halves] + [h[1] for h in halves], dim=-1)


@torch.no_grad()
def merge_members(members: list[LinkPredictor]) -> LinkPredictor:
    """One LinkPredictor whose every score is the mean of the members' scores (in eval mode)."""
    if not members:
        raise ValueError("merge_members: no members")
    first = members[0]
    cfg = first.cfg
    for i, m in enumerate(members):
        if len(m.convs):
            raise ValueError(f"merge_members: member {i} passes messages (encoder={m.cfg.encoder!r}); only models "
                             "without an encoder can be merged")
        if m.cfg.decoder not in ("complex", "distmult"):
            raise ValueError(f"merge_members: member {i} uses decoder={m.cfg.decoder!r}; 'complex' or 'distmult'")
        if m.cfg.ensemble_members != 1:
            raise ValueError(f"merge_members: member {i} is itself merged; merge single models")
        same = (m.num_nodes, m.num_relations, m.cfg.dim, m.cfg.decoder, m.text_x is None, m.node_emb is None,
                m.mention_weight is None)
        if same != (first.num_nodes, first.num_relations, cfg.dim, cfg.decoder, first.text_x is None,
                    first.node_emb is None, first.mention_weight is None):
            raise ValueError(f"merge_members: member {i} differs from member 0 in size, decoder or inputs")
        if m.text_x is not None and not torch.equal(m.text_x, first.text_x):
            raise ValueError(f"merge_members: member {i} was trained on other text vectors")
    k, is_complex = len(members), cfg.decoder == "complex"
    merged_cfg = cfg.model_copy(update={"ensemble_members": k})
    mentions = first.mentions if first.mention_weight is not None else None
    merged = LinkPredictor(first.num_nodes, first.num_relations, merged_cfg, first.text_x, mentions).to(first.device)
    merged.rel_emb.copy_(_side_by_side([m.rel_emb for m in members], is_complex) / k)
    if first.node_emb is not None:
        merged.node_emb.weight.copy_(_side_by_side([m.node_emb.weight for m in members], is_complex))
    if first.text_proj is not None:  # rows of the weight are output coordinates: lay them out like the states
        merged.text_proj.weight.copy_(_side_by_side([m.text_proj.weight.t() for m in members], is_complex).t())
        merged.text_proj.bias.copy_(_side_by_side([m.text_proj.bias for m in members], is_complex))
        merged.text_match.copy_(torch.stack([m.text_match for m in members]).mean(0))
    if first.mention_weight is not None:
        merged.mention_weight.copy_(torch.stack([m.mention_weight for m in members]).mean(0))
    merged.has_embedding = torch.stack([m.has_embedding for m in members]).all(0)
    return merged.eval()
