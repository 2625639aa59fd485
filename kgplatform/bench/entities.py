"""`kgp bench entities`: brands and categories recognised in product text, alone and re-scored by the model.

Protocol (one run per dataset; kgplatform/text/linking.py has the matcher):

1. Ingest the dataset through the real store and export the snapshot, as `kgp bench linkpred` does.
2. Queries: the distinct (head, rel) of the test split for HAS_BRAND and IN_CATEGORY. Train and valid edges are
   known (as they would be when the test edges are missing), so a proposal that is a train/valid edge is dropped
   before counting, as the model's candidates are. Precision = proposals that are test edges / proposals on the
   query heads; recall = test edges proposed / test edges. Proposals on other heads are counted apart
   ("other heads"): their truth is unknown to the split (a head that already has an edge of the relation, or none).
3. Text only: exact mentions (matcher built from the range nodes' names; shared names and unreliable names
   resolved with the known edges), then, for query heads without an exact mention, the fuzzy linker: nearest
   tail by MiniLM cosine of the head's text and the tail's name, kept at or above a cosine threshold chosen on the
   valid queries (train edges known) as the lowest reaching the target precision with the pipeline's
   confidence; no threshold = no fuzzy proposals.
4. Model only: the link predictor (pipeline.train_and_evaluate under the time budget), calibrated on validation
   (pipeline.calibrate); on the test queries, the top-k candidates at or above their group's threshold, as
   bench_classify.candidates_on_test scores them (z from train edges).
5. Combined: each text proposal re-scored by the model (its calibrated probability in its group). "text and
   model agree": kept when that probability reaches the group's write-back threshold. "text, model-checked":
   kept when it reaches a threshold chosen on the valid queries' text proposals (lowest reaching the target
   precision with the same confidence rule); no threshold = nothing kept. "model + text ... (union)": the
   model's selection (step 4, as (head, tail) pairs from learn.candidates.top_candidates over the train+valid
   graph) joined with the model-checked text proposals, or with all exact text proposals: what a write-back
   of both signals would hold.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from kgplatform.bench.classify import candidates_on_test
from kgplatform.bench.linkpred import graph_name_for
from kgplatform.graph.export import export_snapshot
from kgplatform.graph.store import open_store
from kgplatform.ingest.load import ingest_path
from kgplatform.learn.calibrate import threshold_for_precision
from kgplatform.learn.candidates import heads_with_edge, top_candidates
from kgplatform.learn.config import TrainConfig
from kgplatform.learn.index import train_edges
from kgplatform.learn.per_relation import group_ids, relation_of
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.stages import calibrate, featurize, train_and_evaluate
from kgplatform.progress import ProgressFn, StageClock
from kgplatform.settings import Settings
from kgplatform.snapshot import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID, Snapshot
from kgplatform.text import linking as el
from kgplatform.text.embeddings import encode_texts

RELATIONS = ("HAS_BRAND", "IN_CATEGORY")
SPLITS = {"valid": (SPLIT_VALID, (SPLIT_TRAIN,)), "test": (SPLIT_TEST, (SPLIT_TRAIN, SPLIT_VALID))}


def score(selected_hits: int, selected: int, truth: int) -> dict:
    return {"count": selected, "hits": selected_hits,
            "precision": round(selected_hits / selected, 4) if selected else None,
            "recall": round(selected_hits / truth, 4) if truth else None}


def query_heads(snapshot: Snapshot, rel_type: str, split: int) -> tuple[torch.Tensor, set[tuple[int, int]]]:
    rel = snapshot.rel_names.index(rel_type)
    rows = snapshot.triples(split)
    rows = rows[rows[:, 1] == rel]
    return torch.unique(rows[:, 0]), {(h, t) for h, _, t in rows.tolist()}


def held_out_pairs(snapshot: Snapshot, rel_type: str, known_splits: tuple[int, ...]) -> set[tuple[int, int]]:
    """(head, tail) of the relation's edges outside the known splits: the positives, as calibration counts them."""
    rel = snapshot.rel_names.index(rel_type)
    rows = snapshot.triples()
    rows = rows[~torch.isin(snapshot.edge_split, torch.tensor(known_splits)) & (snapshot.edge_type == rel)]
    return {(h, t) for h, _, t in rows.tolist()}


def text_proposals(snapshot: Snapshot, rel_type: str, split: int, known_splits: tuple[int, ...],
                   text_x: torch.Tensor, tails: torch.Tensor, tail_x: torch.Tensor) -> tuple[list, list, dict]:
    """(exact rows, fuzzy rows before any threshold, matcher info) on the query heads of ``split``."""
    known = el.known_rows(snapshot, known_splits)
    matcher = el.relation_matcher(snapshot, rel_type, known)
    heads, _ = query_heads(snapshot, rel_type, split)
    exact = el.drop_known(el.propose_text_links(snapshot, rel_type, matcher, heads), snapshot, known)
    matched = {r["head"] for r in exact}
    rest = torch.tensor([h for h in heads.tolist() if h not in matched], dtype=torch.long)
    rel = snapshot.rel_names.index(rel_type)
    blocked = {(h, t) for h, r, t in torch.cat([known, snapshot.excluded.view(-1, 3).long()]).tolist() if r == rel}
    fuzzy = el.fuzzy_links(snapshot, rel_type, rest, text_x[rest], tails, tail_x, float("-inf"), blocked)
    info = {"names": len(matcher.names), "dropped": matcher.dropped, "shared_names": matcher.ambiguous}
    return exact, fuzzy, info


def model_probabilities(model, z, snapshot: Snapshot, calibration, rows: list[dict],
                        known_splits: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(calibrated probability, the group's write-back threshold or NaN) of each (head, rel, tail) row."""
    if not rows:
        return np.empty(0), np.empty(0)
    rel_ids = torch.tensor([snapshot.rel_names.index(r["rel"]) for r in rows])
    heads = torch.tensor([r["head"] for r in rows])
    tails = torch.tensor([r["tail"] for r in rows]).unsqueeze(1)
    with torch.no_grad():
        scores = model.score_tails(z, heads, rel_ids, tails).squeeze(1).double().numpy()
    has_edge = heads_with_edge(el.known_rows(snapshot, known_splits), snapshot.num_nodes, snapshot.num_relations)
    groups = group_ids(rel_ids.numpy(), has_edge[rel_ids.numpy(), heads.numpy()])
    probs, thresholds = np.empty(len(rows)), np.full(len(rows), np.nan)
    for g in np.unique(groups).tolist():
        m = groups == g
        probs[m] = calibration.predict(g, scores[m])
        t = calibration.threshold(g)
        thresholds[m] = np.nan if t is None else t
    return probs, thresholds


def known_snapshot(snapshot: Snapshot, known_splits: tuple[int, ...]) -> Snapshot:
    """The snapshot with only the edges of ``known_splits``: what the graph holds when the others are missing."""
    keep = torch.isin(snapshot.edge_split, torch.tensor(known_splits))
    return replace(snapshot, edge_index=snapshot.edge_index[:, keep], edge_type=snapshot.edge_type[keep],
                   edge_split=snapshot.edge_split[keep])


def model_selection(model, z, known_view: Snapshot, calibration, rel_type: str, heads: torch.Tensor,
                    pcfg: PipelineConfig) -> set[tuple[int, int]]:
    """(head, tail) pairs the pipeline would write for these heads with only ``known_view``'s edges in the graph:
    learn.candidates.top_candidates (the write-time candidates), calibrated per group, at or above the group's
    threshold (pipeline.score_candidates' rule)."""
    rel = known_view.rel_names.index(rel_type)
    h, t, s = top_candidates(model, z, known_view, rel, heads, k=pcfg.top_k,
                             type_constrained=pcfg.train.type_constrained)
    has_edge = heads_with_edge(known_view.triples(), known_view.num_nodes, known_view.num_relations)
    groups = group_ids(np.full(len(h), rel), has_edge[rel, h.numpy()])
    out = set()
    for g in np.unique(groups).tolist():
        m = groups == g
        threshold = calibration.threshold(g)
        if threshold is None:
            continue
        probs = calibration.predict(g, s[torch.from_numpy(m)].double().numpy())
        mt = torch.from_numpy(m)
        out |= {(a, b) for a, b, p in zip(h[mt].tolist(), t[mt].tolist(), probs.tolist()) if p >= threshold}
    return out


def run_entities(settings: Settings, data: Path, *, time_budget: float = 120.0, progress: ProgressFn | None = None,
                 train: bool = True) -> dict:
    cfg = TrainConfig(time_budget_s=time_budget, choose_inputs=False)  # measures the text model
    # the model's raw score against text: this bench compares the two signals, so they are not combined
    pcfg = PipelineConfig(train=cfg, combine_evidence=False, calibration="isotonic", precision_confidence=0.75)
    store = open_store(settings, graph=graph_name_for(data))
    clock = StageClock()
    ingest_path(store, data, batch_size=settings.write_batch_size, progress=progress)
    snapshot = export_snapshot(store, page_size=settings.page_size, progress=progress)
    clock.lap("ingest+export")
    text_x = featurize(snapshot, settings, cfg, progress)
    rels = [r for r in RELATIONS if r in snapshot.rel_names]
    per_rel: dict[str, dict] = {}
    saved: dict[str, dict] = {}
    for rel_type in rels:
        _, tails = el.relation_heads_tails(snapshot, rel_type)
        names = el.tail_names(snapshot, tails)
        tail_x = encode_texts([names[t] for t in tails.tolist()], settings.embed_model, settings.cache_dir)
        out = {}
        for split_name, (split, known_splits) in SPLITS.items():
            exact, fuzzy, info = text_proposals(snapshot, rel_type, split, known_splits, text_x, tails, tail_x)
            out[split_name] = (exact, fuzzy, info)
        v_exact, v_fuzzy, _ = out["valid"]
        v_pos = held_out_pairs(snapshot, rel_type, SPLITS["valid"][1])
        cos = np.array([r["cosine"] for r in v_fuzzy])
        lab = np.array([(r["head"], r["tail"]) in v_pos for r in v_fuzzy], dtype=float)
        fuzzy_threshold = threshold_for_precision(cos, lab, pcfg.target_precision, pcfg.precision_confidence)
        t_exact, t_fuzzy_all, info = out["test"]
        t_fuzzy = [r for r in t_fuzzy_all if fuzzy_threshold is not None and r["cosine"] >= fuzzy_threshold]
        heads, truth = query_heads(snapshot, rel_type, SPLIT_TEST)

        def sc(rows, truth=truth):
            return score(sum((r["head"], r["tail"]) in truth for r in rows), len(rows), len(truth))

        # proposals on heads that are not test queries: counted apart (their truth is unknown to the split)
        known = el.known_rows(snapshot, SPLITS["test"][1])
        matcher = el.relation_matcher(snapshot, rel_type, known)
        others = el.drop_known(el.propose_text_links(snapshot, rel_type, matcher), snapshot, known)
        qset = set(heads.tolist())
        rel = snapshot.rel_names.index(rel_type)
        has = heads_with_edge(known, snapshot.num_nodes, snapshot.num_relations)[rel]
        others = [r for r in others if r["head"] not in qset]
        per_rel[rel_type] = {
            "test_queries": len(heads), "test_edges": len(truth), "matcher": info,
            "fuzzy_threshold": fuzzy_threshold,
            "fuzzy_valid": {"candidates": len(v_fuzzy), "positives": int(lab.sum())},
            "valid_exact": score(sum((r["head"], r["tail"]) in v_pos for r in v_exact), len(v_exact),
                                 len(query_heads(snapshot, rel_type, SPLIT_VALID)[1])),
            "text_exact": sc(t_exact), "text_fuzzy": sc(t_fuzzy), "text": sc(t_exact + t_fuzzy),
            "other_heads": {"proposals": len(others),
                            "head_has_one": sum(bool(has[r["head"]]) for r in others),
                            "head_has_none": sum(not has[r["head"]] for r in others)},
            "examples": [{k: (snapshot.node_ids[v] if k in ("head", "tail") else v) for k, v in r.items()}
                         for r in (t_exact + t_fuzzy)[:5]],
        }
        saved[rel_type] = {"valid": v_exact + [r for r in v_fuzzy if fuzzy_threshold is not None
                                                and r["cosine"] >= fuzzy_threshold],
                           "test": t_exact + t_fuzzy, "exact": t_exact, "truth": truth, "v_pos": v_pos}
    clock.lap("text")
    model_info = None
    if train:
        result, test_metrics = train_and_evaluate(snapshot, text_x, cfg, progress)
        clock.lap("train+evaluate")
        model = result.model
        model.eval()
        calibration, cal_report, _ = calibrate(model, snapshot, pcfg)
        with torch.no_grad():
            z = model.encode(*train_edges(snapshot))
        scores, labels, groups = candidates_on_test(model, z, snapshot, calibration, k=pcfg.top_k,
                                                    type_constrained=cfg.type_constrained)
        keep = np.zeros(len(scores), dtype=bool)
        for g in np.unique(groups).tolist():
            m = groups == g
            t = calibration.threshold(g)
            if t is not None:
                keep[m] = calibration.predict(g, scores[m]) >= t
        known_view = known_snapshot(snapshot, SPLITS["test"][1])
        for rel_type in rels:
            rel = snapshot.rel_names.index(rel_type)
            m = keep & (relation_of(groups) == rel)
            truth = saved[rel_type]["truth"]
            per_rel[rel_type]["model"] = score(int(labels[m].sum()), int(m.sum()), len(truth))
            selected = model_selection(model, z, known_view, calibration, rel_type,
                                       query_heads(snapshot, rel_type, SPLIT_TEST)[0], pcfg)
            # combined: text proposals re-scored by the model
            vp, vthr = model_probabilities(model, z, snapshot, calibration, saved[rel_type]["valid"],
                                           SPLITS["valid"][1])
            vlab = np.array([(r["head"], r["tail"]) in saved[rel_type]["v_pos"] for r in saved[rel_type]["valid"]],
                            dtype=float)
            tau = threshold_for_precision(vp, vlab, pcfg.target_precision, pcfg.precision_confidence)
            rows = saved[rel_type]["test"]
            tp, tthr = model_probabilities(model, z, snapshot, calibration, rows, SPLITS["test"][1])
            agree = [r for r, p, t in zip(rows, tp, tthr) if not np.isnan(t) and p >= t]
            checked = [r for r, p in zip(rows, tp) if tau is not None and p >= tau]
            hits = lambda rs, truth=truth: sum((r["head"], r["tail"]) in truth for r in rs)  # noqa: E731
            per_rel[rel_type]["combined_agree"] = score(hits(agree), len(agree), len(truth))
            per_rel[rel_type]["combined_checked"] = score(hits(checked), len(checked), len(truth)) | {
                "threshold": tau, "valid_candidates": len(vp), "valid_positives": int(vlab.sum())}
            for key, extra in (("model_plus_checked", checked), ("model_plus_exact", saved[rel_type]["exact"])):
                union = selected | {(r["head"], r["tail"]) for r in extra}
                per_rel[rel_type][key] = score(sum(p in truth for p in union), len(union), len(truth))
            # the same selection as bench_classify's candidates (a check that model_selection mirrors it)
            per_rel[rel_type]["model_selection_check"] = {
                "selected": len(selected), "hits": sum(p in truth for p in selected)}
        model_info = {"test_mrr": test_metrics.get("mrr"), "stopped_reason": result.stopped_reason,
                      "best_valid_mrr": result.best_valid_mrr, "calibration": cal_report.get("summary")}
        clock.lap("calibrate+score")
    return {
        "dataset": Path(data).resolve().name, "backend": store.backend,
        "counts": {"entities": snapshot.num_nodes, "edges": int(snapshot.edge_index.shape[1])},
        "relations": per_rel, "model": model_info, "time_budget_s": time_budget,
        "target_precision": pcfg.target_precision, "precision_confidence": pcfg.precision_confidence,
        "timings_s": clock.timings, "machine": {"cpus": os.cpu_count(), "load_avg_5min": os.getloadavg()[1]},
        "protocol": __doc__.split("Protocol (one run per dataset; kgplatform/text/linking.py has the matcher):")[1]
        .strip(),
    }


def _cell(s: dict | None) -> tuple[str, str, str]:
    if not s:
        return "n/a", "n/a", "n/a"
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    return fmt(s["precision"]), fmt(s["recall"]), f"{s['hits']}/{s['count']}"


def render_entities_markdown(reports: list[dict]) -> str:
    lines = ["# Entity recognition and linking from product text", "",
             "Regenerate with `kgp bench entities --data ../shared/datasets/<name> --json --out "
             "bench/results/entities-<name>.json`. Queries: the (head, relation) pairs of the test split; train and "
             "valid edges known and never counted; precision = proposals that are test edges / proposals on those "
             "heads, recall = test edges proposed / test edges. Thresholds (fuzzy cosine, model re-scoring) are "
             "chosen on the valid split at target precision 0.9 with the pipeline's 0.75-confidence bound; "
             "'–' = none selected. Full protocol in kgplatform/bench/entities.py.", "",
             "| dataset | relation | test edges | setting | precision | recall | hits / proposed |",
             "|---|---|---|---|---|---|---|"]
    settings = (("text: exact mentions", "text_exact"), ("text: fuzzy (embedding)", "text_fuzzy"),
                ("text only (exact + fuzzy)", "text"), ("model only (pipeline selection)", "model"),
                ("combined: text and model agree", "combined_agree"),
                ("combined: text, model-checked", "combined_checked"),
                ("model + text model-checked (union)", "model_plus_checked"),
                ("model + text exact (union)", "model_plus_exact"))
    for rep in reports:
        for rel, r in rep["relations"].items():
            for label, key in settings:
                p, rc, n = _cell(r.get(key))
                lines.append(f"| {rep['dataset']} | {rel} | {r['test_edges']} | {label} | {p} | {rc} | {n} |")
    lines += ["", "## Matcher and thresholds", ""]
    for rep in reports:
        for rel, r in rep["relations"].items():
            m, o = r["matcher"], r["other_heads"]
            thr = r["fuzzy_threshold"]
            chk = (r.get("combined_checked") or {}).get("threshold")
            lines.append(f"- {rep['dataset']} {rel}: {m['names']} names matched, dropped {m['dropped'] or 'none'}, "
                         f"{m['shared_names']} shared names; fuzzy cosine threshold "
                         f"{'none' if thr is None else f'{thr:.3f}'} (valid: {r['fuzzy_valid']['candidates']} "
                         f"nearest-name candidates, {r['fuzzy_valid']['positives']} right); model-check threshold "
                         f"{'none' if chk is None else f'{chk:.3f}'}; exact proposals on non-query heads "
                         f"{o['proposals']} ({o['head_has_one']} whose head already has one, "
                         f"{o['head_has_none']} whose head has none).")
        if rep.get("model"):
            mi = rep["model"]
            lines.append(f"- {rep['dataset']} model: test MRR {mi['test_mrr']:.3f}, stopped {mi['stopped_reason']}, "
                         f"budget {rep['time_budget_s']:.0f} s; load average {rep['machine']['load_avg_5min']:.1f}.")
    return "\n".join(lines) + "\n"
