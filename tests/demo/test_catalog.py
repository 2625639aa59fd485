from collections import Counter

import pytest

from kgplatform.demo.catalog import PRODUCT_LINKS, generate_catalog, write_dataset

ENDPOINT_TYPES = {
    "HAS_BRAND": ("Product", "Brand"),
    "IN_CATEGORY": ("Product", "Category"),
    "SUBCATEGORY_OF": ("Category", "Category"),
    "BOUGHT_TOGETHER": ("Product", "Product"),
    "ALSO_VIEWED": ("Product", "Product"),
}


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog()


def test_same_seed_same_catalog_and_different_seed_differs():
    a, b, c = generate_catalog(seed=3), generate_catalog(seed=3), generate_catalog(seed=4)
    assert a == b
    assert a.entities != c.entities and a.triples != c.triples


def test_default_sizes(catalog):
    types = Counter(e.type for e in catalog.entities)
    assert types["Product"] == 600
    assert 35 <= types["Brand"] <= 45
    assert set(types) == {"Brand", "Category", "Product"}
    has_parent = {h for h, r, t in catalog.triples if r == "SUBCATEGORY_OF"}
    roots = [e for e in catalog.entities if e.type == "Category" and e.id not in has_parent]
    assert len(roots) == 6  # the departments


def test_ids_unique_and_prefixed(catalog):
    ids = [e.id for e in catalog.entities]
    assert len(ids) == len(set(ids))
    prefix = {"Brand": "brand:", "Category": "category:", "Product": "product:P"}
    assert all(e.id.startswith(prefix[e.type]) for e in catalog.entities)


def test_no_tabs_or_newlines_in_fields(catalog):
    for e in catalog.entities:
        for value in (e.id, e.name, e.description, e.type):
            assert value and not any(ch in value for ch in "\t\r\n"), e


def test_endpoints_exist_with_the_right_types(catalog):
    type_of = {e.id: e.type for e in catalog.entities}
    for head, rel, tail in catalog.triples + catalog.held_back:
        assert (type_of.get(head), type_of.get(tail)) == ENDPOINT_TYPES[rel], (head, rel, tail)


def test_every_product_has_one_brand_and_one_leaf_category(catalog):
    all_triples = catalog.triples + catalog.held_back
    parents = {h for h, r, t in all_triples if r == "SUBCATEGORY_OF"} | {
        t for h, r, t in all_triples if r == "SUBCATEGORY_OF"}
    children_of = Counter(t for h, r, t in all_triples if r == "SUBCATEGORY_OF")
    for rel in ("HAS_BRAND", "IN_CATEGORY"):
        heads = Counter(h for h, r, t in all_triples if r == rel)
        assert len(heads) == 600 and set(heads.values()) == {1}
    leaves = {t for h, r, t in all_triples if r == "IN_CATEGORY"}
    assert leaves <= parents and not any(children_of[c] for c in leaves)


def test_held_back_disjoint_from_loaded_and_without_duplicates(catalog):
    assert not set(catalog.held_back) & set(catalog.triples)
    assert len(set(catalog.triples)) == len(catalog.triples)
    assert len(set(catalog.held_back)) == len(catalog.held_back)
    # product links are stored once per unordered pair, so a held-back link is not loaded the other way round
    loaded = {(h, r, t) for h, r, t in catalog.triples}
    assert not any((t, r, h) in loaded for h, r, t in catalog.held_back if r in PRODUCT_LINKS)


@pytest.mark.parametrize("ratio, link_ratio", [(0.15, 0.10), (0.3, 0.2), (0.0, 0.0)])
def test_held_back_ratios(ratio, link_ratio):
    cat = generate_catalog(seed=11, held_back_ratio=ratio, link_held_back_ratio=link_ratio)
    loaded = Counter(r for _, r, _ in cat.triples)
    held = Counter(r for _, r, _ in cat.held_back)
    for rel in ("HAS_BRAND", "IN_CATEGORY"):
        assert held[rel] / (held[rel] + loaded[rel]) == pytest.approx(ratio, abs=0.01)
    links_held = sum(held[r] for r in PRODUCT_LINKS)
    links_all = links_held + sum(loaded[r] for r in PRODUCT_LINKS)
    assert links_all > 1000 and links_held / links_all == pytest.approx(link_ratio, abs=0.01)
    assert held["SUBCATEGORY_OF"] == 0


def test_bad_ratio_is_refused():
    with pytest.raises(ValueError):
        generate_catalog(held_back_ratio=0.6)


@pytest.mark.parametrize("ratio", [0.15, 0.5])
def test_every_product_keeps_a_loaded_edge(ratio):
    cat = generate_catalog(held_back_ratio=ratio, link_held_back_ratio=0.9)
    touched = {h for h, _, _ in cat.triples} | {t for _, _, t in cat.triples}
    assert all(e.id in touched for e in cat.entities if e.type == "Product")


def test_most_but_not_all_titles_mention_their_brand(catalog):
    name_of = {e.id: e.name for e in catalog.entities}
    brand_of = {h: t for h, r, t in catalog.triples + catalog.held_back if r == "HAS_BRAND"}
    mentions = [name_of[b].split()[0].lower() in name_of[p].lower() for p, b in brand_of.items()]
    share = sum(mentions) / len(mentions)
    assert 0.5 <= share <= 0.95, share


def test_product_links_follow_structure(catalog):
    """Links must carry signal: co-viewed products share a kind, bought-together ones often share a brand."""
    all_triples = catalog.triples + catalog.held_back
    brand_of = {h: t for h, r, t in all_triples if r == "HAS_BRAND"}
    leaf_of = {h: t for h, r, t in all_triples if r == "IN_CATEGORY"}
    parent = {h: t for h, r, t in all_triples if r == "SUBCATEGORY_OF"}

    def kind(p):  # a third-level leaf's parent, else the leaf itself (departments have no parent)
        leaf = leaf_of[p]
        return parent[leaf] if parent[leaf] in parent else leaf

    viewed = [(h, t) for h, r, t in all_triples if r == "ALSO_VIEWED"]
    assert all(kind(h) == kind(t) for h, t in viewed)
    bought = [(h, t) for h, r, t in all_triples if r == "BOUGHT_TOGETHER"]
    assert sum(brand_of[h] == brand_of[t] for h, t in bought) / len(bought) > 0.3


def test_write_dataset_round_trip(catalog, tmp_path):
    write_dataset(catalog, tmp_path)
    assert not (tmp_path / "triples_valid.tsv").exists()

    def rows(name, width):
        lines = (tmp_path / name).read_text(encoding="utf-8").splitlines()
        parsed = [line.split("\t") for line in lines]
        assert all(len(p) == width for p in parsed)
        return parsed

    entities = rows("entities.tsv", 4)
    assert Counter(p[3] for p in entities) == Counter(e.type for e in catalog.entities)
    assert [p[0] for p in entities] == [e.id for e in catalog.entities]
    assert [tuple(p) for p in rows("triples_train.tsv", 3)] == catalog.triples
    assert [tuple(p) for p in rows("held_back.tsv", 3)] == catalog.held_back
