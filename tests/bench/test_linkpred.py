"""`kgp bench linkpred` end to end on real data through the embedded store: ours, ablations and a PyKEEN
baseline on one snapshot, and the markdown table that puts them side by side."""

from __future__ import annotations

import pytest

from kgplatform.bench.linkpred import ABLATIONS, render_markdown, run_linkpred
from tests.support.env import require_dataset


@pytest.fixture(scope="module")
def giftcards_report(base_settings):
    pytest.importorskip("pykeen", reason="the bench extra (pip install -e .[bench]) is not installed")
    data = require_dataset("amazon-giftcards-2018")
    return run_linkpred(base_settings, data, time_budget=6, baselines=["pykeen-complex"],
                        ablations=list(ABLATIONS))


def test_report_has_every_model_on_the_same_test_queries(giftcards_report):
    rep = giftcards_report
    queries = rep["test"]["count"]
    assert queries == 2 * 1387  # the official test split, head and tail prediction
    for name in ABLATIONS:
        assert rep["ablations"][name]["test"]["count"] == queries
        assert rep["ablations"][name]["test_unconstrained"]["count"] == queries
    assert rep["baselines"]["pykeen-complex"]["test"]["count"] == queries
    assert set(rep["test"]["per_relation"]) == {"HAS_BRAND", "IN_CATEGORY", "ALSO_BOUGHT", "ALSO_VIEWED"}
    assert rep["test"]["per_relation"]["HAS_BRAND"]["count"] == 2 * 31


def test_every_stage_is_timed_and_budgets_hold(giftcards_report):
    timings = giftcards_report["timings_s"]
    for stage in ("ingest", "export", "featurize", "train+evaluate", "ablation text only", "ablation graph only",
                  "baseline pykeen-complex"):
        assert timings[stage] >= 0, stage
    # A 6 s budget is far too short to converge: every model must have been stopped by it, not by patience.
    assert giftcards_report["stopped_reason"] == "time_budget"
    assert giftcards_report["relation_sources"]["HAS_BRAND"] == "HAS_BRAND"  # the dataset's own relation ids
    assert giftcards_report["baselines"]["pykeen-complex"]["stopped_reason"] == "time_budget"
    assert all(a["stopped_reason"] == "time_budget" for a in giftcards_report["ablations"].values())


def ran_as(ran: dict, fields: dict) -> bool:
    """Whether the inputs ours ran (its race's choice) are the ablation's."""
    return all(ran[k] == v for k, v in fields.items())


def test_ablations_really_drop_an_input(giftcards_report):
    ablations = giftcards_report["ablations"]
    assert ablations["text only"]["config"] == {"use_text": True, "learned_embeddings": False, "encoder": "none"}
    assert ablations["graph only"]["config"] == {"use_text": False, "learned_embeddings": True}
    # the inputs ours ran (its race's choice) are reported as ours, not trained a second time; the others train
    ran = giftcards_report["input_choice"]["config"]
    same = [name for name, fields in ABLATIONS.items() if ran_as(ran, fields)]
    assert len(same) == 1
    for name in ABLATIONS:
        assert bool(ablations[name].get("same_as_ours")) == (name == same[0])
    assert ablations[same[0]]["test"] == giftcards_report["test"]
    assert f"ablation {same[0]}" not in giftcards_report["timings_s"]


def test_markdown_puts_baseline_and_ablations_beside_ours(giftcards_report):
    md = render_markdown([giftcards_report])
    ours = f"| amazon-giftcards-2018 | ours, type-constrained | {giftcards_report['test']['mrr']:.3f} |"
    assert ours in md
    ran = giftcards_report["input_choice"]["config"]
    for name, fields in ABLATIONS.items():
        suffix = "(ablation: these are our settings)" if ran_as(ran, fields) else "(ablation)"
        assert f"| amazon-giftcards-2018 | ours, {name} {suffix}" in md
    text_only = giftcards_report["ablations"]["text only"]["test_unconstrained"]["mrr"]
    assert f"| amazon-giftcards-2018 | ours, text only (ablation), all entities | {text_only:.3f} |" in md
    assert "pykeen-complex (same run, same budget)" in md
    brand = giftcards_report["baselines"]["pykeen-complex"]["test"]["per_relation"]["HAS_BRAND"]["mrr"]
    row = next(line for line in md.splitlines() if line.startswith("| HAS_BRAND |"))
    assert row.rstrip().endswith(f" {brand:.3f} |")  # the baseline's per-relation MRR sits in the last column


def test_unknown_ablation_is_refused_before_any_work(base_settings):
    with pytest.raises(ValueError, match="unknown ablation"):
        run_linkpred(base_settings, require_dataset("amazon-giftcards-2018"), time_budget=1,
                     ablations=["no brains"])


def test_markdown_lists_our_settings_that_are_not_the_defaults(giftcards_report):
    assert "Our model's settings, where not TrainConfig's defaults: none." in render_markdown([giftcards_report])
    tuned = giftcards_report | {"config": giftcards_report["config"] | {"dim": 1000, "encoder": "none"}}
    assert "Our model's settings, where not TrainConfig's defaults: dim=1000, encoder=none." in \
        render_markdown([tuned])


def test_a_bad_train_config_file_is_refused_by_name_before_any_work(tmp_path):
    import os
    import subprocess
    import sys

    bad = tmp_path / "codex-s.json"
    bad.write_text('{"dim": 1000, "encodr": "none"}')
    home = tmp_path / "home"
    done = subprocess.run([sys.executable, "-m", "kgplatform.cli", "bench", "linkpred", "--data",
                           str(require_dataset("amazon-giftcards-2018")), "--train-config", str(bad)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "KGP_HOME": str(home)})
    assert done.returncode == 2
    assert "codex-s.json" in done.stderr + done.stdout and "encodr" in done.stderr + done.stdout
    assert not (home / "falkordb").exists()  # no store was started


def test_options_left_at_their_defaults_keep_the_config_files_settings(tmp_path):
    from kgplatform.cli.bench import bench_overrides
    from kgplatform.learn.config import load_train_config

    path = tmp_path / "codex-s.json"
    path.write_text('{"use_text": false, "valid_max_triples": 700, "dim": 64}')
    kept = load_train_config(path, bench_overrides(120.0, no_text=False, valid_max_triples=None))
    assert (kept.use_text, kept.valid_max_triples, kept.dim, kept.time_budget_s) == (False, 700, 64, 120.0)
    path.write_text('{"dim": 64}')
    given = load_train_config(path, bench_overrides(60.0, no_text=True, valid_max_triples=50))
    assert (given.use_text, given.valid_max_triples, given.time_budget_s) == (False, 50, 60.0)

