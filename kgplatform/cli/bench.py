"""`kgp bench ...`: benchmarks on real datasets, with their results as JSON and markdown."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from kgplatform.cli.common import AsJson, NoText, console, emit_json, out, settings
from kgplatform.cli.finetune import (
    BatchSize,
    Budget,
    FreezeLayers,
    LearningRate,
    NoHardNegatives,
    SeqLength,
    finetune_config,
)
from kgplatform.progress import RichProgress

bench_app = typer.Typer(help="Benchmarks on real datasets.", no_args_is_help=True)


def write_report(path: Optional[Path], report: dict) -> None:
    """--out: the benchmark's JSON report, when asked for."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")


@bench_app.command("table")
def bench_table(results: list[Path] = typer.Argument(..., exists=True, help="JSON files of `kgp bench linkpred`"),
                out_file: Optional[Path] = typer.Option(None, "--out", help="write the markdown here"),
                json_file: Optional[Path] = typer.Option(None, "--json-out", help="write all reports as one JSON"),
                inductive: list[Path] = typer.Option([], "--inductive", exists=True,
                                                     help="JSON files of `kgp bench inductive`, as a section"),
                yield_file: Optional[Path] = typer.Option(None, "--yield", exists=True, dir_okay=False,
                                                          help="bench/results/yield.json (`kgp bench yield`), as a "
                                                          "section")):
    """Render benchmark JSON results as one markdown table (baselines and published numbers beside ours)."""
    from kgplatform.bench.inductive import render_inductive_markdown
    from kgplatform.bench.linkpred import render_markdown

    reports = [json.loads(p.read_text()) for p in results]
    inductive_reports = [json.loads(p.read_text()) for p in inductive]
    text = render_markdown(reports)
    if inductive_reports:
        text += "\n" + render_inductive_markdown(inductive_reports)
    if yield_file:
        from kgplatform.bench.yields import render_yield_markdown

        text += "\n" + render_yield_markdown(json.loads(yield_file.read_text()))
    if out_file:
        out_file.write_text(text)
    if json_file:
        json_file.write_text(json.dumps({"linkpred": reports, "inductive": inductive_reports}, indent=2) + "\n")
    sys.stdout.write(text)


@bench_app.command("yield")
def bench_yield(results: list[Path] = typer.Argument(..., exists=True,
                                                    help="JSON files of `kgp bench linkpred` run with the defaults"),
                before_dir: Path = typer.Option(Path("bench/results"), "--before", exists=True, file_okay=False,
                                                help="folder of the earlier linkpred-<dataset>.json reports"),
                json_file: Path = typer.Option(Path("bench/results/yield.json"), "--json-out"),
                out_file: Optional[Path] = typer.Option(None, "--out", help="also write the markdown here")):
    """Correct edges written at the target precision by the default configuration, beside the earlier figures.

    An existing --json-out keeps its 'before' figures (they are the state before this work, frozen once)."""
    from kgplatform.bench.yields import render_yield_markdown, yield_table

    reports = [json.loads(p.read_text()) for p in results]
    frozen = json.loads(json_file.read_text()) if json_file.is_file() else {}
    before = {}
    for report in reports:
        dataset = report["dataset"]
        path = before_dir / f"linkpred-{dataset}.json"
        before[dataset] = json.loads(path.read_text()) if path.is_file() else None
    table = yield_table(reports, {k: v for k, v in before.items() if v is not None})
    for dataset, row in table.items():
        if "before" in frozen.get(dataset, {}):
            row["before"] = frozen[dataset]["before"]
    json_file.write_text(json.dumps(table, indent=2) + "\n")
    text = render_yield_markdown(table)
    if out_file:
        out_file.write_text(text)
    sys.stdout.write(text)


def bench_overrides(time_budget: float, no_text: bool, valid_max_triples: int | None) -> dict:
    """The TrainConfig fields that command-line options set over a --train-config file: only the options given
    (an option left at its default must not undo the file, e.g. a file's use_text false)."""
    overrides: dict = {"time_budget_s": time_budget}
    if no_text:
        overrides["use_text"] = False
    if valid_max_triples is not None:
        overrides["valid_max_triples"] = valid_max_triples
    return overrides


@bench_app.command("linkpred")
def bench_linkpred(data: Path = typer.Option(..., exists=True, help="dataset folder"),
                   time_budget: float = typer.Option(300.0, help="training wall-clock budget in seconds"),
                   no_text: NoText = False,
                   baseline: list[str] = typer.Option([], "--baseline", help="also run this baseline on the same "
                                                      "snapshot and budget: pykeen-complex, pykeen-rotate "
                                                      "(needs the bench extra: pip install -e .[bench])"),
                   ablation: list[str] = typer.Option([], "--ablation", help="also train our model with these inputs "
                                                      "on the same snapshot and budget: 'text only', 'graph only', "
                                                      "'text+graph' (the one that is ours is not retrained)"),
                   valid_max_triples: Optional[int] = typer.Option(
                       None, help="model selection (ours and baselines) ranks a fixed sample of at most this many "
                       "validation triples; test is always ranked in full"),
                   train_config: Optional[Path] = typer.Option(
                       None, "--train-config", exists=True, dir_okay=False,
                       help="JSON object of TrainConfig fields for our model (e.g. bench/configs/codex-s.json); "
                       "--time-budget, and --no-text and --valid-max-triples when given, win over it"),
                   out_file: Optional[Path] = typer.Option(None, "--out", help="also write the JSON here"),
                   as_json: AsJson = False):
    """Ingest DIR, export, train on train, select on valid, print filtered test metrics and timings."""
    from kgplatform.bench.linkpred import run_linkpred
    from kgplatform.learn.config import load_train_config

    cfg = load_train_config(train_config, bench_overrides(time_budget, no_text, valid_max_triples))
    with RichProgress(console, enabled=not as_json) as progress:
        report = run_linkpred(settings(), data, time_budget=time_budget, train_cfg=cfg, baselines=baseline,
                              ablations=ablation, progress=progress,
                              log=lambda line: console.print(line, markup=False))
    write_report(out_file, report)
    emit_json(report) if as_json else out.print_json(json.dumps(report))


@bench_app.command("scale")
def bench_scale(sizes: str = typer.Option("100000,1000000", help="relationship counts, comma-separated"),
                time_budget: float = typer.Option(300.0, help="the link predictor's training budget per size"),
                no_text: NoText = False,
                text_budget: Optional[float] = typer.Option(None, help="seconds text encoding may take; over it "
                                                            "(measured on a sample) the run goes graph-only"),
                dim: Optional[int] = typer.Option(None, help="node state size (default: the pipeline's)"),
                score_shards: int = typer.Option(1, min=1, help="score and write back only shard 0 of this many, "
                                                 "as one of that many workers would"),
                workdir: Optional[Path] = typer.Option(None, help="where the datasets are written (default "
                                                       "$KGP_HOME/bench-scale); each is removed after its size"),
                out_file: Path = typer.Option(Path("bench/results/scale.json"), "--out",
                                              help="results, keyed by size (merged)"),
                md_file: Optional[Path] = typer.Option(Path("bench/results/scale.md"), "--md")):
    """The synthetic catalogue at each size: ingest, export and write-back against a raw client loop, then the
    pipeline; wall time and peak RSS per stage, test MRR."""
    from kgplatform.bench.scale import merge_results, render_scale_markdown, run_scale_size, scale_pipeline_config

    config = settings()
    counts = [int(x.replace("_", "")) for x in sizes.split(",") if x.strip()]
    cfg = scale_pipeline_config(time_budget, use_text=not no_text, text_budget_s=text_budget, dim=dim)
    for size in counts:
        with RichProgress(console) as progress:
            result = run_scale_size(config, size, workdir or config.home / "bench-scale", cfg,
                                    score_shards=score_shards, progress=progress)
        results = merge_results(out_file, size, result)
        if md_file is not None:
            md_file.write_text(render_scale_markdown(results))
        ratio = result["io_ratio"]
        out.print(f"{size:,} relationships: {result['wall_s']:,.0f} s, peak RSS {result['peak_rss_gb']:.2f} GB; "
                  f"I/O ratio ingest {ratio['ingest']:.2f}, export {ratio['export']:.2f}, write-back "
                  f"{ratio['writeback']:.2f}; test MRR {result['test_mrr']}", markup=False)


@bench_app.command("finetune")
def bench_finetune(data: Path = typer.Option(..., exists=True, help="dataset folder"),
                   time_budget: Budget = 1800.0, batch_size: BatchSize = 32, max_seq_length: SeqLength = 64,
                   freeze_layers: FreezeLayers = 0, lr: LearningRate = 3e-5,
                   no_hard_negatives: NoHardNegatives = False,
                   out_file: Path = typer.Option(Path("bench/results/finetune.json"), "--out",
                                                 help="results of every dataset, keyed by dataset (merged)"),
                   md_file: Optional[Path] = typer.Option(None, "--md", help="also render them as markdown here")):
    """Text-only completion on DIR's test split with the frozen encoder, then fine-tuned on its train edges."""
    from kgplatform.bench.finetune import merge_results, render_finetune_markdown, run_finetune_bench

    cfg = finetune_config(time_budget, batch_size, max_seq_length, freeze_layers, lr, no_hard_negatives)
    with RichProgress(console) as progress:
        report = run_finetune_bench(settings(), data, cfg, progress)
    results = merge_results(out_file, report)
    if md_file is not None:
        md_file.write_text(render_finetune_markdown(results))
    out.print(f"{report['dataset']}: text-only test MRR {report['before']['mrr']:.3f} -> {report['after']['mrr']:.3f} "
              f"in {report['finetune_s']:.0f} s of fine-tuning", markup=False)


@bench_app.command("discover")
def bench_discover(data: Path = typer.Option(..., exists=True, help="dataset folder with product text"),
                   relation: str = typer.Option("HAS_BRAND", help="the relation whose tail nodes are hidden"),
                   hide: float = typer.Option(0.2, min=0.01, max=0.9, help="share of those nodes hidden"),
                   time_budget: float = typer.Option(300.0, help="tagger training wall-clock seconds"),
                   seed: int = typer.Option(0),
                   out_file: Optional[Path] = typer.Option(None, "--out", help="also write the JSON here"),
                   md_file: Optional[Path] = typer.Option(None, "--md", help="render this report (and the other "
                                                          "discover-*.json beside --out) as markdown here")):
    """Hide a share of the brands; count how many the entity tagger finds again in product text, and how precisely."""
    from kgplatform.bench.discover import render_discover_markdown, run_discover
    from kgplatform.text.ner import TaggerConfig

    with RichProgress(console) as progress:
        report = run_discover(settings(), data, relation=relation, hide=hide, seed=seed,
                              cfg=TaggerConfig(time_budget_s=time_budget, seed=seed), progress=progress)
    write_report(out_file, report)
    if md_file is not None:
        others = [json.loads(f.read_text()) for f in sorted(out_file.parent.glob("discover-*.json"))
                  if f != out_file] if out_file else []
        md_file.write_text(render_discover_markdown(others + [report]))
    out.print_json(json.dumps(report))


@bench_app.command("inductive")
def bench_inductive(data: Path = typer.Option(..., exists=True, help="dataset folder with Product nodes"),
                    time_budget: float = typer.Option(120.0, help="training wall-clock budget in seconds"),
                    held_out: float = typer.Option(0.1, help="share of products held out with all their edges"),
                    seed: int = typer.Option(0),
                    protocol: str = typer.Option("extend", help="'extend': held-out products are added to the "
                                                 "trained model afterwards; 'mask': they stay nodes of the training "
                                                 "graph without learned embedding"),
                    unseen_node_ratio: Optional[float] = typer.Option(None, help="override TrainConfig's "
                                                                      "unseen_node_ratio"),
                    finetune_budget: Optional[float] = typer.Option(None, min=1, help="also fine-tune the text "
                                                                    "encoder for this many seconds on the graph "
                                                                    "without the held-out products, and rank the "
                                                                    "same split again with it (before/after)"),
                    out_file: Optional[Path] = typer.Option(None, "--out", help="also write the JSON here"),
                    as_json: AsJson = False):
    """Products never seen in training, scored from their text and at most one edge, beside a text k-NN baseline."""
    from kgplatform.bench.inductive import render_inductive_markdown, run_inductive

    with RichProgress(console, enabled=not as_json) as progress:
        report = run_inductive(settings(), data, time_budget=time_budget, held_out_ratio=held_out, seed=seed,
                               unseen_node_ratio=unseen_node_ratio, protocol=protocol,
                               finetune_budget=finetune_budget, progress=progress)
    write_report(out_file, report)
    emit_json(report) if as_json else sys.stdout.write(render_inductive_markdown([report]))


@bench_app.command("jobs")
def bench_jobs(data: Path = typer.Option(..., exists=True,
                                         help="dataset folder, e.g. ../shared/datasets/amazon-beauty-2014"),
               time_budget: float = typer.Option(90.0, help="training wall-clock budget in seconds"),
               shards: int = typer.Option(4, help="score shards"),
               out_dir: Optional[Path] = typer.Option(None, "--out", help="write jobs-<dataset>.json and .md here"),
               as_json: AsJson = False):
    """Pipeline wall-clock in-process vs queue jobs on 1 and 2 worker processes, per stage, with queue overhead."""
    from kgplatform.bench.jobs import render_jobs_markdown, run_jobs_benchmark

    with RichProgress(console, enabled=not as_json) as progress:
        report = run_jobs_benchmark(settings(), data, time_budget=time_budget, num_shards=shards,
                                    progress=progress, log=lambda line: console.print(line, markup=False))
    table = render_jobs_markdown(report)
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"jobs-{data.name}.json").write_text(json.dumps(report, indent=2) + "\n")
        (out_dir / f"jobs-{data.name}.md").write_text(table)
    emit_json(report) if as_json else sys.stdout.write(table)


@bench_app.command("entities")
def bench_entities(data: Path = typer.Option(..., exists=True, help="dataset folder with Product, Brand, Category"),
                   time_budget: float = typer.Option(120.0, help="training wall-clock budget in seconds"),
                   no_model: bool = typer.Option(False, "--no-model", help="text proposals only, no training"),
                   out_file: Optional[Path] = typer.Option(None, "--out", help="also write the JSON here"),
                   as_json: AsJson = False):
    """HAS_BRAND / IN_CATEGORY links recognised in product text: text only, model only, and combined, on test."""
    from kgplatform.bench.entities import render_entities_markdown, run_entities

    with RichProgress(console, enabled=not as_json) as progress:
        report = run_entities(settings(), data, time_budget=time_budget, progress=progress, train=not no_model)
    write_report(out_file, report)
    emit_json(report) if as_json else sys.stdout.write(render_entities_markdown([report]))


@bench_app.command("realtime")
def bench_realtime(data: Path = typer.Option(..., exists=True, help="dataset folder with Product nodes"),
                   held_out: int = typer.Option(100, min=1, help="products kept out of the base graph"),
                   time_budget: float = typer.Option(300.0, help="training budget of the base run, seconds (the "
                                                     "pipeline's default)"),
                   no_queue: bool = typer.Option(False, "--no-queue", help="direct path only (no Celery worker)"),
                   before: Optional[Path] = typer.Option(None, "--before", exists=True, dir_okay=False,
                                                         help="an earlier report of this bench, compared in the "
                                                         "markdown"),
                   out_file: Optional[Path] = typer.Option(None, "--out", help="also write the JSON here"),
                   md_file: Optional[Path] = typer.Option(None, "--md", help="also write the markdown table here"),
                   as_json: AsJson = False):
    """New products inserted 1, 10 and 100 at a time: seconds until their predicted links are in the store."""
    from kgplatform.bench.realtime import render_realtime_markdown, run_realtime

    with RichProgress(console, enabled=not as_json) as progress:
        report = run_realtime(settings(), data, held_out=held_out, time_budget=time_budget, queue=not no_queue,
                              progress=progress)
    if before is not None:
        report["before"] = {k: v for k, v in json.loads(before.read_text()).items() if k != "before"}
    text = render_realtime_markdown(report)
    write_report(out_file, report)
    if md_file:
        md_file.parent.mkdir(parents=True, exist_ok=True)
        md_file.write_text(text)
    emit_json(report) if as_json else sys.stdout.write(text)


@bench_app.command("recommend")
def bench_recommend(data: Path = typer.Option(..., exists=True, file_okay=False,
                                              help="recommendation dataset folder (interactions_*.tsv, kg.tsv, ...)"),
                    time_budget: float = typer.Option(600.0, help="training wall-clock budget per model, seconds"),
                    baseline: list[str] = typer.Option(
                        [], "--baseline", help="baselines on the same split and budget (default: all of popularity, "
                        "als, recbole-bpr, recbole-lightgcn, recbole-kgat, recbole-kgin; 'none' for none)"),
                    alpha: list[float] = typer.Option([], "--alpha", help="α values to sweep (default 0, 0.1, 1"
                                                      "); the config's own α is always trained"),
                    train_config: Optional[Path] = typer.Option(
                        None, "--train-config", exists=True, dir_okay=False,
                        help="JSON object of RecConfig fields for our model; --time-budget wins over it"),
                    out_file: Optional[Path] = typer.Option(None, "--out", help="also write the JSON here"),
                    as_json: AsJson = False):
    """Ingest DIR into the store, export, train ours (select on valid Recall@20), rank test over all items; the α
    sweep and the library baselines on the same split, in the same run."""
    from kgplatform.bench.recommend import DEFAULT_ALPHAS, DEFAULT_BASELINES, run_recommend_bench
    from kgplatform.recommend.config import RecConfig

    cfg = RecConfig(**json.loads(train_config.read_text())) if train_config else RecConfig()
    baselines = () if baseline == ["none"] else tuple(baseline) or DEFAULT_BASELINES
    with RichProgress(console, enabled=not as_json) as progress:
        report = run_recommend_bench(settings(), data, time_budget=time_budget, baselines=baselines,
                                     alphas=tuple(alpha) or DEFAULT_ALPHAS, train_cfg=cfg, progress=progress,
                                     log=lambda line: console.print(line, markup=False))
    write_report(out_file, report)
    emit_json(report) if as_json else out.print_json(json.dumps(report, default=str))


@bench_app.command("recommend-table")
def bench_recommend_table(results: list[Path] = typer.Argument(..., exists=True,
                                                               help="JSON files of `kgp bench recommend`"),
                          markdown: Path = typer.Option(Path("bench/results/recommend.md"), help="write it here")):
    """The markdown table of several `kgp bench recommend` reports (bench/results/recommend.md)."""
    from kgplatform.bench.recommend import render_markdown

    markdown.write_text(render_markdown([json.loads(p.read_text()) for p in results]) + "\n")
    out.print(f"wrote {markdown}")


@bench_app.command("recommend-scale")
def bench_recommend_scale(users: int = typer.Option(70_000, min=1, help="synthetic users"),
                          items: int = typer.Option(25_000, min=10, help="synthetic items (books)"),
                          interactions: int = typer.Option(850_000, min=1, help="user-item interactions in all"),
                          kg_triples: int = typer.Option(1_000_000, min=1, help="KG triples (items -> attributes, "
                                                         "item -> item, entity -> entity)"),
                          seed: int = typer.Option(0, help="the catalog's seed"),
                          time_budget: float = typer.Option(600.0, help="training wall-clock budget, seconds"),
                          shards: int = typer.Option(1, min=1, help="score shards (run one after the other)"),
                          text: bool = typer.Option(False, "--text", help="encode item and entity text (MiniLM); "
                                                    "off by default at this size, see bench/README.md"),
                          train_config: Optional[Path] = typer.Option(
                              None, "--train-config", exists=True, dir_okay=False,
                              help="JSON object of RecConfig fields over the benchmark's own (batch 65536, no text, "
                              "...); --time-budget wins over it"),
                          graph: Optional[str] = typer.Option(None, help="graph to use (must be empty; default: a "
                                                              "fresh recscale_<hex> graph)"),
                          keep_graph: bool = typer.Option(False, "--keep-graph", help="leave the graph in the store "
                                                          "(default: deleted afterwards)"),
                          keep_run: bool = typer.Option(False, "--keep-run", help="leave the run directory under "
                                                        "KGP_HOME/runs (default: deleted afterwards)"),
                          data_dir: Optional[Path] = typer.Option(None, help="write the catalog here and keep it "
                                                                  "(default: a temporary folder)"),
                          out_file: Optional[Path] = typer.Option(None, "--out", help="write the JSON here and the "
                                                                  "markdown beside it (same name, .md)"),
                          as_json: AsJson = False):
    """A synthetic catalog of Amazon-Book's size (70k users, 25k items, 850k interactions, 1M KG triples) ingested
    into a fresh graph and run through the recommendation steps: seconds and peak RSS per stage, Recall@20."""
    from kgplatform.bench.recscale import ScaleSpec, render_scale_markdown, run_recommend_scale

    overrides = json.loads(train_config.read_text()) if train_config else {}
    if text:
        overrides["use_text"] = True
    spec = ScaleSpec(users=users, items=items, interactions=interactions, kg_triples=kg_triples, seed=seed)
    try:
        spec.check()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    with RichProgress(console, enabled=not as_json) as progress:
        report = run_recommend_scale(settings(), spec, time_budget=time_budget, train=overrides, num_shards=shards,
                                     graph=graph, keep_graph=keep_graph, data_dir=data_dir, keep_run=keep_run,
                                     progress=progress, log=lambda line: console.print(line, markup=False))
    table = render_scale_markdown(report)
    if out_file:
        write_report(out_file, report)
        out_file.with_suffix(".md").write_text(table)
    emit_json(report) if as_json else sys.stdout.write(table)


@bench_app.command("ann")
def bench_ann(datasets_dir: Path = typer.Option(Path("../shared/datasets"), "--datasets", exists=True,
                                                file_okay=False, help="folder of the recommendation datasets"),
              dataset: list[str] = typer.Option([], "--dataset", help="datasets to run (default: lastfm-kgcn, "
                                                "ml100k-fb, amazon-giftcards-2018-rec, synthetic-amazon-book)"),
              time_budget: float = typer.Option(90.0, help="training budget per real dataset, seconds"),
              synthetic_budget: float = typer.Option(240.0, help="training budget on the synthetic Amazon-Book-size "
                                                     "catalogue, seconds"),
              vectors_dir: Optional[Path] = typer.Option(None, help="save the trained vectors here and reuse them "
                                                         "on a rerun with the same budget"),
              out_dir: Path = typer.Option(Path("bench/results"), "--out", help="write ann.json and ann.md here"),
              as_json: AsJson = False):
    """The API's item index: exact, faiss HNSW / IVF and usearch on real user and item vectors; Recall@20 against
    exact, latency, throughput, build time, memory, and what choose_index picks per dataset."""
    from kgplatform.bench.ann import REAL_DATASETS, SYNTHETIC, render_ann_markdown, run_ann_bench

    report = run_ann_bench(datasets_dir, datasets=tuple(dataset) or (*REAL_DATASETS, SYNTHETIC),
                           time_budget=time_budget, synthetic_budget=synthetic_budget, cache_dir=vectors_dir,
                           log=lambda line: console.print(line, markup=False))
    text = render_ann_markdown(report)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "ann.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "ann.md").write_text(text)
    emit_json(report) if as_json else sys.stdout.write(text)


@bench_app.command("serving")
def bench_serving(time_budget: float = typer.Option(120.0, help="training budget of the served model, seconds "
                                                    "(latency does not depend on it)"),
                  port: int = typer.Option(8799, help="port of the API under test"),
                  graph: str = typer.Option("bench_serving", help="graph to build (or reuse when it has people)"),
                  out_file: Path = typer.Option(Path("bench/results/serving.json"), "--out",
                                                help="JSON here, the markdown beside it (.md)")):
    """The recommendation API under load: p50/p95/p99 and throughput at 1, 10, 50 clients, interaction -> visible,
    and a retrain swapped in under load (Amazon-Book-size synthetic graph)."""
    from kgplatform.bench.serving import render_serving_markdown, run_serving_bench

    report = run_serving_bench(settings(), time_budget=time_budget, port=port, graph=graph,
                               log=lambda line: console.print(line, markup=False))
    write_report(out_file, report)
    table = render_serving_markdown(report)
    out_file.with_suffix(".md").write_text(table)
    sys.stdout.write(table)
