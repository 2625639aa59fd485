"""The recommendation part of `kgp demo`: people with tastes buy from the demo catalog, the recommender learns from
their log and the knowledge graph, and each person gets a top-N list written back as RECOMMENDED edges.

The log goes in through `kgp ingest`'s own path (a JSONL file in the demo's folder); the recommender's export splits
it leave-last-out by time, so each person's latest purchase is the held-back test item. Ours is compared with
popularity (items ranked by train interactions, the person's known items excluded) on the same split, with the same
metric function.
"""

from __future__ import annotations

import math
from collections import Counter

import torch
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kgplatform.demo.catalog import Catalog
from kgplatform.demo.people import People, Person, generate_people, product_facts, write_log
from kgplatform.graph.recommendations import read_recommendations
from kgplatform.graph.store import GraphStore
from kgplatform.ingest.load import ingest_path
from kgplatform.pipeline.recsteps import run_recommend_pipeline
from kgplatform.pipeline.rundir import RunDir
from kgplatform.progress import ProgressFn
from kgplatform.recommend.config import RecConfig, RecRunConfig
from kgplatform.recommend.data import RecData
from kgplatform.recommend.metrics import ranking_metrics, top_k
from kgplatform.settings import Settings
from kgplatform.snapshot import SPLIT_TRAIN

SHOWN = 10  # recommendations of the example person in the report
KS = (10, 20)
# One thread: on a graph this small torch's thread hand-offs cost more than they give (30 epochs: 2.5 s on one
# thread, 16 s on two, on a loaded 2-core machine). lr and patience: the default lr with patience 10 stops at
# valid Recall@20 0.29 (epoch 15); this reaches 0.38 (epoch ~50) in about 5 s.
TRAIN = {"threads": 1, "lr": 0.01, "patience": 20}
INSPECT_CYPHER = "MATCH (u:User {{id: '{user}'}})-[r:RECOMMENDED]->(p:Entity) RETURN u, r, p"


def _popularity(data: RecData):
    """Scores of the popularity baseline: every item's number of train interactions, the same for everyone."""
    counts = torch.bincount(data.interactions[data.split == SPLIT_TRAIN][:, 1], minlength=data.num_items).float()
    return lambda users: counts.expand(len(users), -1)


def popularity_metrics(data: RecData) -> dict[str, float]:
    """The popularity baseline on the run's own split, measured as evaluate() measures ours: test items ranked
    among everything but the person's train and valid items."""
    known = torch.cat([data.train_pairs(), data.valid_pairs()])
    return ranking_metrics(_popularity(data), data.test_pairs(), known, data.num_items, ks=KS)


def taste_match(people: People, facts: dict[str, tuple[str, str]], lists: dict[str, list[str]]) -> float:
    """Share of the listed items that match their person's tastes (a liked brand or kind)."""
    taste = {p.id: (set(p.brands), set(p.kinds)) for p in people.people}
    pairs = [(user, item) for user, items in lists.items() for item in items]
    return sum(facts[i][0] in taste[u][0] or facts[i][1] in taste[u][1] for u, i in pairs) / max(len(pairs), 1)


def _popularity_lists(data: RecData, n: int) -> dict[str, list[str]]:
    """Popularity's top n per person, excluding everything they interacted with (as the written lists do)."""
    users = torch.arange(data.num_users)
    ranked = top_k(_popularity(data), users, torch.unique(data.interactions, dim=0), data.num_items, n)
    return {data.user_ids[u]: [data.entity_ids[i] for i in row] for u, row in zip(users.tolist(), ranked.tolist())}


def _example_person(people: People, facts: dict[str, tuple[str, str]]) -> Person:
    """The first person with a history of 6 to 9 interactions whose latest purchase fits their tastes (a typical
    customer, not a noisy one), else the first person."""
    rows = people.by_person()

    def typical(p: Person) -> bool:
        brand, kind = facts[people.held_back[p.id]]
        return 6 <= len(rows[p.id]) <= 9 and (brand in p.brands or kind in p.kinds)

    return next((p for p in people.people if typical(p)), people.people[0])


def run_recommend_demo(store: GraphStore, settings: Settings, catalog: Catalog, *, time_budget: float,
                       seed: int = 7, progress: ProgressFn | None = None) -> dict:
    """Generate and ingest the people, run the recommender, and report what it wrote for one person."""
    people = generate_people(catalog, seed=seed)
    log = write_log(people, settings.home / "demo" / "people" / "interactions.jsonl")
    ingest = ingest_path(store, log, batch_size=settings.write_batch_size, progress=progress, behaviour=True)
    cfg = RecRunConfig(train=RecConfig(time_budget_s=time_budget, seed=seed, **TRAIN))
    threads = torch.get_num_threads()
    try:
        summary = run_recommend_pipeline(store, settings, cfg, progress=progress)
    finally:
        torch.set_num_threads(threads)  # TRAIN's single thread is for the recommender only
    out = RunDir.of(settings.runs_dir, summary["run_id"])
    data = out.load_recdata()
    baseline = popularity_metrics(data)
    ours_lists: dict[str, list[str]] = {}
    for r in sorted(out.read_jsonl(RunDir.RECOMMENDATIONS), key=lambda r: (r["user"], r["rank"])):
        ours_lists.setdefault(r["user"], []).append(r["item"])
    facts = product_facts(catalog)
    person = _example_person(people, facts)
    name_of = {e.id: e.name for e in catalog.entities}
    shown = read_recommendations(store, person.id, SHOWN, run_id=summary["run_id"])
    ours = summary.get("test") or {}
    return {
        "run_id": summary["run_id"], "model": out.model_name(), "people": ingest["users"],
        "interactions": ingest["interactions"],
        "behaviour_types": dict(sorted(Counter(r.type for r in people.rows).items())),
        "log": str(log), "time_budget_s": time_budget, "train_seconds": summary["timings_s"].get("train"),
        "stopped_reason": summary["stopped_reason"], "recommendations": summary["counts"]["recommendations"],
        "test_users": int(baseline["users"]),
        "recall@20": {"ours": ours.get("recall@20", math.nan), "popularity": baseline["recall@20"]},
        "ndcg@20": {"ours": ours.get("ndcg@20", math.nan), "popularity": baseline["ndcg@20"]},
        "taste_match@20": {"ours": taste_match(people, facts, ours_lists),
                           "popularity": taste_match(people, facts, _popularity_lists(data, cfg.top_n))},
        "example": {"user": person.id, "likes": [name_of[x] for x in person.kinds + person.brands],
                    "history": [{"item": r.item, "name": name_of[r.item], "type": r.type}
                                for r in people.by_person()[person.id]],
                    "recommendations": [{**{k: r[k] for k in ("rank", "item", "name", "score", "evidence")},
                                         "matches_taste": facts[r["item"]][0] in person.brands
                                         or facts[r["item"]][1] in person.kinds} for r in shown]},
        "inspect_cypher": INSPECT_CYPHER.format(user=person.id),
    }


def print_recommendations(console: Console, rec: dict, graph_prefix: str) -> None:
    ex = rec["example"]
    console.print(f"\n[bold]Recommendations[/]: {rec['people']} people, {rec['interactions']} interactions "
                  f"({', '.join(f'{n} {t}' for t, n in sorted(rec['behaviour_types'].items()))}) from {rec['log']}; "
                  f"{rec['recommendations']} recommendations written (run {rec['run_id']}, trained "
                  f"{rec['train_seconds']:.1f} s, stopped on {rec['stopped_reason']}).", highlight=False)
    history = [f"{h['type'].lower()} {h['name']}" for h in ex["history"]]
    console.print(Text(f"{ex['user']} likes {', '.join(ex['likes'])}. History, oldest first: "
                       f"{'; '.join(history[:-1])}; latest (held out to measure recall): {history[-1]}."))
    table = Table("rank", "item", "score", "taste", "evidence: the graph path behind it",
                  title=f"{ex['user']}: top {len(ex['recommendations'])}, as written to the graph")
    for r in ex["recommendations"]:
        table.add_row(str(r["rank"]), Text(str(r["name"] or r["item"])), f"{r['score']:.3f}",
                      "yes" if r["matches_taste"] else "", Text(r["evidence"]))
    console.print(table)
    recall, ndcg, taste = rec["recall@20"], rec["ndcg@20"], rec["taste_match@20"]
    console.print(f"latest purchase of each of {rec['test_users']} people held out: Recall@20 ours "
                  f"{recall['ours']:.3f} vs popularity {recall['popularity']:.3f}, NDCG@20 {ndcg['ours']:.3f} vs "
                  f"{ndcg['popularity']:.3f}; written top 20 matching the person's tastes {taste['ours']:.0%} vs "
                  f"{taste['popularity']:.0%}", highlight=False)
    console.print(f"Inspect them in the Browser:\n  {rec['inspect_cypher']}\nor here:\n  {graph_prefix}kgp recommend "
                  f"{ex['user']}", markup=False, highlight=False, soft_wrap=True)
