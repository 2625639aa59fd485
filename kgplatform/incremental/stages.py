"""The pure part of incremental scoring: a trained run's model, extended with what changed since, scores it.

No retraining and no optimizer. Given the base run's artefacts (``BaseRun``) and the store's k-hop neighbourhood
of the changed nodes (``Neighbourhood``, read by steps.py):

1. ``extend``: nodes the base run never saw are appended (their text vectors in, no learned embedding:
   learn/inductive.extend_with_nodes); edges added since the base run join the snapshot as train edges; predicted
   edges of other runs are excluded from the candidates (those of this run are not, so a redone window proposes
   the same edges again and write-back's MERGE makes the redo change nothing).
2. States: the changed nodes are re-encoded on their k-hop subgraph (exact for them, see LinkPredictor.encode);
   every other old node keeps the base run's state (the next full run folds the new edges into them).
3. ``score``: pipeline.stages.score_candidates (and text.proposals when the base run has its calibration) restricted
   to the changed nodes as heads, with the base run's calibration and thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from kgplatform.learn.inductive import extend_with_nodes
from kgplatform.learn.mentions import updated_pairs
from kgplatform.learn.selector import FeatureContext, extend_context
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.stages import evidence_context, score_candidates
from kgplatform.predictions import Prediction
from kgplatform.snapshot import SPLIT_TRAIN, Snapshot
from kgplatform.text.proposals import merge_text_and_model, score_text_links
from kgplatform.textnorm import node_text


@dataclass
class BaseRun:
    """A completed full run, loaded once and kept warm: everything scoring needs, nothing to train."""

    run_id: str
    model_name: str
    created_at: int  # ms, the store's clock: data stamped later is not in the snapshot
    cfg: PipelineConfig
    snapshot: Snapshot
    model: object  # LinkPredictor, eval mode
    states: Tensor  # node states over every base edge [N, d]
    calibration: object
    text_calibration: object | None = None
    arrivals: object | None = None  # calibration for products added after training (pipeline/arrivals.py)
    index: dict[str, int] = field(default_factory=dict)
    triples: set[tuple[int, int, int]] = field(default_factory=set)
    text_matchers: dict = field(default_factory=dict)  # built on first use, kept with the warm model
    snapshot_hash: str = ""
    _evidence: FeatureContext | None = field(default=None, repr=False)  # built on first use, see evidence()

    def __post_init__(self) -> None:
        self.index = {node_id: i for i, node_id in enumerate(self.snapshot.node_ids)}
        self.triples = set(map(tuple, self.snapshot.triples().tolist()))
        self.snapshot_hash = self.snapshot.content_hash()

    def evidence(self) -> FeatureContext:
        """The base snapshot's combined-evidence context (pipeline.stages.evidence_context), built once: rebuilding
        it on every tick (mentions over every text, sparse matrices over every edge) cost the realtime path over
        a second per change on amazon-magazine-2018."""
        if self._evidence is None:
            self._evidence = evidence_context(self.model, self.snapshot)
        return self._evidence

    @property
    def hops(self) -> int:
        """Neighbourhood depth to read: the encoder's layers (at least 1: scoring needs the heads' own edges)."""
        return max(1, self.cfg.train.num_layers if self.cfg.train.encoder != "none" else 0)


@dataclass
class Neighbourhood:
    """What the store holds around the changed nodes, in domain ids."""

    centers: list[str]  # the changed nodes: scored as heads
    nodes: dict[str, tuple[str, str, str | None]]  # id -> (label, name, description), every node of the ball
    facts: list[tuple[str, str, str]]  # asserted (and accepted) edges touching the ball's inner nodes
    predicted: list[tuple[str, str, str, str]]  # (head, rel, tail, run_id) of other predicted edges


@dataclass
class Prepared:
    snapshot: Snapshot
    model: object
    states: Tensor
    heads: Tensor  # node indices of the changed nodes that can be scored
    new_nodes: int
    stats: dict
    rewritten: list[int] = field(default_factory=list)  # nodes whose text the base run did not see (new or edited)


def new_node_texts(base: BaseRun, hood: Neighbourhood) -> tuple[list[str], list[str], dict]:
    """(ids, texts) of the ball's nodes the base run never saw and whose label it knows (sorted by id); skipped."""
    known_types = set(base.snapshot.type_names)
    ids, texts, unknown = [], [], 0
    for node_id in sorted(hood.nodes):
        if node_id in base.index:
            continue
        label, name, description = hood.nodes[node_id]
        if (label or "Thing") not in known_types:
            unknown += 1
            continue
        ids.append(node_id)
        texts.append(node_text(name, description))
    return ids, texts, {"unknown_label": unknown}


def changed_texts(base: BaseRun, hood: Neighbourhood) -> dict[int, str]:
    """Old nodes among the centers whose text differs from the base snapshot's: node index -> current text."""
    out = {}
    for node_id in hood.centers:
        i = base.index.get(node_id)
        if i is not None and node_id in hood.nodes:
            _, name, description = hood.nodes[node_id]
            text = node_text(name, description)
            if text != base.snapshot.node_text[i]:
                out[i] = text
    return out


def extend(base: BaseRun, hood: Neighbourhood, new_ids: list[str], new_texts: list[str], new_x: Tensor | None,
           changed: dict[int, Tensor], own_run_id: str) -> Prepared:
    """The base snapshot and model grown by the new nodes and edges; states of the changed nodes recomputed.

    new_x: text vectors of ``new_ids`` (None for a model without text); changed: node index -> new text vector
    of old nodes whose text changed.
    """
    snap = base.snapshot
    n_old = snap.num_nodes
    index = dict(base.index)
    index.update({node_id: n_old + j for j, node_id in enumerate(new_ids)})
    type_index = {t: i for i, t in enumerate(snap.type_names)}
    rel_index = {r: i for i, r in enumerate(snap.rel_names)}

    def triple(h: str, r: str, t: str) -> tuple[int, int, int] | None:
        if h in index and t in index and r in rel_index:
            return index[h], rel_index[r], index[t]
        return None

    local_facts = sorted({x for x in (triple(*f) for f in hood.facts) if x is not None})
    added = [x for x in local_facts if x not in base.triples]
    excluded = sorted({x for h, r, t, run_id in hood.predicted if run_id != own_run_id
                       for x in [triple(h, r, t)] if x is not None})
    texts = list(snap.node_text) + new_texts
    for i in changed:
        texts[i] = node_text(*hood.nodes[snap.node_ids[i]][1:])
    added_t = torch.tensor(added, dtype=torch.long).reshape(-1, 3)
    snapshot = replace(
        snap, node_ids=snap.node_ids + new_ids, node_text=texts,
        node_type=torch.cat([snap.node_type, torch.tensor([type_index[hood.nodes[i][0] or "Thing"] for i in new_ids],
                                                          dtype=torch.long)]),
        edge_index=torch.cat([snap.edge_index, added_t[:, [0, 2]].t()], dim=1),
        edge_type=torch.cat([snap.edge_type, added_t[:, 1]]),
        edge_split=torch.cat([snap.edge_split, torch.full((len(added),), SPLIT_TRAIN, dtype=torch.long)]),
        excluded=torch.cat([snap.excluded.view(-1, 3).long(), torch.tensor(excluded, dtype=torch.long).reshape(-1, 3)]))

    if new_x is None and base.model.text_x is not None:  # nothing new to encode (e.g. only new edges)
        new_x = base.model.text_x.new_zeros((0, base.model.text_x.size(1)))
    model = extend_with_nodes(base.model, new_x, None if new_x is not None else len(new_ids), node_text=texts)
    if changed and model.text_x is not None:
        for i, vector in changed.items():
            model.text_x[i] = vector.to(model.text_x)  # its dtype and device

    heads = sorted({index[c] for c in hood.centers if c in index})
    states = subgraph_states(model, base.states, snapshot.num_nodes, local_facts,
                             heads + list(range(n_old, len(index))))
    stats = {"new_nodes": len(new_ids), "new_edges": len(added), "changed_text": len(changed),
             "subgraph_edges": len(local_facts), "heads": len(heads)}
    return Prepared(snapshot, model, states, torch.tensor(heads, dtype=torch.long), len(new_ids), stats,
                    sorted(changed) + list(range(n_old, len(index))))


@torch.no_grad()
def subgraph_states(model, base_states: Tensor, num_nodes: int, facts: list[tuple[int, int, int]],
                    recompute: list[int]) -> Tensor:
    """Base states extended to num_nodes rows; rows ``recompute`` re-encoded over the subgraph of ``facts``. The
    states stay where base_states are (the model's device)."""
    states = torch.cat([base_states, base_states.new_zeros(num_nodes - base_states.size(0), base_states.size(1))])
    if not recompute:
        return states
    rows = torch.tensor(facts, dtype=torch.long).reshape(-1, 3)
    nodes = torch.unique(torch.cat([rows[:, 0], rows[:, 2], torch.tensor(recompute, dtype=torch.long)]))
    local = torch.full((num_nodes,), -1, dtype=torch.long)
    local[nodes] = torch.arange(len(nodes))
    edge_index = torch.stack([local[rows[:, 0]], local[rows[:, 2]]])
    z = model.encode(edge_index, rows[:, 1], nodes=nodes)
    target = torch.tensor(sorted(set(recompute)), dtype=torch.long)
    states[target.to(states.device)] = z[local[target].to(z.device)].to(states.device)
    return states


def grown_evidence(base: BaseRun, prepared: Prepared) -> FeatureContext:
    """The base run's evidence context with what ``extend`` added: the new edges (train edges, as in
    evidence_context), the new nodes, and the mentions of every rewritten text."""
    old = base.evidence()
    added = prepared.snapshot.triples()[base.snapshot.edge_index.size(1):]
    mentions = updated_pairs(old.mentions, prepared.snapshot.node_text, prepared.rewritten)
    return extend_context(old, added, prepared.snapshot.num_nodes, mentions, getattr(prepared.model, "text_x", None))


def score(base: BaseRun, prepared: Prepared) -> list[Prediction]:
    """The changed nodes' predicted edges, selected by the base run's calibrated thresholds (write_predictions'
    rows, with base_run for provenance)."""
    if len(prepared.heads) == 0:
        return []
    context = None
    if base.calibration.combiner is not None or (base.arrivals is not None and base.arrivals.combiner is not None):
        context = grown_evidence(base, prepared)
    selected, _ = score_candidates(prepared.model, prepared.states, prepared.snapshot, base.calibration, base.cfg,
                                   heads=prepared.heads, arrivals=base.arrivals, context=context)
    text_rows = []
    if base.text_calibration is not None:
        text_rows = score_text_links(prepared.model, prepared.states, prepared.snapshot, base.text_calibration,
                                     base.cfg, heads=prepared.heads, matchers=base.text_matchers)
        selected = merge_text_and_model(selected, text_rows)
    return [{**p, "base_run": base.run_id} for p in selected]
