from collections import Counter

import pytest

from kgplatform.demo.catalog import generate_catalog
from kgplatform.demo.people import generate_people, product_facts, write_log
from kgplatform.ingest.behaviour import parse_interaction_log


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog()


@pytest.fixture(scope="module")
def people(catalog):
    return generate_people(catalog)


def test_same_seed_same_people_and_different_seed_differs(catalog, people):
    assert generate_people(catalog) == people
    other = generate_people(catalog, seed=8)
    assert other.people != people.people and other.rows != people.rows


def test_sizes_and_history_lengths(people):
    assert len(people.people) == 300 and len({p.id for p in people.people}) == 300
    per_person = people.by_person()
    assert set(per_person) == {p.id for p in people.people}
    assert all(4 <= len(rows) <= 12 for rows in per_person.values())  # >= 3: test, valid and something to learn
    assert all(1 <= len(p.kinds) <= 2 and 1 <= len(p.brands) <= 2 for p in people.people)


def test_every_item_is_a_product_of_the_catalog_and_met_once(catalog, people):
    products = {e.id for e in catalog.entities if e.type == "Product"}
    for rows in people.by_person().values():
        items = [r.item for r in rows]
        assert set(items) <= products and len(items) == len(set(items))


def test_time_increases_and_the_latest_is_the_held_back_purchase(people):
    for user, rows in people.by_person().items():
        times = [r.timestamp for r in rows]
        assert all(a < b for a, b in zip(times, times[1:])), user
        assert rows[-1].type == "PURCHASED" and people.held_back[user] == rows[-1].item
    types = Counter(r.type for r in people.rows)
    assert set(types) == {"PURCHASED", "VIEWED"} and 0.1 < types["VIEWED"] / len(people.rows) < 0.3


def test_tastes_show_in_what_people_buy(catalog, people):
    facts = product_facts(catalog)
    liked = {p.id: p for p in people.people}

    def matches(user, item):
        brand, kind = facts[item]
        return brand in liked[user].brands or kind in liked[user].kinds

    share = sum(matches(r.user, r.item) for r in people.rows) / len(people.rows)
    assert 0.7 < share < 0.95  # mostly tastes, some popularity noise
    held = sum(matches(u, i) for u, i in people.held_back.items()) / len(people.held_back)
    assert held > 0.7  # so the held-back purchase is predictable from the rest
    # a random person-item pairing would match far less often
    shuffled = list(people.held_back.values())[1:] + list(people.held_back.values())[:1]
    assert sum(matches(u, i) for u, i in zip(people.held_back, shuffled)) / len(shuffled) < 0.3


def test_popularity_is_skewed_but_not_everything(people):
    counts = Counter(r.item for r in people.rows)
    top = sum(n for _, n in counts.most_common(30)) / len(people.rows)
    assert 0.1 < top < 0.5 and len(counts) > 300


def test_log_round_trips_through_the_ingest_parser(people, tmp_path):
    path = write_log(people, tmp_path / "people.jsonl")
    parsed = parse_interaction_log(path)
    assert [(r.user, r.item, r.type, r.timestamp) for r in parsed] == [
        (r.user, r.item, r.type, r.timestamp) for r in people.rows]


def test_too_few_interactions_is_refused(catalog):
    with pytest.raises(ValueError):
        generate_people(catalog, min_interactions=2)
