"""A synthetic product catalogue of any size, for scale tests: `kgp demo --scale N` and `kgp bench scale`.

Pure and deterministic (one seeded numpy Generator): `generate_scale_catalog` returns arrays, `write_scale_dataset`
writes them in the benchmark folder layout (shared/datasets/README.md), so the ordinary ingest reads them.

Realistic in the ways that matter for a store and a model:
- degree skew: product popularity is Pareto-distributed, brands are Zipf-distributed over products, and the number
  of links a product starts is lognormal, so a few hubs carry many links and most products few;
- learnable structure: a product's title names its brand and kind; its leaf category is its kind and style; most
  co-purchase and co-view links stay within the leaf or go to a complementary kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kgplatform.demo.catalog import COLOURS, COMPLEMENTS, STYLE, TAXONOMY

RELATIONS = ("HAS_BRAND", "IN_CATEGORY", "BOUGHT_TOGETHER", "ALSO_VIEWED")
LINKS_PER_PRODUCT = 10  # 1 brand + 1 category + about 8 product links: N relationships ~ N / 10 products
SAME_LEAF_SHARE = 0.6
COMPLEMENT_SHARE = 0.25  # the rest go anywhere, by popularity
SYLLABLES = ("ka", "lo", "mi", "ren", "sa", "tor", "vel", "quin", "dar", "bel", "nor", "fen", "ly", "zu", "pra",
             "mont", "ar", "cel", "o", "vy", "ster", "gal", "hol", "tem", "ri", "san", "wen", "ix", "pel", "dun")


@dataclass
class ScaleCatalog:
    """Entities are products 0..P-1, brands P..P+B-1, categories after them; edges as parallel int arrays."""

    product_title: list[str]
    product_description: list[str]
    brand_name: list[str]
    category_name: list[str]
    category_parent: np.ndarray  # per category: index of its parent category, -1 for a department
    head: np.ndarray  # entity index
    rel: np.ndarray  # index into RELATIONS, or len(RELATIONS) for a category's SUBCATEGORY_OF
    tail: np.ndarray
    split: np.ndarray  # 0 train, 1 valid, 2 test

    @property
    def num_products(self) -> int:
        return len(self.product_title)

    @property
    def num_edges(self) -> int:
        return len(self.head)


def _brand_names(rng: np.random.Generator, count: int) -> list[str]:
    names: set[str] = set()
    out = []
    while len(out) < count:
        parts = rng.integers(0, len(SYLLABLES), size=int(rng.integers(2, 4)))
        name = "".join(SYLLABLES[i] for i in parts).capitalize()
        if name not in names:
            names.add(name)
            out.append(name)
    return out


def _kinds() -> list[tuple[str, str, str]]:
    """(department, kind category, noun) for every kind in the demo taxonomy."""
    return [(dept, kind, noun) for dept, kinds in TAXONOMY.items() for kind, noun, _, _ in kinds]


def _leaves(kinds: list[tuple[str, str, str]]) -> list[tuple[int, str, str]]:
    """(kind index, leaf name, adjective): each kind split by its department's style adjectives."""
    return [(k, f"{adj.capitalize()} {kind}", adj) for k, (dept, kind, _) in enumerate(kinds)
            for adj in STYLE[dept][0]]


def generate_scale_catalog(num_relationships: int, seed: int = 11, held_out: float = 0.01) -> ScaleCatalog:
    """About num_relationships edges over num_relationships / 10 products; `held_out` of them in valid and again
    in test (at least one each)."""
    if num_relationships < 1000:
        raise ValueError(f"a scale catalogue needs at least 1,000 relationships, got {num_relationships:,}")
    rng = np.random.default_rng(seed)
    kinds = _kinds()
    leaves = _leaves(kinds)
    departments = list(TAXONOMY)
    num_products = max(100, num_relationships // LINKS_PER_PRODUCT)
    num_brands = max(len(departments) * 5, num_products // 150)

    # Brands: a department each; product counts Zipf-skewed (rank^-1.1).
    brand_dept = rng.integers(0, len(departments), size=num_brands)
    brand_weight = 1.0 / np.arange(1, num_brands + 1) ** 1.1
    product_brand = rng.choice(num_brands, size=num_products, p=brand_weight / brand_weight.sum())
    # Kind: one of the brand's department's kinds; leaf: one of the kind's style variants.
    dept_kinds = [np.array([k for k, (d, _, _) in enumerate(kinds) if d == dept]) for dept in departments]
    kind_choice = rng.random(num_products)
    product_kind = np.empty(num_products, dtype=np.int64)
    for d, ks in enumerate(dept_kinds):
        rows = brand_dept[product_brand] == d
        product_kind[rows] = ks[(kind_choice[rows] * len(ks)).astype(np.int64)]
    leaves_of_kind = [np.array([i for i, (k, _, _) in enumerate(leaves) if k == kind]) for kind in range(len(kinds))]
    leaf_choice = rng.random(num_products)
    product_leaf = np.array([leaves_of_kind[k][int(c * len(leaves_of_kind[k]))]
                             for k, c in zip(product_kind.tolist(), leaf_choice.tolist())], dtype=np.int64)

    brand_name = _brand_names(rng, num_brands)
    colours = rng.integers(0, len(COLOURS), size=num_products)
    sizes = rng.integers(0, 3, size=num_products)
    titles, descriptions = [], []
    for p in range(num_products):
        dept, _, noun = kinds[product_kind[p]]
        adj = leaves[product_leaf[p]][2]
        size = STYLE[dept][1][int(sizes[p]) % len(STYLE[dept][1])]
        titles.append(f"{brand_name[product_brand[p]]} {adj} {noun}, {COLOURS[colours[p]]}")
        descriptions.append(f"A {size} {adj} {noun} in {COLOURS[colours[p]]}, model {p % 9973}.")

    # Categories: departments, then kinds, then leaves (their parents form SUBCATEGORY_OF edges).
    category_name = departments + [kind for _, kind, _ in kinds] + [name for _, name, _ in leaves]
    kind_base, leaf_base = len(departments), len(departments) + len(kinds)
    category_parent = np.array([-1] * len(departments) + [departments.index(d) for d, _, _ in kinds]
                               + [kind_base + k for k, _, _ in leaves], dtype=np.int64)

    brand_base = num_products
    category_base = num_products + num_brands
    heads = [np.arange(num_products), np.arange(num_products)]
    rels = [np.zeros(num_products, dtype=np.int64), np.ones(num_products, dtype=np.int64)]
    tails = [brand_base + product_brand, category_base + leaf_base + product_leaf]

    # Drawn 20 % over, since repeats are dropped; the surplus is trimmed below to hit num_relationships.
    links_h, links_t = _product_links(rng, int(1.2 * (num_relationships - 2 * num_products)), product_kind,
                                      product_leaf, kinds)
    heads.append(links_h)
    tails.append(links_t)
    rels.append(2 + (rng.random(len(links_h)) < 0.5).astype(np.int64))
    child = np.nonzero(category_parent >= 0)[0]
    heads.append(category_base + child)
    rels.append(np.full(len(child), len(RELATIONS), dtype=np.int64))
    tails.append(category_base + category_parent[child])

    head, rel, tail = np.concatenate(heads), np.concatenate(rels), np.concatenate(tails)
    key = (head * 8 + rel) * (category_base + len(category_name)) + tail
    _, first = np.unique(key, return_index=True)  # one edge per (head, relation, tail)
    links = first[(rel[first] >= 2) & (rel[first] < len(RELATIONS))]
    surplus = len(first) - num_relationships
    if surplus > 0:
        first = np.setdiff1d(first, rng.choice(links, size=min(surplus, len(links)), replace=False))
    first.sort()
    head, rel, tail = head[first], rel[first], tail[first]
    split = np.zeros(len(head), dtype=np.int64)
    eligible = np.nonzero(rel < len(RELATIONS))[0]  # the taxonomy itself is never held out
    count = max(1, int(round(held_out * len(head))))
    chosen = rng.choice(eligible, size=2 * count, replace=False)
    split[chosen[:count]] = 1
    split[chosen[count:]] = 2
    return ScaleCatalog(titles, descriptions, brand_name, category_name, category_parent, head, rel, tail, split)


def _product_links(rng: np.random.Generator, count: int, product_kind: np.ndarray, product_leaf: np.ndarray,
                   kinds: list) -> tuple[np.ndarray, np.ndarray]:
    """`count` directed product-product links (before de-duplication): lognormal out-degree, Pareto popularity
    for the tail; a tail in the head's leaf, in a complementary kind, or anywhere."""
    num_products = len(product_kind)
    count = max(count, num_products)
    popularity = rng.pareto(1.2, size=num_products) + 1.0
    activity = rng.lognormal(0.0, 1.0, size=num_products)
    heads = rng.choice(num_products, size=count, p=activity / activity.sum())
    choice = rng.random(count)
    tails = _weighted_pick(rng, popularity, np.zeros(num_products, dtype=np.int64), np.zeros(count, dtype=np.int64))
    same = choice < SAME_LEAF_SHARE
    tails[same] = _weighted_pick(rng, popularity, product_leaf, product_leaf[heads[same]])
    partner = _complement_of_kind(rng, kinds)
    comp = (choice >= SAME_LEAF_SHARE) & (choice < SAME_LEAF_SHARE + COMPLEMENT_SHARE)
    tails[comp] = _weighted_pick(rng, popularity, product_kind, partner[product_kind[heads[comp]]])
    keep = heads != tails
    return heads[keep], tails[keep]


def _complement_of_kind(rng: np.random.Generator, kinds: list) -> np.ndarray:
    """Per kind, one complementary kind (its first partner in the demo's list; itself when it has none)."""
    index = {kind: k for k, (_, kind, _) in enumerate(kinds)}
    partner = np.arange(len(kinds))
    for a, b in reversed(COMPLEMENTS):
        partner[index[a]], partner[index[b]] = index[b], index[a]
    return partner


def _weighted_pick(rng: np.random.Generator, weight: np.ndarray, group: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each entry of `wanted` (a group id), an item of that group drawn with probability ~ weight, vectorised
    through one cumulative sum over items sorted by group. A group with no items falls back to any item."""
    order = np.argsort(group, kind="stable")
    cum = np.cumsum(weight[order])
    sorted_group = group[order]
    start = np.searchsorted(sorted_group, wanted, side="left")
    end = np.searchsorted(sorted_group, wanted, side="right")
    empty = start == end
    start[empty], end[empty] = 0, len(order)
    low = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
    high = cum[end - 1]
    position = np.searchsorted(cum, low + rng.random(len(wanted)) * (high - low), side="right")
    return order[np.minimum(position, end - 1)]


def entity_ids(catalog: ScaleCatalog) -> list[str]:
    return ([f"product:{p}" for p in range(catalog.num_products)]
            + [f"brand:{b}" for b in range(len(catalog.brand_name))]
            + [f"category:{c}" for c in range(len(catalog.category_name))])


def write_scale_dataset(catalog: ScaleCatalog, out_dir: Path) -> dict:
    """entities.tsv, triples_{train,valid,test}.tsv and relations.tsv in out_dir; returns the counts."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = entity_ids(catalog)
    with (out_dir / "entities.tsv").open("w", encoding="utf-8") as fh:
        for p, (title, text) in enumerate(zip(catalog.product_title, catalog.product_description)):
            fh.write(f"{ids[p]}\t{title}\t{text}\tProduct\n")
        for b, name in enumerate(catalog.brand_name):
            fh.write(f"brand:{b}\t{name}\t\tBrand\n")
        for c, name in enumerate(catalog.category_name):
            fh.write(f"category:{c}\t{name}\t\tCategory\n")
    rel_names = list(RELATIONS) + ["SUBCATEGORY_OF"]
    counts = {}
    for code, split in enumerate(("train", "valid", "test")):
        rows = np.nonzero(catalog.split == code)[0]
        with (out_dir / f"triples_{split}.tsv").open("w", encoding="utf-8") as fh:
            for start in range(0, len(rows), 200_000):
                part = rows[start:start + 200_000]
                fh.write("".join(f"{ids[h]}\t{rel_names[r]}\t{ids[t]}\n" for h, r, t in
                                 zip(catalog.head[part].tolist(), catalog.rel[part].tolist(),
                                     catalog.tail[part].tolist())))
        counts[split] = len(rows)
    (out_dir / "relations.tsv").write_text("".join(f"{name}\t{name.lower().replace('_', ' ')}\n"
                                                   for name in rel_names))
    return {"entities": len(ids), "products": catalog.num_products, "relationships": catalog.num_edges, **counts}
