"""People with tastes over the demo catalog, and their interaction log, for the recommendation part of `kgp demo`.

Pure and deterministic: `generate_people` builds everything from one seeded `random.Random`. Each person prefers
1-2 kinds of product (the category level under the departments: Headphones, Mugs, ...; a second kind is often a
complement of the first) and 1-2 brands (mostly brands that make those kinds). Most interactions are drawn from the
products that match the tastes (brand and kind both: four times as likely as one of them), weighted by product
popularity; the rest is popularity-driven noise. A person never meets the same product twice, timestamps increase
per person, and the latest interaction is always a purchase: the recommender's export splits a log without splits
leave-last-out by time (recommend/data.py), so that purchase is the held-back test item and is left in the log as it
is. Tastes use the true brand and category of every product, held-back links included.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from kgplatform.demo.catalog import COMPLEMENTS, Catalog, slug
from kgplatform.ingest.behaviour import BehaviourRow

START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
HOUR_MS = 3_600_000
TASTE_SHARE = 0.8  # share of interactions drawn from the person's tastes; the rest follows popularity
VIEWED_SHARE = 0.2  # share of the earlier interactions that are views, not purchases


@dataclass(frozen=True)
class Person:
    id: str
    kinds: tuple[str, ...]  # category ids at the kind level (category:headphones)
    brands: tuple[str, ...]  # brand ids


@dataclass
class People:
    people: list[Person]
    rows: list[BehaviourRow]  # per person in time order, persons in id order
    held_back: dict[str, str]  # person -> their latest purchase: the recommender's test item

    def by_person(self) -> dict[str, list[BehaviourRow]]:
        out: dict[str, list[BehaviourRow]] = defaultdict(list)
        for row in self.rows:
            out[row.user].append(row)
        return dict(out)


def product_facts(catalog: Catalog) -> dict[str, tuple[str, str]]:
    """product id -> (brand id, kind category id), from loaded and held-back triples alike."""
    triples = catalog.triples + catalog.held_back
    parent = {h: t for h, r, t in triples if r == "SUBCATEGORY_OF"}
    brand = {h: t for h, r, t in triples if r == "HAS_BRAND"}
    leaf = {h: t for h, r, t in triples if r == "IN_CATEGORY"}

    def kind(c: str) -> str:  # a third-level leaf's parent, else the leaf itself (departments have no parent)
        return parent[c] if parent[c] in parent else c

    return {p: (brand[p], kind(leaf[p])) for p in sorted(brand)}


def _kind_id(name: str) -> str:
    return f"category:{slug(name)}"


def _tastes(rng: random.Random, facts: dict[str, tuple[str, str]], popularity: dict[str, float]
            ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    by_kind: dict[str, list[str]] = defaultdict(list)
    for p, (_b, k) in facts.items():
        by_kind[k].append(p)
    kinds_all = sorted(by_kind)
    first = rng.choices(kinds_all, [sum(popularity[p] for p in by_kind[k]) for k in kinds_all])[0]
    kinds = [first]
    if rng.random() < 0.5:
        partners = sorted({y for a, b in COMPLEMENTS for x, y in ((_kind_id(a), _kind_id(b)),
                                                                  (_kind_id(b), _kind_id(a))) if x == first})
        others = [k for k in kinds_all if k != first]
        kinds.append(rng.choice(partners) if partners and rng.random() < 0.7 else rng.choice(others))
    brand_weight: dict[str, float] = defaultdict(float)  # brands weighted by their products of the liked kinds
    any_brand: dict[str, float] = defaultdict(float)
    for p, (b, k) in facts.items():
        any_brand[b] += popularity[p]
        if k in kinds:
            brand_weight[b] += popularity[p]
    brands: list[str] = []
    for _ in range(rng.choice([1, 1, 2])):
        pool = brand_weight if rng.random() < 0.75 else any_brand
        names = sorted(b for b in pool if b not in brands)
        brands.append(rng.choices(names, [pool[b] for b in names])[0])
    return tuple(kinds), tuple(brands)


def _draw(rng: random.Random, weights: dict[str, float], taken: set[str]) -> str | None:
    items = [p for p in weights if p not in taken and weights[p] > 0]
    return rng.choices(items, [weights[p] for p in items])[0] if items else None


def generate_people(catalog: Catalog, *, seed: int = 7, n_people: int = 300, min_interactions: int = 4,
                    max_interactions: int = 12) -> People:
    """People with tastes and their interaction log (module docstring). Users are `person:001`, ..."""
    if not 3 <= min_interactions <= max_interactions:
        raise ValueError("need 3 <= min_interactions <= max_interactions (test, valid and one train row each)")
    rng = random.Random(seed)
    facts = product_facts(catalog)
    products = list(facts)
    ranks = rng.sample(range(len(products)), len(products))  # a few products sell much more than others
    popularity = {p: 1.0 / (1 + r) ** 0.6 for p, r in zip(products, ranks)}
    width = len(str(n_people))
    people, rows, held_back = [], [], {}
    for n in range(1, n_people + 1):
        kinds, brands = _tastes(rng, facts, popularity)
        person = Person(f"person:{n:0{width}d}", kinds, brands)
        liked = {p: popularity[p] * ((b in brands) + (k in kinds)) ** 2 for p, (b, k) in facts.items()}
        count = rng.randint(min_interactions, max_interactions)
        taken: set[str] = set()
        when = START_MS + rng.randrange(0, 60 * 24) * HOUR_MS
        for j in range(count):
            item = _draw(rng, liked, taken) if rng.random() < TASTE_SHARE else None
            item = item or _draw(rng, popularity, taken)
            taken.add(item)
            when += rng.randint(1, 240) * HOUR_MS + rng.randrange(0, HOUR_MS, 1000)
            last = j == count - 1
            kind = "VIEWED" if not last and rng.random() < VIEWED_SHARE else "PURCHASED"
            rows.append(BehaviourRow(user=person.id, item=item, type=kind, timestamp=when))
        held_back[person.id] = rows[-1].item
        people.append(person)
    return People(people, rows, held_back)


def write_log(people: People, path: Path) -> Path:
    """The log as JSONL (`kgp ingest` reads it as an interaction log): user, item, type, timestamp (epoch ms)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (json.dumps({"user": r.user, "item": r.item, "type": r.type, "timestamp": r.timestamp}) + "\n"
             for r in people.rows)
    path.write_text("".join(lines), encoding="utf-8")
    return path
