"""`kgp bench inductive`: products the model never saw, scored from their text and at most one edge.

Protocol (one seeded run per dataset):

1. Ingest the dataset through the real store and export the snapshot, as `kgp bench linkpred` does.
2. Hold out a seeded share (default 10 %) of the Product nodes. Every edge that touches one of them (all splits,
   either direction) is removed from the graph that the model trains, validates and message-passes on.
3. Train the normal trainer (`train_link_predictor`, early stopping on the reduced graph's valid split) on the
   graph *without* the held-out products: they are not even nodes there, so they are never negatives of the 1-N
   softmax. Then add them with `learn.inductive.extend_with_nodes`: text vector in, no learned embedding, no
   retraining, no optimizer (``protocol="extend"``, the default). ``protocol="mask"`` keeps them as nodes of the
   training graph with ``has_embedding=False`` instead (they are then text-only negatives during training).
4. Queries: for each held-out product p, every removed edge (p, r, t) with r in HAS_BRAND / IN_CATEGORY /
   ALSO_BOUGHT (p as head, tail prediction), except the revealed edge of step 5. The same queries are ranked in
   every setting.
5. Settings: "text only" (p has no edge); "text + 1 edge": exactly one of p's removed edges is put back as
   message-passing input. Reveal rule: prefer an edge whose other end is not a held-out product, then the relation
   order ALSO_VIEWED, ALSO_BOUGHT, IN_CATEGORY, HAS_BRAND (ALSO_VIEWED is never asked about), then a seeded
   choice among the remaining ties. All held-out products get their edge at once (a day's batch of new products).
   Message passing otherwise uses every remaining edge (all splits), as the pipeline's scoring does.
6. Ranks: filtered (every other true tail of (p, r) in the original graph is removed from the ranking, the
   revealed edge too), type-constrained to the relation's range types (`learn.index.relation_ranges` over the
   reduced train split), ties at the mean rank (`learn.evaluate.ranks`).
7. Baseline without training: the k nearest training products of p by exact cosine of the MiniLM text vectors (a
   matrix product over all training products; exact at this size), each candidate tail scored by the summed
   similarity of the neighbours linked to it by r. Reported for k = 10 and k = 50 (no selection on test).
   For context: the most-linked tail of the relation in the remaining graph (the same guess for every product),
   and a uniformly random ranking's expected MRR / Hits@k (from each query's candidate count).
8. With a fine-tuning budget (``--finetune-budget``), after steps 3-7 with the frozen encoder: the encoder is
   fine-tuned on the kept graph alone (no held-out product, its text or its edges; bench/inductive_finetune.py),
   every node's text is encoded with it, and steps 3-7 run again on the same split with the same config and seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from kgplatform.bench.inductive_finetune import finetuned_text
from kgplatform.bench.linkpred import graph_name_for
from kgplatform.graph.export import export_snapshot
from kgplatform.graph.store import open_store
from kgplatform.ingest.load import ingest_path
from kgplatform.learn.config import TrainConfig
from kgplatform.learn.evaluate import ranks, summarize
from kgplatform.learn.index import KnownTails, relation_ranges
from kgplatform.learn.inductive import extend_with_nodes
from kgplatform.learn.train import train_link_predictor
from kgplatform.pipeline.stages import featurize
from kgplatform.progress import StageClock
from kgplatform.snapshot import SPLIT_TRAIN, Snapshot
from kgplatform.text.finetune import FinetuneConfig

PRODUCT_TYPE = "Product"
QUERY_RELATIONS = ("HAS_BRAND", "IN_CATEGORY", "ALSO_BOUGHT")
REVEAL_ORDER = ("ALSO_VIEWED", "ALSO_BOUGHT", "IN_CATEGORY", "HAS_BRAND")
NN_KS = (10, 50)
TEXT_ONLY, ONE_EDGE = "model text-only", "model text+1 edge"
POPULARITY, CHANCE = "most-linked tail", "random ranking (expected)"


# ---- pure functions ---------------------------------------------------------------------------------------------

# Snapshot fields holding (head, rel, tail) rows of node ids besides the edges (``rejected`` only in newer versions).
ROW_FIELDS = ("excluded", "rejected")


def _map_rows(snapshot: Snapshot, fn) -> dict:
    """{field: fn(rows)} for every (h, r, t) row field this Snapshot has (empty ones are kept as they are)."""
    out = {}
    for name in ROW_FIELDS:
        rows = getattr(snapshot, name, None)
        if rows is not None:
            out[name] = fn(rows.view(-1, 3).long()) if rows.numel() else rows
    return out


def choose_held_out(snapshot: Snapshot, ratio: float = 0.1, seed: int = 0, node_type: str = PRODUCT_TYPE) -> Tensor:
    """Sorted node ids of a seeded ``ratio`` share (rounded, at least 1) of the nodes of ``node_type``."""
    if node_type not in snapshot.type_names:
        raise ValueError(f"no node of type {node_type!r} (types: {snapshot.type_names})")
    if not 0 < ratio < 1:
        raise ValueError(f"held-out ratio must be in (0, 1), got {ratio}")
    nodes = torch.nonzero(snapshot.node_type == snapshot.type_names.index(node_type)).flatten()
    count = max(1, round(ratio * len(nodes)))
    perm = torch.randperm(len(nodes), generator=torch.Generator().manual_seed(seed))
    return nodes[perm[:count]].sort().values


def remove_node_edges(snapshot: Snapshot, nodes: Tensor) -> tuple[Snapshot, Tensor]:
    """(snapshot without any edge touching ``nodes``, in any split; the removed (h, r, t) rows)."""
    held = torch.zeros(snapshot.num_nodes, dtype=torch.bool)
    held[nodes] = True
    touches = held[snapshot.edge_index[0]] | held[snapshot.edge_index[1]]
    removed = snapshot.triples()[touches]
    keep = ~touches
    rows = _map_rows(snapshot, lambda x: x[~(held[x[:, 0]] | held[x[:, 2]])])
    reduced = replace(snapshot, edge_index=snapshot.edge_index[:, keep], edge_type=snapshot.edge_type[keep],
                      edge_split=snapshot.edge_split[keep], **rows)
    return reduced, removed


def reorder_nodes(snapshot: Snapshot, order: Tensor) -> Snapshot:
    """The same graph with node ``order[i]`` as node i (order: a permutation of the node ids)."""
    pos = torch.empty_like(order)
    pos[order] = torch.arange(len(order))
    rows = _map_rows(snapshot, lambda x: torch.stack([pos[x[:, 0]], x[:, 1], pos[x[:, 2]]], dim=1))
    return replace(snapshot, node_ids=[snapshot.node_ids[i] for i in order.tolist()],
                   node_type=snapshot.node_type[order], node_text=[snapshot.node_text[i] for i in order.tolist()],
                   edge_index=pos[snapshot.edge_index], **rows)


def first_nodes(snapshot: Snapshot, count: int) -> Snapshot:
    """The subgraph of nodes 0 .. count-1; no edge may touch a later node."""
    if snapshot.edge_index.numel() and int(snapshot.edge_index.max()) >= count:
        raise ValueError("first_nodes: an edge touches a node that is cut off")
    rows = _map_rows(snapshot, lambda x: x[(x[:, 0] < count) & (x[:, 2] < count)])
    return replace(snapshot, node_ids=snapshot.node_ids[:count], node_type=snapshot.node_type[:count],
                   node_text=snapshot.node_text[:count], **rows)


def choose_revealed(removed: Tensor, held_out: Tensor, rel_names: list[str], seed: int = 0,
                    order: tuple[str, ...] = REVEAL_ORDER) -> tuple[Tensor, Tensor]:
    """One removed edge per held-out product that has any: (rows (h, r, t) [P, 3], the products [P]).

    Preference: the other end is not held out; then the relation's place in ``order`` (relations not listed come
    last); then a seeded uniform choice among the ties. Products come in held_out order; two held-out products may
    reveal the same edge between them.
    """
    held = set(held_out.tolist())
    rank_of = {rel_names.index(name): i for i, name in enumerate(order) if name in rel_names}
    by_node: dict[int, list[tuple[int, int, int, int, int]]] = {}
    for h, r, t in removed.tolist():
        for node, other in ((h, t), (t, h)):
            if node in held:
                by_node.setdefault(node, []).append((int(other in held), rank_of.get(r, len(order)), h, r, t))
    rng = random.Random(seed)
    out, nodes = [], []
    for node in held_out.tolist():
        edges = sorted(set(by_node.get(node, [])))
        if not edges:
            continue
        best = [e for e in edges if e[:2] == edges[0][:2]]
        out.append(rng.choice(best)[2:])
        nodes.append(node)
    return torch.tensor(out, dtype=torch.long).reshape(-1, 3), torch.tensor(nodes, dtype=torch.long)


def inductive_queries(removed: Tensor, held_out: Tensor, revealed: Tensor, rel_names: list[str],
                      relations: tuple[str, ...] = QUERY_RELATIONS) -> Tensor:
    """Removed edges (p, r, t) with p held out and r one of ``relations``, minus the revealed edges: [Q, 3]."""
    rel_ids = torch.tensor([rel_names.index(r) for r in relations if r in rel_names], dtype=torch.long)
    keep = torch.isin(removed[:, 0], held_out) & torch.isin(removed[:, 1], rel_ids)
    if len(revealed):
        n, r2 = int(removed.max()) + 1, len(rel_names)
        key = (removed[:, 0] * r2 + removed[:, 1]) * n + removed[:, 2]
        rkey = (revealed[:, 0] * r2 + revealed[:, 1]) * n + revealed[:, 2]
        keep &= ~torch.isin(key, rkey)
    return removed[keep]


class NeighbourScorer:
    """Text-only k-nearest-neighbour scorer with the ``score_tails`` interface of LinkPredictor.

    Score of tail t for (p, r) = sum of cos(p, n) over the k products n nearest to p (exact cosine over ``pool``)
    that have the edge (n, r, t) in ``triples``. Queries must use relations < R (tail prediction).
    """

    def __init__(self, text_x: Tensor, pool: Tensor, triples: Tensor, num_relations: int, k: int):
        self.x = torch.nn.functional.normalize(text_x.float(), dim=1)
        self.n, self.k, self.num_relations = text_x.size(0), k, num_relations
        self.pool = torch.zeros(self.n, dtype=torch.bool)
        self.pool[pool] = True
        self.by_rel = [triples[triples[:, 1] == r] for r in range(num_relations)]

    @torch.no_grad()
    def score_tails(self, z, heads: Tensor, rels: Tensor, tails: Tensor | None = None) -> Tensor:
        if tails is not None or bool((rels >= self.num_relations).any()):
            raise ValueError("NeighbourScorer ranks all tails of original relations only")
        sims = self.x[heads] @ self.x.t()
        sims[:, ~self.pool] = -torch.inf
        sims[torch.arange(len(heads)), heads] = -torch.inf
        top = sims.topk(min(self.k, int(self.pool.sum())), dim=1)
        weights = torch.zeros_like(sims).scatter_(1, top.indices, top.values.clamp(min=0))
        out = torch.zeros_like(sims)
        for r in rels.unique().tolist():
            m, edges = rels == r, self.by_rel[r]
            out[m] = torch.zeros_like(out[m]).index_add_(1, edges[:, 2], weights[m][:, edges[:, 0]])
        return out


class PopularityScorer:
    """Scores tail t of (p, r) by how many edges (., r, t) ``triples`` has: the best guess knowing nothing of p."""

    def __init__(self, triples: Tensor, num_nodes: int, num_relations: int):
        self.counts = torch.zeros(num_relations, num_nodes)
        self.counts.index_put_((triples[:, 1], triples[:, 2]), torch.ones(len(triples)), accumulate=True)

    def score_tails(self, z, heads: Tensor, rels: Tensor, tails: Tensor | None = None) -> Tensor:
        if tails is not None or bool((rels >= self.counts.size(0)).any()):
            raise ValueError("PopularityScorer ranks all tails of original relations only")
        return self.counts[rels]


def candidate_counts(queries: Tensor, known: KnownTails, allowed: Tensor) -> Tensor:
    """Per query, the number of ranked entities (the true tail plus the filtered, type-valid others)."""
    h, r, t = queries.unbind(1)
    cand = allowed[r].clone() & ~known.mask(h, r)
    cand[torch.arange(len(t)), t] = False
    return cand.sum(1) + 1


def chance_metrics(counts: Tensor) -> dict:
    """Expected metrics of a uniformly random order among ``counts[q]`` candidates (MRR: H_C / C)."""
    if len(counts) == 0:
        return summarize(torch.empty(0))
    c = counts.double()
    harmonic = torch.tensor([sum(1.0 / i for i in range(1, n + 1)) for n in counts.tolist()], dtype=torch.double)
    res = {"mrr": float((harmonic / c).mean())}
    res.update({f"hits@{k}": float((c.clamp(max=k) / c).mean()) for k in (1, 3, 10)})
    res["count"] = len(counts)
    return res


def metrics_by_relation(rk: Tensor, queries: Tensor, rel_names: list[str]) -> dict:
    return {"overall": summarize(rk),
            "per_relation": {name: summarize(rk[queries[:, 1] == i]) for i, name in enumerate(rel_names)
                             if bool((queries[:, 1] == i).any())}}


@dataclass
class InductiveSplit:
    """The full graph with the held-out products renumbered last, and what the model may see of it."""

    full: Snapshot  # every node and edge; held-out products are nodes num_kept .. N-1
    reduced: Snapshot  # same nodes, no edge touching a held-out product
    held_out: Tensor  # node ids in ``full`` (num_kept .. N-1)
    original_ids: Tensor  # original_ids[i]: node i's id in the exported snapshot
    removed: Tensor  # [K, 3] the removed edges
    revealed: Tensor  # [P, 3] the one edge per product (P <= M: those with any edge) of 'text + 1 edge'
    revealed_for: Tensor  # [P] the product each revealed edge was chosen for
    queries: Tensor  # [Q, 3]

    @property
    def num_kept(self) -> int:
        return self.full.num_nodes - len(self.held_out)

    @property
    def kept_graph(self) -> Snapshot:
        """What the 'extend' model and the fine-tuned encoder learn from: the kept nodes and their edges only."""
        return first_nodes(self.reduced, self.num_kept)


def make_split(snapshot: Snapshot, ratio: float = 0.1, seed: int = 0) -> InductiveSplit:
    held = choose_held_out(snapshot, ratio, seed)
    is_held = torch.zeros(snapshot.num_nodes, dtype=torch.bool)
    is_held[held] = True
    order = torch.cat([torch.nonzero(~is_held).flatten(), held])
    full = reorder_nodes(snapshot, order)
    held_r = torch.arange(snapshot.num_nodes - len(held), snapshot.num_nodes)
    reduced, removed = remove_node_edges(full, held_r)
    revealed, revealed_for = choose_revealed(removed, held_r, full.rel_names, seed)
    queries = inductive_queries(removed, held_r, revealed, full.rel_names)
    return InductiveSplit(full, reduced, held_r, order, removed, revealed, revealed_for, queries)


def evaluate_inductive(model, split: InductiveSplit, text_x: Tensor | None, ks: tuple[int, ...] = NN_KS,
                       batch_size: int = 512) -> dict:
    """Metrics of every setting on the split's queries (model over all N nodes of ``split.full``)."""
    full, reduced, q = split.full, split.reduced, split.queries
    known = KnownTails(full.triples(), full.num_nodes, full.num_relations)
    allowed = relation_ranges(reduced, (SPLIT_TRAIN,))
    evidence = reduced.triples()
    out = {}
    model.eval()
    with torch.no_grad():
        for name, mp in ((TEXT_ONLY, evidence), (ONE_EDGE, torch.cat([evidence, split.revealed.unique(dim=0)]))):
            z = model.encode(mp[:, [0, 2]].t(), mp[:, 1])
            out[name] = metrics_by_relation(ranks(model, z, q, known, allowed, batch_size), q, full.rel_names)
        if text_x is not None:
            pool = torch.nonzero(full.node_type == full.type_names.index(PRODUCT_TYPE)).flatten()
            pool = pool[pool < split.num_kept]
            for k in ks:
                scorer = NeighbourScorer(text_x, pool, evidence, full.num_relations, k)
                rk = ranks(scorer, None, q, known, allowed, batch_size)
                out[f"NN baseline k={k}"] = metrics_by_relation(rk, q, full.rel_names)
        rk = ranks(PopularityScorer(evidence, full.num_nodes, full.num_relations), None, q, known, allowed, batch_size)
        out[POPULARITY] = metrics_by_relation(rk, q, full.rel_names)
        counts = candidate_counts(q, known, allowed)
    chance = {"overall": chance_metrics(counts),
              "per_relation": {name: chance_metrics(counts[q[:, 1] == i]) for i, name in enumerate(full.rel_names)
                               if bool((q[:, 1] == i).any())}}
    out[CHANCE] = chance
    return out


# ---- runner -----------------------------------------------------------------------------------------------------

def train_and_rank(split: InductiveSplit, text_x: Tensor | None, cfg: TrainConfig, protocol: str,
                   ks: tuple[int, ...], progress=None, clock: StageClock | None = None, stage_suffix: str = ""):
    """Train on the reduced graph, bring the held-out products in (``protocol``), rank every setting:
    (train result, metrics). ``text_x``: node text vectors in ``split.full`` order."""
    kept = split.num_kept
    if protocol == "extend":
        result = train_link_predictor(split.kept_graph, text_x[:kept] if text_x is not None else None, cfg,
                                      progress=progress)
        model = extend_with_nodes(result.model, text_x[kept:] if text_x is not None else None,
                                  num_new=len(split.held_out), node_text=split.reduced.node_text)
    else:
        result = train_link_predictor(split.reduced, text_x, cfg, progress=progress, unseen_nodes=split.held_out)
        model = result.model
    if clock:
        clock.lap("train" + stage_suffix)
    metrics = evaluate_inductive(model, split, text_x, ks, cfg.eval_batch_size)
    if clock:
        clock.lap("evaluate" + stage_suffix)
    return result, metrics


def train_summary(result) -> dict:
    return {"best_valid_mrr": result.best_valid_mrr, "best_epoch": result.best_epoch, "epochs": len(result.history),
            "stopped_reason": result.stopped_reason, "seconds": round(result.train_seconds, 1)}


def run_inductive(settings, data: Path, *, time_budget: float = 120.0, held_out_ratio: float = 0.1, seed: int = 0,
                  unseen_node_ratio: float | None = None, train_cfg=None, ks: tuple[int, ...] = NN_KS,
                  protocol: str = "extend", graph: str | None = None, finetune_budget: float | None = None,
                  finetune_cfg: FinetuneConfig | None = None, progress=None) -> dict:
    """Ingest -> export -> hold out products -> train on the rest -> add them back -> rank (module docstring).

    The model is the default TrainConfig (the one the pipeline ships) with this time budget and seed, its inputs
    fixed to text+graph (no input race: new products are scored from their text, which is what this measures),
    unless ``train_cfg`` is given; ``unseen_node_ratio`` overrides that one setting.

    ``finetune_budget`` (seconds) or ``finetune_cfg`` (a text.finetune.FinetuneConfig; the budget overrides its
    time_budget_s): after the frozen encoder's run, the same split is ranked again with an encoder fine-tuned on
    the kept graph (bench/inductive_finetune.py). "settings" and "train" stay the frozen encoder's; the
    fine-tuned run adds "settings_finetuned", "train_finetuned" and "finetune".
    """
    if protocol not in ("extend", "mask"):
        raise ValueError(f"protocol must be 'extend' or 'mask', got {protocol!r}")
    cfg = train_cfg or TrainConfig(time_budget_s=time_budget, seed=seed, choose_inputs=False)
    if unseen_node_ratio is not None:
        cfg = TrainConfig(**{**cfg.model_dump(), "unseen_node_ratio": unseen_node_ratio})
    ft_cfg = finetune_settings(finetune_budget, finetune_cfg, seed)
    if ft_cfg is not None and not cfg.use_text:
        raise ValueError("fine-tuning the text encoder needs a model that reads text (use_text)")
    store = open_store(settings, graph=graph or graph_name_for(data))
    clock = StageClock()
    try:
        ingest_path(store, data, batch_size=settings.write_batch_size, progress=progress)
        clock.lap("ingest")
        snapshot = export_snapshot(store, page_size=settings.page_size, progress=progress)
        clock.lap("export")
    finally:
        store.close()
    text_all = featurize(snapshot, settings, cfg, progress)
    clock.lap("featurize")
    split = make_split(snapshot, held_out_ratio, seed)
    text_x = text_all[split.original_ids] if text_all is not None else None
    result, settings_metrics = train_and_rank(split, text_x, cfg, protocol, ks, progress, clock)
    report = {
        "dataset": Path(data).resolve().name, "protocol": protocol, "backend": store.backend, "graph": store.graph_name,
        "held_out": held_out_summary(split, snapshot, held_out_ratio, seed),
        "settings": settings_metrics, "train": train_summary(result),
        "time_budget_s": cfg.time_budget_s, "timings_s": clock.timings, "config": cfg.model_dump(),
        "description": __doc__.split("\n", 2)[2].strip(),
    }
    if ft_cfg is not None:
        report.update(finetuned_run(settings, split, cfg, ft_cfg, protocol, ks, progress, clock))
    return report


def finetuned_run(settings, split: InductiveSplit, cfg: TrainConfig, ft_cfg: FinetuneConfig, protocol: str,
                  ks: tuple[int, ...], progress=None, clock: StageClock | None = None) -> dict:
    """The same split ranked again, text encoded by an encoder fine-tuned on the kept graph: the report's
    "finetune", "settings_finetuned" and "train_finetuned"."""
    text_x, record = finetuned_text(settings, split.kept_graph, split.full, cfg, ft_cfg, progress, clock)
    result, metrics = train_and_rank(split, text_x, cfg, protocol, ks, progress, clock, "_finetuned")
    return {"finetune": record, "settings_finetuned": metrics, "train_finetuned": train_summary(result)}


def finetune_settings(budget: float | None, cfg: FinetuneConfig | None, seed: int) -> FinetuneConfig | None:
    """The FinetuneConfig of the run, or None when the encoder stays frozen."""
    if budget is None and cfg is None:
        return None
    cfg = cfg or FinetuneConfig(seed=seed)
    return cfg if budget is None else cfg.model_copy(update={"time_budget_s": budget})


def held_out_summary(split: InductiveSplit, snapshot: Snapshot, ratio: float, seed: int) -> dict:
    rel = split.full.rel_names
    return {"ratio": ratio, "seed": seed, "products": len(split.held_out),
            "products_total": int((snapshot.node_type == snapshot.type_names.index(PRODUCT_TYPE)).sum()),
            "removed_edges": len(split.removed), "revealed_edges": len(split.revealed.unique(dim=0)),
            "revealed_by_relation": {rel[i]: int((split.revealed[:, 1] == i).sum())
                                     for i in range(len(rel)) if bool((split.revealed[:, 1] == i).any())},
            "products_with_queries": int(split.queries[:, 0].unique().numel())}


def render_inductive_markdown(reports: list[dict]) -> str:
    """One table: dataset | relation | setting | [encoder |] MRR | Hits@1 | Hits@10 | queries (overall rows first).
    The encoder column appears when a report has a fine-tuned run: its rows follow the frozen ones."""
    with_encoder = any("settings_finetuned" in rep for rep in reports)
    encoder_head = " encoder |" if with_encoder else ""
    lines = [f"| dataset | relation | setting |{encoder_head} MRR | Hits@1 | Hits@10 | queries |",
             "|---|---|---|" + "---|" * (4 + with_encoder)]
    for rep in reports:
        lines += _table_rows(rep, with_encoder)
    notes = [_run_note(rep) for rep in reports] + [_finetune_note(rep) for rep in reports if "finetune" in rep]
    return "\n".join(lines + [""] + notes) + "\n"


# Settings whose ranking reads no text vector: the same under either encoder, shown once.
ENCODER_FREE = (POPULARITY, CHANCE)


def _encoder_blocks(rep: dict) -> list[tuple[str, dict]]:
    """(encoder label, settings' metrics): the frozen encoder's, then the fine-tuned one's when it ran."""
    blocks = [("frozen", rep["settings"])]
    if "settings_finetuned" in rep:
        tuned = {k: v for k, v in rep["settings_finetuned"].items() if k not in ENCODER_FREE}
        blocks.append((f"fine-tuned ({rep['finetune']['budget_s']:.0f} s)", tuned))
    return blocks


def _table_rows(rep: dict, with_encoder: bool) -> list[str]:
    blocks = _encoder_blocks(rep)
    relations = ["all"] + [r for r in QUERY_RELATIONS if r in rep["settings"][TEXT_ONLY]["per_relation"]]
    rows = []
    for relation in relations:
        for setting in rep["settings"]:
            for label, block in blocks:
                m = _relation_metrics(block.get(setting), relation)
                if m is None:
                    continue
                encoder = (" - |" if setting in ENCODER_FREE else f" {label} |") if with_encoder else ""
                rows.append(f"| {rep['dataset']} | {relation} | {setting} |{encoder} {m['mrr']:.3f} | "
                            f"{m['hits@1']:.3f} | {m['hits@10']:.3f} | {m['count']} |")
    return rows


def _relation_metrics(block: dict | None, relation: str) -> dict | None:
    if block is None:
        return None
    return block["overall"] if relation == "all" else block["per_relation"].get(relation)


def _run_note(rep: dict) -> str:
    h, t = rep["held_out"], rep["train"]
    return (f"{rep['dataset']}: {h['products']} of {h['products_total']} products held out "
            f"({h['products_with_queries']} with queries), {h['removed_edges']} edges removed, "
            f"revealed {h['revealed_by_relation']}; trained {t['seconds']:.0f} s ({t['epochs']} epochs, "
            f"{t['stopped_reason']}), best valid MRR of the reduced graph {t['best_valid_mrr'] or 0:.3f}, "
            f"protocol '{rep['protocol']}'.")


def _finetune_note(rep: dict) -> str:
    f, t, g = rep["finetune"], rep["train_finetuned"], rep["finetune"]["graph"]
    return (f"{rep['dataset']}, fine-tuned encoder: budget {f['budget_s']:.0f} s, trained {f['seconds']:.0f} s "
            f"({f['steps']} steps, stopped: {f['stopped']}) on the reduced graph only ({g['nodes']} nodes, "
            f"{g['train_edges']} train edges; no held-out product, its text or its edges); text-only valid MRR "
            f"{f['valid_before']['mrr']:.3f} -> {f['valid_after']['mrr']:.3f}; encoder {f['encoder']}; then the "
            f"same model retrained on the same split {t['seconds']:.0f} s ({t['epochs']} epochs, "
            f"{t['stopped_reason']}), best valid MRR {t['best_valid_mrr'] or 0:.3f}.")
