"""`kgp bench yield`: how many correct edges the default configuration writes, against the figures before.

Reads `kgp bench linkpred` reports: each one's ``calibration_test`` block is the write decision measured on test
(bench/classify.py: the top-k candidates of each test (head, relation), train and valid edges blocked, the
validation-fitted thresholds applied). Pure: reports in, the yield table out.

- written: candidates at or above their group's threshold; correct: those that are test edges;
- recall_at_target: correct over the test edges among the candidates (what any threshold could recover);
- the table is bench/results/yield.json: {dataset: {"default": {...}, "before": {...}}}.
"""

from __future__ import annotations

TARGET_PRECISION = 0.9


def yield_entry(calibration_test: dict) -> dict:
    def figures(block: dict) -> dict:
        written, correct, positives = block["selected"], block["selected_true"], block["positives"]
        return {"written": written, "correct": correct,
                "precision": correct / written if written else None,
                "recall_at_target": correct / positives if positives else None, "positives": positives}

    out = figures(calibration_test)
    out["per_relation"] = {rel: figures(block) for rel, block in sorted(calibration_test["per_relation"].items())}
    return out


def yield_table(default_reports: list[dict], before_reports: dict[str, dict]) -> dict:
    """{dataset: {"default": ..., "before": ...}}; before_reports maps a dataset to its earlier linkpred report."""
    table = {}
    for report in default_reports:
        dataset = report["dataset"]
        choice = report.get("input_choice") or {}
        row = {"default": yield_entry(report["calibration_test"]) | {
            "test_mrr": report["test"]["mrr"], "time_budget_s": report["time_budget_s"],
            "config": "TrainConfig and PipelineConfig defaults, no per-dataset file",
            "inputs": choice.get("chosen"), "inputs_reason": choice.get("reason"),
            "ablations": {name: a["test"]["mrr"] for name, a in (report.get("ablations") or {}).items()}}}
        before = before_reports.get(dataset)
        if before is not None and "calibration_test" in before:
            row["before"] = yield_entry(before["calibration_test"]) | {
                "test_mrr": before["test"]["mrr"], "time_budget_s": before["time_budget_s"]}
        table[dataset] = row
    return table


def _cell(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def render_yield_markdown(table: dict) -> str:
    lines = ["## Written edges with the default configuration", "",
             "`bash bench/run_yield.sh` (kgplatform/bench/yields.py). 'default': TrainConfig and PipelineConfig "
             "defaults, no per-dataset config, the default training budget; 'before': the committed per-dataset "
             "benchmark run this replaced (its own config and budget, raw-score calibration). Written = test "
             "candidates at or above the validation threshold; recall = correct over the test edges among the "
             "top-10 candidates. Target: precision ≥ 0.9.", "",
             "| dataset | setting | test MRR | written | correct | precision | recall at 0.9 | recall ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for dataset, row in table.items():
        before_recall = (row.get("before") or {}).get("recall_at_target")
        for setting in ("before", "default"):
            e = row.get(setting)
            if e is None:
                continue
            ratio = (f"{e['recall_at_target'] / before_recall:.1f}×" if setting == "default" and before_recall
                     and e["recall_at_target"] is not None else "")
            lines.append(f"| {dataset} | {setting} ({e['time_budget_s']:.0f} s) | {e['test_mrr']:.3f} | "
                         f"{e['written']} | {e['correct']} | {_cell(e['precision'])} | "
                         f"{_cell(e['recall_at_target'])} | {ratio} |")
    chosen = [(d, r["default"]) for d, r in table.items() if r["default"].get("inputs")]
    if chosen:
        lines += ["", "Inputs the default's race chose on validation (learn/choose.py):", ""]
        lines += [f"- {d}: {e['inputs']}: {e['inputs_reason']}" for d, e in chosen]
    ablated = [(d, r["default"]) for d, r in table.items() if r["default"].get("ablations")]
    if ablated:
        names = sorted({n for _, e in ablated for n in e["ablations"]})
        lines += ["", "Test MRR of the default against its ablations (inputs fixed, the whole budget each):", "",
                  "| dataset | default | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        lines += [f"| {d} | {e['test_mrr']:.3f} | " + " | ".join(_cell(e["ablations"].get(n)) for n in names) + " |"
                  for d, e in ablated]
    lines += ["", "Per relation (written / correct / precision / recall at 0.9):", "",
              "| dataset | relation | before | default |", "|---|---|---|---|"]
    for dataset, row in table.items():
        rels = sorted(set(row["default"]["per_relation"]) | set((row.get("before") or {}).get("per_relation", {})))
        for rel in rels:
            cells = []
            for setting in ("before", "default"):
                e = (row.get(setting) or {}).get("per_relation", {}).get(rel)
                cells.append("–" if e is None else f"{e['written']} / {e['correct']} / {_cell(e['precision'])} / "
                             f"{_cell(e['recall_at_target'])}")
            lines.append(f"| {dataset} | {rel} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"
