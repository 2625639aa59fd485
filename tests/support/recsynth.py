"""A planted recommendation world for tests: people in taste groups, each group buying one brand's products.

The brand is only visible through the KG (HAS_BRAND), so a model that uses the graph can recommend a product no one
has bought yet (cold) to the people who like its brand, and every model can beat random on the held-out buys.
"""

from __future__ import annotations

import random

import torch

from kgplatform.recommend.data import RecData
from kgplatform.snapshot import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALID


def planted_world(*, groups: int = 4, users_per_group: int = 15, items_per_group: int = 12, buys: int = 6,
                  cold_per_group: int = 2, seed: int = 0) -> dict:
    """{"users": [...], "items": [...], "brands": [...], "kg": [(item, 'HAS_BRAND', brand)],
    "interactions": {split: [(user, item)]}, "cold": [item ids never bought in train]}."""
    rng = random.Random(seed)
    users, items, brands, kg, cold = [], [], [], [], []
    interactions = {"train": [], "valid": [], "test": []}
    for g in range(groups):
        brand = f"brand:{g}"
        brands.append(brand)
        group_items = [f"item:{g}:{k}" for k in range(items_per_group)]
        items += group_items
        kg += [(i, "HAS_BRAND", brand) for i in group_items]
        warm, group_cold = group_items[:-cold_per_group], group_items[-cold_per_group:]
        cold += group_cold
        for k in range(users_per_group):
            user = f"user:{g}:{k}"
            users.append(user)
            chosen = rng.sample(warm, buys)
            interactions["train"] += [(user, i) for i in chosen[:-2]]
            interactions["valid"].append((user, chosen[-2]))
            interactions["test"].append((user, rng.choice(group_cold) if k % 3 == 0 else chosen[-1]))
    return {"users": users, "items": items, "brands": brands, "kg": kg, "interactions": interactions, "cold": cold}


def planted_recdata(**kwargs) -> RecData:
    world = planted_world(**kwargs)
    entities = world["items"] + world["brands"]
    index = {e: i for i, e in enumerate(entities)}
    users = {u: j for j, u in enumerate(world["users"])}
    rows, split = [], []
    for name, code in (("train", SPLIT_TRAIN), ("valid", SPLIT_VALID), ("test", SPLIT_TEST)):
        for u, i in world["interactions"][name]:
            rows.append((users[u], index[i]))
            split.append(code)
    return RecData(user_ids=world["users"], entity_ids=entities, num_items=len(world["items"]),
                   entity_text=[f"product {e}" if e.startswith("item") else e for e in entities],
                   rel_names=["HAS_BRAND"], kg=torch.tensor([(index[h], 0, index[t]) for h, _, t in world["kg"]]),
                   interactions=torch.tensor(rows), split=torch.tensor(split))


def planted_folder_files(**kwargs) -> dict[str, list[str]]:
    """The same world in the shared recommendation layout (string ids, 2-column interactions)."""
    world = planted_world(**kwargs)
    entities = [f"{i}\tProduct {i}\t\tProduct\t" for i in world["items"]]
    entities += [f"{b}\tBrand {b}\t\tBrand\t" for b in world["brands"]]
    return {
        "entities.tsv": entities,
        "items.tsv": [f"{i}\t{i}\tProduct {i}\t\t" for i in world["items"]],
        "relations.tsv": ["HAS_BRAND\thas brand"],
        "kg.tsv": [f"{h}\t{r}\t{t}" for h, r, t in world["kg"]],
        **{f"interactions_{s}.tsv": [f"{u}\t{i}" for u, i in rows] for s, rows in world["interactions"].items()},
    }


def new_buys(*, other_group: bool, per_user: int, timestamp: int | None = None, **kwargs) -> list:
    """Behaviour after the world's log (ingest.behaviour.BehaviourRow, type INTERACTED): per user, ``per_user``
    items it never had, of its own taste group (what a model of the world expects) or of the next group (what it
    does not)."""
    from kgplatform.ingest.behaviour import BehaviourRow

    world = planted_world(**kwargs)
    groups = len(world["brands"])
    had = {pair for rows in world["interactions"].values() for pair in rows}
    rows = []
    for user in world["users"]:
        group = int(user.split(":")[1])
        target = (group + 1) % groups if other_group else group
        unseen = [i for i in world["items"] if i.startswith(f"item:{target}:") and (user, i) not in had]
        rows += [BehaviourRow(user=user, item=i, timestamp=timestamp) for i in unseen[:per_user]]
    return rows
