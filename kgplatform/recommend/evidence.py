"""Why an item is recommended: the strongest short graph path from the user to it, as one readable line.

Pure (RecData and tensors in, strings out). For each (user, recommended item R), in order of preference:

1. a KG entity that one of the user's items A and R share through the same relation and direction, the most
   specific one (the fewest items attached to it that way) winning:
   ``user:U -[:PURCHASED]-> item:A "Buds" -[:HAS_BRAND]-> entity:b:1 "Sonique" <-[:HAS_BRAND]- item:R "Cable"``;
2. a direct KG link between one of the user's items and R: ``... item:A -[:BOUGHT_TOGETHER]-> item:R``;
3. another two-hop KG path, through an entity reached by different relations (most specific first);
4. the user's item most similar to R by item_vectors (cosine);
5. "popular".

Ties break on relation name, then entity ids (a user's item of smallest id first), so the same inputs give the same
strings. Cost: the KG adjacency is built once per call (int-keyed dicts over the triples that touch an item), each
user's neighbour map once per user (O(the user's items x their degree)), then each recommendation is one look-up
per neighbour of R; the similarity fallback is one batched product per group of users. Measured on synthetic
lastfm-size data (48k items, 464k triples, 23k users x 40 items, 460k recommendations, 64-dim vectors) on this
2-core machine under load: about 30 s for all 460k.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import torch

from kgplatform.recommend.data import RecData

MAX_EVIDENCE = 500  # characters (graph/recommendations.py stores no more)
MAX_NAME = 60
OUT, IN = 0, 1  # direction of a KG triple seen from the item: item -[r]-> entity (OUT), entity -[r]-> item (IN)


class _KgIndex:
    """Item -> its KG neighbours as int keys (relation, direction, entity), sorted by relation name, direction and
    entity id; and how many items share each key. Int keys hash fast: the per-user maps are built from them."""

    def __init__(self, data: RecData):
        self.rels = max(1, len(data.rel_names))
        pairs: dict[int, list[int]] = defaultdict(list)
        if data.kg.numel():
            for h, r, t in data.kg.tolist():
                if h < data.num_items:
                    pairs[h].append(self.key(r, OUT, t))
                if t < data.num_items:
                    pairs[t].append(self.key(r, IN, h))
        ids, rels = data.entity_ids, data.rel_names
        self.keys: dict[int, list[int]] = {}
        self.entities: dict[int, list[int]] = {}  # item -> its keys' entities, in the same order
        self.items_per_key: Counter = Counter()
        for item, keys in pairs.items():
            decoded = sorted((self.decode(k) for k in set(keys)), key=lambda x: (rels[x[0]], x[1], ids[x[2]]))
            self.keys[item] = [self.key(*x) for x in decoded]
            self.entities[item] = [x[2] for x in decoded]
            self.items_per_key.update(self.keys[item])

    def key(self, rel: int, direction: int, entity: int) -> int:
        return (entity * self.rels + rel) * 2 + direction

    def decode(self, key: int) -> tuple[int, int, int]:
        """(relation, direction, entity)"""
        return (key // 2) % self.rels, key % 2, key // (2 * self.rels)

    def first_key_to(self, item: int, entity: int) -> tuple[int, int, int]:
        """The item's first (by relation name, direction) neighbour that is entity, decoded."""
        return next(self.decode(k) for k, e in zip(self.keys[item], self.entities[item]) if e == entity)


def _clean(text: str, limit: int) -> str:
    text = " ".join(str(text).replace('"', "'").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Formatter:
    def __init__(self, data: RecData):
        self.data = data
        self._nodes: dict[int, str] = {}

    def node(self, entity: int) -> str:
        if entity not in self._nodes:
            self._nodes[entity] = self._node(entity)
        return self._nodes[entity]

    def _node(self, entity: int) -> str:
        data = self.data
        ident = _clean(data.entity_ids[entity], 80)
        kind = "item" if entity < data.num_items else "entity"
        lines = str(data.entity_text[entity] or "").strip().splitlines()
        name = _clean(lines[0], MAX_NAME) if lines else ""
        return f'{kind}:{ident} "{name}"' if name and name != ident else f"{kind}:{ident}"

    def step(self, rel: int, forward: bool) -> str:
        name = _clean(self.data.rel_names[rel], 60)
        return f" -[:{name}]-> " if forward else f" <-[:{name}]- "

    def user(self, label: str, behaviour: str, item: int) -> str:
        return f"user:{_clean(label, 80)} -[:{behaviour}]-> {self.node(item)}"


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_EVIDENCE else text[: MAX_EVIDENCE - 1] + "…"


def _behaviours(data: RecData, users: set[int]) -> dict[tuple[int, int], int]:
    """(user, item) -> behaviour code of the pair's last logged interaction, for these users only."""
    if not users or not data.interactions.numel():
        return {}
    mask = torch.isin(data.interactions[:, 0], torch.tensor(sorted(users), dtype=torch.long))
    pairs = data.interactions[mask].tolist()
    codes = data.behaviour[mask].tolist()
    return {(u, i): b for (u, i), b in zip(pairs, codes)}


def _popularity(data: RecData) -> list[int]:
    """Users per item: over the train split's pairs, or over every interaction when no split is marked train."""
    pairs = data.train_pairs()
    if not pairs.numel():
        pairs = torch.unique(data.interactions, dim=0) if data.interactions.numel() else pairs
    if not pairs.numel():
        return [0] * data.num_items
    return torch.bincount(pairs[:, 1], minlength=data.num_items).tolist()


def _most_similar(vectors: torch.Tensor, user_items: dict[int, list[int]],
                  asked: list[tuple[int, int]]) -> list[tuple[int, float] | None]:
    """For each (user, item) of asked: (the user's item with the highest cosine to it, that cosine; the first such
    item on a tie), or None for a user without items. Users with similar numbers of items are batched into one
    padded product [users, asked items, user items], so the cost is one gather per item, not per pair."""
    by_user: dict[int, list[int]] = defaultdict(list)
    for n, (user, _) in enumerate(asked):
        by_user[user].append(n)
    out: list[tuple[int, float] | None] = [None] * len(asked)
    users = sorted((u for u in by_user if user_items.get(u)), key=lambda u: len(user_items[u]))
    budget = 2 ** 22  # floats of the padded user-item block per batch
    start = 0
    while start < len(users):
        stop, widest = start, 1
        while stop < len(users):  # users are sorted by item count: the batch's last one is its widest
            width = len(user_items[users[stop]])
            if stop > start and (stop - start + 1) * width * vectors.shape[1] > budget:
                break
            widest, stop = width, stop + 1
        batch = users[start:stop]
        tallest = max(len(by_user[u]) for u in batch)
        items = torch.zeros(len(batch), widest, dtype=torch.long)
        valid = torch.zeros(len(batch), widest, dtype=torch.bool)
        targets = torch.zeros(len(batch), tallest, dtype=torch.long)
        for b, u in enumerate(batch):
            mine = user_items[u]
            items[b, :len(mine)] = torch.tensor(mine, dtype=torch.long)
            valid[b, :len(mine)] = True
            targets[b, :len(by_user[u])] = torch.tensor([asked[n][1] for n in by_user[u]], dtype=torch.long)
        sims = torch.bmm(vectors[targets], vectors[items].transpose(1, 2))
        best = sims.masked_fill(~valid.unsqueeze(1), -2.0).max(dim=2)  # first maximal index on ties
        values, where = best.values.tolist(), best.indices.tolist()
        for b, u in enumerate(batch):
            for j, n in enumerate(by_user[u]):
                out[n] = (user_items[u][where[b][j]], values[b][j])
        start = stop
    return out


@dataclass
class EvidenceContext:
    """What every call over the same data shares: built once, reused (the serving API explains per request)."""

    index: _KgIndex
    fmt: _Formatter
    popularity: list[int]


def evidence_context(data: RecData) -> EvidenceContext:
    return EvidenceContext(_KgIndex(data), _Formatter(data), _popularity(data))


def explain_recommendations(data: RecData, user_items: dict[int, list[int]], recs: list[tuple[int, int]],
                            item_vectors: torch.Tensor | None, *, context: EvidenceContext | None = None,
                            user_labels: dict[int, str] | None = None,
                            behaviours: dict[tuple[int, int], int] | None = None) -> list[str]:
    """One evidence string (at most 500 characters) per (user index, recommended item index) of recs, in order.

    user_items: each user's items (the interactions the model saw); item_vectors: [num_items, d] item vectors (text
    or learned) for the similarity fallback, or None. For people the data does not hold (the serving API's new
    users), user_labels names them and behaviours gives (user, item) -> behaviour code; by default both come from
    the data.
    """
    if not recs:
        return []
    recs = [(int(u), int(i)) for u, i in recs]
    user_items = {int(u): list(dict.fromkeys(int(i) for i in items)) for u, items in user_items.items()}
    context = context or evidence_context(data)
    index, fmt = context.index, context.fmt
    ids, rels = data.entity_ids, data.rel_names
    by_user: dict[int, list[int]] = defaultdict(list)
    for n, (user, _item) in enumerate(recs):
        by_user[user].append(n)
    behaviour_of = behaviours if behaviours is not None else _behaviours(data, set(by_user))
    user_labels = user_labels or {}

    def label(user: int) -> str:
        return user_labels[user] if user in user_labels else data.user_ids[user]
    default_behaviour = data.behaviour_names[0] if data.behaviour_names else "INTERACTED"

    out: list[str] = [""] * len(recs)
    unexplained: list[int] = []  # recs without a KG path: the similarity / popularity fallbacks
    for user, positions in by_user.items():
        items = user_items.get(user, [])
        item_set = set(items)

        def behaviour(item: int, user: int = user) -> str:
            code = behaviour_of.get((user, item))
            name = data.behaviour_names[code] if code is not None else default_behaviour
            return _clean(name, 40)

        # what the user's items reach, each by the item of smallest id (later updates win: go largest id first)
        same: dict[int, int] = {}  # neighbour key -> item
        anyrel: dict[int, int] = {}  # entity -> item
        for a in sorted(items, key=ids.__getitem__, reverse=True):
            if a in index.keys:
                same.update(dict.fromkeys(index.keys[a], a))
                anyrel.update(dict.fromkeys(index.entities[a], a))

        for n in positions:
            target = recs[n][1]
            target_keys = index.keys.get(target, ())
            target_entities = index.entities.get(target, ())
            same_best = direct = other = None
            # 1. a neighbour shared through the same relation and direction, the most specific first
            for key in [k for k in target_keys if k in same]:
                a, (r, d, e) = same[key], index.decode(key)
                if a != target and e != a and e != target:
                    rank = (index.items_per_key[key], rels[r], ids[e], ids[a])
                    if same_best is None or rank < same_best[0]:
                        same_best = (rank, a, r, d, e)
            if same_best is None:  # 2. a KG link between one of the user's items and the target
                for key in [k for k, e in zip(target_keys, target_entities) if e in item_set]:
                    r, d, e = index.decode(key)
                    rank = (rels[r], ids[e], d)
                    if e != target and (direct is None or rank < direct[0]):
                        direct = (rank, e, r, d)
            if same_best is None and direct is None:  # 3. a two-hop path through an entity, other relations
                for key in [k for k, e in zip(target_keys, target_entities) if e in anyrel]:
                    r, d, e = index.decode(key)
                    a = anyrel[e]
                    if a != target and e != target:
                        rank = (index.items_per_key[key], rels[r], ids[e], ids[a])
                        if other is None or rank < other[0]:
                            r1, d1, _ = index.first_key_to(a, e)
                            other = (rank, a, r1, d1, r, d, e)
            if same_best is not None:
                _, a, r, d, e = same_best
                text = (fmt.user(label(user), behaviour(a), a) + fmt.step(r, d == OUT) + fmt.node(e)
                        + fmt.step(r, d == IN) + fmt.node(target))
                out[n] = _bounded(text)
                continue
            if direct is not None:
                _, a, r, d = direct  # d: seen from the target; IN means a -[r]-> target
                out[n] = _bounded(fmt.user(label(user), behaviour(a), a) + fmt.step(r, d == IN) + fmt.node(target))
                continue
            if other is not None:
                _, a, r1, d1, r2, d2, e = other
                text = (fmt.user(label(user), behaviour(a), a) + fmt.step(r1, d1 == OUT) + fmt.node(e)
                        + fmt.step(r2, d2 == IN) + fmt.node(target))
                out[n] = _bounded(text)
                continue
            unexplained.append(n)

    similar: list = [None] * len(unexplained)
    if item_vectors is not None and unexplained:  # 4. the most similar item the user interacted with
        vectors = torch.nn.functional.normalize(item_vectors.detach().to("cpu", torch.float32), dim=-1)
        similar = _most_similar(vectors, user_items, [recs[n] for n in unexplained])
    popularity = context.popularity
    for n, found in zip(unexplained, similar):
        if found is not None:
            out[n] = _bounded(f"most similar item you interacted with: {fmt.node(found[0])} (cosine {found[1]:.2f})")
            continue
        target = recs[n][1]  # 5. popularity
        count = popularity[target] if target < len(popularity) else 0
        noun = "user" if count == 1 else "users"
        out[n] = _bounded(f"popular: {count} {noun} interacted with {fmt.node(target)}")
    return out
