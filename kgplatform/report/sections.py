"""The sections of report.html (see build.py): HTML helpers and one function per section.

Plots are PNGs drawn on matplotlib's Agg canvas (no pyplot global state, no display needed) and inlined as base64.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kgplatform.report.figures import at_least, ece_of, precision_curve, reliability_bins

# ---- HTML pieces -----------------------------------------------------------------------------------------------

def esc(value) -> str:
    return html.escape(str(value))


def fmt(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else esc(value)


def table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def image(fig: Figure, alt: str) -> str:
    FigureCanvasAgg(fig)  # attach the Agg canvas: rendering never depends on a display or pyplot's backend
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def missing(what: str) -> str:
    return f'<p class="missing">{esc(what)}</p>'


# ---- sections ---------------------------------------------------------------------------------------------------

def learning_curves(history: list[dict], best_epoch, members: list[dict] | None = None,
                    choice: dict | None = None) -> str:
    """Loss and validation MRR per epoch; an ensemble (entries with 'member') or an input race (entries with
    'variant') gets one line per model, with the best epochs marked and the race's choice explained."""
    if not history:
        return missing("no training history (the train step did not run)")
    fig = Figure(figsize=(10, 3.4))
    loss_ax, mrr_ax = fig.subplots(1, 2, sharex=True)  # validation runs every few epochs: same epoch axis
    def key(h: dict):
        return h.get("variant", h.get("member", 0))
    groups = list(dict.fromkeys(key(h) for h in history))
    for k in groups:
        rows = [h for h in history if key(h) == k]
        label = (f"member {k}" if isinstance(k, int) else str(k)) if len(groups) > 1 else None
        loss_ax.plot([h["epoch"] for h in rows], [h["loss"] for h in rows], marker=".", label=label)
        evals = [h for h in rows if h.get("valid_mrr") is not None]
        mrr_ax.plot([h["epoch"] for h in evals], [h["valid_mrr"] for h in evals], marker="o", label=label)
    loss_ax.set(xlabel="epoch", ylabel="training loss", title="loss per epoch")
    bests = [m["best_epoch"] for m in members] if members else [best_epoch] if best_epoch is not None else []
    for epoch in bests:
        mrr_ax.axvline(epoch, color="grey", ls=":", label=f"best epoch {epoch}" if len(bests) == 1 else None)
    if bests or len(groups) > 1:
        mrr_ax.legend()
    mrr_ax.set(xlabel="epoch", ylabel="filtered MRR", title="validation filtered MRR")
    rates = [h["lr"] for h in history if "lr" in h]
    decay = f" Learning rate {rates[0]:.3g} to {min(rates):.3g} (lowered on plateaus)." if rates and \
        min(rates) != rates[0] else ""
    ensemble = f" An ensemble of {len(groups)} models, merged into one that scores their mean." \
        if members and len(groups) > 1 else ""
    raced = f" Inputs chosen on validation: {choice['chosen']} ({choice['inputs']}), {choice['reason']}." \
        if choice else ""
    return image(fig, "learning curves") + (f"<p>{len(history)} epochs in {history[-1]['seconds']:.1f} s."
                                            f"{decay}{ensemble}{esc(raced)}</p>")


def per_relation(test: dict) -> str:
    rels = test.get("per_relation") or {}
    if not rels:
        return missing("no test split: nothing to rank")
    names, keys = sorted(rels), ("mrr", "hits@1", "hits@10")
    fig = Figure(figsize=(max(6.0, 0.9 * len(names) + 2), 3.6))
    ax = fig.subplots()
    x = np.arange(len(names))
    for i, key in enumerate(keys):
        ax.bar(x + (i - 1) * 0.27, [rels[n][key] for n in names], width=0.27, label=key)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set(ylim=(0, 1), ylabel="filtered, test", title="test metrics per relation")
    ax.legend()
    rows = [[n, rels[n]["count"], *(rels[n][k] for k in keys)] for n in names]
    rows.append(["all", test.get("count"), *(test.get(k) for k in keys)])
    return image(fig, "per-relation metrics") + table(["relation", "queries", "MRR", "Hits@1", "Hits@10"], rows)


def reliability(points: dict | None) -> str:
    if points is None or len(points["probability"]) == 0:
        return missing("no validation candidates saved (calibration_points.npz)")
    bins = reliability_bins(points["probability"], points["label"])
    used = [b for b in bins if b["count"]]
    fig = Figure(figsize=(5.2, 4.4))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", ls="--", label="perfect calibration")
    ax.plot([b["mean_p"] for b in used], [b["rate"] for b in used], marker="o", label="observed")
    for b in used:
        ax.annotate(str(b["count"]), (b["mean_p"], b["rate"]), textcoords="offset points",
                    xytext=(-14 if b["mean_p"] > 0.9 else 4, -10), fontsize=8)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="calibrated probability (bin mean)", ylabel="observed positive rate",
           title="reliability (labels: candidates per bin)")
    ax.legend(loc="upper left")
    rows = [[f"{b['lo']:.1f}–{b['hi']:.1f}", b["count"], b["mean_p"], b["rate"]] for b in bins]
    n = len(points["probability"])
    return (image(fig, "reliability diagram") + f"<p>{n} validation candidates, ECE {ece_of(bins):.4f} "
            "(10 equal-width bins).</p>" + table(["probability", "candidates", "mean p", "observed rate"], rows))


def precision_threshold(points: dict | None, calibration: dict) -> str:
    groups, target = calibration.get("per_group") or {}, calibration.get("target_precision")
    if points is None or not groups:
        return missing("no calibration data")
    fig = Figure(figsize=(7, 4.4))
    ax = fig.subplots()
    rows = []
    for name, g in sorted(groups.items()):
        m = points["group"] == name
        t, precision, n = precision_curve(points["probability"][m], points["label"][m])
        chosen = g.get("threshold")
        at = int(np.searchsorted(-t, -chosen, side="right")) - 1 if chosen is not None and len(t) else -1
        rows.append([name, g["candidates"], g["positives"], "nothing written" if chosen is None else chosen,
                     precision[at] if at >= 0 else None, int(n[at]) if at >= 0 else 0])
        if chosen is None:
            continue  # no threshold: the group writes nothing, so its curve would only clutter the plot
        line, = ax.step(t, precision, where="post", label=name)
        ax.plot([chosen], [precision[at]], marker="o", ms=9, mfc="none", color=line.get_color())
    if target is not None:
        ax.axhline(target, color="grey", ls="--", label=f"target precision {target}")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="threshold t", ylabel="precision of p ≥ t",
           title="validation precision vs threshold (circles: chosen thresholds)")
    ax.legend(fontsize=8, loc="lower right")
    summary = calibration.get("summary") or {}
    scope = ""
    if summary.get("threshold_scope") == "pooled":
        threshold, precision = summary.get("pooled_threshold"), summary.get("selected_precision")
        scope = (f"<p>One pooled threshold ({'none' if threshold is None else f'{threshold:.3f}'}) over every group "
                 f"with its own calibrator: their union selects {summary.get('selected')} validation candidates"
                 f"{'' if precision is None else f' at precision {precision:.3f}'}; the per-group precision below "
                 "varies around it.</p>")
    return scope + image(fig, "precision vs threshold") + table(
        ["group", "candidates", "positives", "threshold", "precision at threshold", "selected"], rows)


def edges_at_threshold(histogram: dict | None, written: dict | None, max_edges) -> str:
    if not histogram:
        return missing("no write-time candidate summary (score step histograms)")
    fig = Figure(figsize=(7, 4.4))
    ax = fig.subplots()
    per_rel: dict = {}
    for name, g in sorted(histogram.items()):
        bins = len(g["counts"])
        chosen = g["threshold"] is not None  # groups without a threshold write nothing: drawn faint
        line, = ax.step(np.arange(bins) / bins, at_least(g["counts"]), where="post", label=name,
                        lw=1.8 if chosen else 0.8, alpha=1.0 if chosen else 0.5, ls="-" if chosen else "--")
        if chosen:
            ax.plot([g["threshold"]], [g["at_threshold"]], marker="o", ms=9, mfc="none", color=line.get_color())
        r = per_rel.setdefault(g["relation"], {"candidates": 0, "chosen": 0, "fixed": np.zeros(3, int), "t": []})
        r["candidates"] += g["candidates"]
        r["chosen"] += g["at_threshold"]
        r["fixed"] += at_least(g["counts"])[[bins // 2, bins * 7 // 10, bins * 9 // 10]]
        r["t"].append(f"{name.split('|')[1]}: " + ("nothing written" if g["threshold"] is None
                                                    else f"{g['threshold']:.3f}"))
    ax.set_yscale("symlog", linthresh=1)
    ax.set(xlim=(0, 1), xlabel="threshold t", ylabel="candidates with p ≥ t",
           title="write-time candidates at or above each threshold (circles: chosen)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: it would hide the circles
    rows = [[rel, r["candidates"], *r["fixed"].tolist(), "; ".join(r["t"]), r["chosen"],
             (written or {}).get(rel, 0)] for rel, r in sorted(per_rel.items())]
    note = (f"<p>At most {esc(max_edges)} edges are written per run: when the chosen thresholds select more, "
            "the most probable are kept.</p>") if max_edges is not None else ""
    return image(fig, "edges vs threshold") + note + table(
        ["relation", "candidates", "p ≥ 0.5", "p ≥ 0.7", "p ≥ 0.9", "chosen thresholds", "at chosen", "written"],
        rows)


def header(data: dict) -> str:
    cfg, steps = data.get("config") or {}, data.get("steps") or {}
    score = [s["seconds"] for k, s in steps.items() if k.startswith("score")]
    timings = [[k, steps[k]["seconds"]] for k in ("export", "featurize", "train") if k in steps]
    timings += [[f"score ({len(score)} shards)", sum(score)]] if score else []
    timings += [["writeback", steps["writeback"]["seconds"]]] if "writeback" in steps else []
    written = data.get("written") or {}
    facts = [["run id", data.get("run_id")], ["model", cfg.get("model")],
             ["graph", f"{cfg.get('graph')} ({cfg.get('backend')})"],
             ["snapshot hash", (steps.get("export") or {}).get("snapshot_hash")],
             ["target precision", cfg.get("target_precision")], ["max edges", cfg.get("max_edges")]]
    return (table(["", ""], facts) + "<h3>Seconds per step</h3>" + table(["step", "seconds"], timings) +
            "<h3>Edges written per type</h3>" +
            table(["type", "edges"], [*sorted(written.items()), ["total", sum(written.values())]]))


CSS = ("body{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}table{border-collapse:collapse;"
       "margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child{text-align:left}"
       ".missing{color:#a33}img{max-width:100%}")
