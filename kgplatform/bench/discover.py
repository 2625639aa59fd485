"""`kgp bench discover`: brands the graph does not have, found in product text by the entity tagger (text/ner.py).

Protocol (one run per dataset):

1. Ingest the dataset through the real store and export the snapshot, as `kgp bench linkpred` does.
2. Hide a seeded share (20 %) of the tail nodes of the relation (the brands of HAS_BRAND): their edges are
   unknown and their names erased, as if the graph never had them.
3. Distant supervision from what is left: products whose text names their own (known) brand teach the tagger
   (budgeted training, early-stopped on held-out products' span F1).
4. Tag every product's text; spans naming no known brand become proposals, grouped by normalised name.
5. Score against the hidden brands: a proposal is right when its normalised name is a hidden brand's; precision
   over all proposals, rediscovery over the hidden brands and over those "reachable" (named in the text of at
   least one of their own products, the ceiling for any text method). For right proposals, the share of their
   products that really are the brand's (the links a reviewer would accept with the node).
6. Baseline: the gazetteer (entity linking's matcher over the known names) proposes no new name, by construction:
   it is run anyway and reported.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import torch

from kgplatform.bench.linkpred import graph_name_for
from kgplatform.graph.export import export_snapshot
from kgplatform.graph.store import open_store
from kgplatform.ingest.load import ingest_path
from kgplatform.progress import ProgressFn
from kgplatform.settings import Settings
from kgplatform.snapshot import SPLIT_NONE, SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID, Snapshot
from kgplatform.text.linking import find_mentions, relation_heads_tails, relation_matcher
from kgplatform.text.ner import TaggerConfig, distant_examples, predict_spans, propose_entities, train_tagger
from kgplatform.textnorm import name_of, normalize

HIDDEN = 9  # an edge split code of this benchmark's view only: an edge of a hidden node


def hide_nodes(snapshot: Snapshot, hidden: torch.Tensor) -> Snapshot:
    """The graph without ``hidden``: their edges in no known split, their names erased."""
    touching = torch.isin(snapshot.edge_index[0], hidden) | torch.isin(snapshot.edge_index[1], hidden)
    text = list(snapshot.node_text)
    for i in hidden.tolist():
        text[i] = ""
    return replace(snapshot, node_text=text, edge_split=snapshot.edge_split.masked_fill(touching, HIDDEN))


def run_discover(settings: Settings, data: Path, *, relation: str = "HAS_BRAND", hide: float = 0.2, seed: int = 0,
                 cfg: TaggerConfig | None = None, progress: ProgressFn | None = None) -> dict:
    cfg = cfg or TaggerConfig(seed=seed)
    store = open_store(settings, graph=graph_name_for(data))
    try:
        ingest_path(store, data, batch_size=settings.write_batch_size, progress=progress)
        snapshot = export_snapshot(store, page_size=settings.page_size, progress=progress)
    finally:
        store.close()
    if relation not in snapshot.rel_names:
        raise ValueError(f"bench discover: {data} has no {relation!r} relationships; its types are "
                         f"{', '.join(snapshot.rel_names)}")
    rel = snapshot.rel_names.index(relation)
    rows = snapshot.triples()[snapshot.edge_type == rel]
    entities = torch.unique(rows[:, 2])
    order = torch.randperm(len(entities), generator=torch.Generator().manual_seed(seed))
    hidden = entities[order[:max(1, round(hide * len(entities)))]].sort().values
    view = hide_nodes(snapshot, hidden)
    known = (SPLIT_NONE, SPLIT_TRAIN, SPLIT_VALID, SPLIT_TEST)  # every edge not hidden

    examples, types = distant_examples(view, [relation], known_splits=known)
    result = train_tagger(settings.embed_model, examples, types, cfg, progress)
    heads, _ = relation_heads_tails(snapshot, relation)
    heads = heads.tolist()
    spans = predict_spans(result.model, result.tokenizer, [view.node_text[h] for h in heads], len(types),
                          cfg.max_seq_length)

    truth = {normalize(name_of(snapshot.node_text[b])): b for b in hidden.tolist()}
    products = {b: set(rows[rows[:, 2] == b, 0].tolist()) for b in hidden.tolist()}
    reachable = {b for key, b in truth.items() if key and any(
        f" {key} " in f" {normalize(snapshot.node_text[p])} " for p in products[b])}
    report = {"dataset": Path(data).resolve().name, "relation": relation, "entity_type": types,
              "entities": len(entities), "hidden": len(hidden), "reachable": len(reachable),
              "distant_examples": len(examples), "tagger": {
                  "valid_before": result.before, "valid_best": result.best, "steps": result.steps,
                  "seconds": round(result.seconds, 1), "stopped": result.stopped, "config": cfg.model_dump()},
              "baseline_gazetteer": gazetteer_new_names(view, relation, heads, truth), "cpus": os.cpu_count()}
    for min_heads in (1, 2):
        proposals = propose_entities(view, heads, spans, types, min_heads=min_heads)
        right = [p for p in proposals if p.key in truth]
        found = {truth[p.key] for p in right}
        linked = sum(len(set(p.heads) & products[truth[p.key]]) for p in right)
        report[f"min_heads_{min_heads}"] = {
            "proposals": len(proposals), "right": len(right),
            "precision": len(right) / len(proposals) if proposals else None,
            "rediscovered": len(found), "rediscovered_share": len(found) / len(hidden),
            "of_reachable": len(found & reachable) / len(reachable) if reachable else None,
            "links_proposed": sum(len(p.heads) for p in right), "links_right": linked,
            "examples_right": [p.name for p in right[:10]],
            "examples_wrong": [p.name for p in proposals if p.key not in truth][:10]}
    return report


def gazetteer_new_names(view: Snapshot, relation: str, heads: list[int], truth: dict[str, int]) -> dict:
    """What entity linking finds in the same texts: mentions of known names only, so no hidden brand."""
    matcher = relation_matcher(view, relation, view.triples()[view.edge_split != HIDDEN])
    names = {normalize(m.span) for h in heads for m in find_mentions(matcher, view.node_text[h])}
    return {"names_found": len(names), "hidden_found": len(names & set(truth))}


def render_discover_markdown(reports: list[dict]) -> str:
    lines = ["# New entities from text: hidden brands rediscovered", "",
             "Regenerate with `kgp bench discover --data ../shared/datasets/DATASET --out "
             "bench/results/discover-DATASET.json --md bench/results/discover.md`. Protocol in "
             "kgplatform/bench/discover.py: 20 % of the brands hidden with their edges and names; the tagger "
             "learns from products that name their own known brand; proposals are spans naming no known brand.", "",
             "| dataset | hidden brands | reachable | method | proposals | right | precision | rediscovered | "
             "of reachable | product links right |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in reports:
        g = r["baseline_gazetteer"]
        lines.append(f"| {r['dataset']} | {r['hidden']} | {r['reachable']} | gazetteer (entity linking) | 0 | "
                     f"{g['hidden_found']} | – | 0 | 0.000 | – |")
        for min_heads in (1, 2):
            m = r[f"min_heads_{min_heads}"]
            precision = "–" if m["precision"] is None else f"{m['precision']:.3f}"
            reach = "–" if m["of_reachable"] is None else f"{m['of_reachable']:.3f}"
            lines.append(f"| {r['dataset']} | {r['hidden']} | {r['reachable']} | tagger, named by ≥ {min_heads} "
                         f"product(s) | {m['proposals']} | {m['right']} | {precision} | {m['rediscovered']} | "
                         f"{reach} | {m['links_right']} / {m['links_proposed']} |")
    lines += ["", "Tagger: " + "; ".join(
        f"{r['dataset']}: {r['distant_examples']} distant examples, {r['tagger']['steps']} steps in "
        f"{r['tagger']['seconds']:.0f} s, held-out span F1 {r['tagger']['valid_before']['f1']:.3f} -> "
        f"{r['tagger']['valid_best']['f1']:.3f}" for r in reports) + ".", ""]
    return "\n".join(lines)
