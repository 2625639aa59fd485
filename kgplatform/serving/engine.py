"""What the API computes, from one trained recommender held in memory: no store, no HTTP.

- recommendations: the user's vector (the batch vector, or folded in from their current items when they have
  behaviour newer than the model, or are new), scored against every item through the item index, minus what the
  user already has;
- similar items: cosine in the model's item space (exact: one product over the catalogue);
- keyword search: the query's text vector against item text, plus a bonus for items linked in the graph to the
  entities the query names (brands, categories: the entity linker's phrase matcher);
- keyword recommendations: search candidates and the user's (or, without a user, the search hits' own) model
  scores, each standardised over the candidates and summed;
- new items: placed by fold-in (text and KG edges) and appended to the catalogue and the index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from kgplatform.recommend.data import RecData
from kgplatform.recommend.evidence import EvidenceContext, evidence_context, explain_recommendations
from kgplatform.recommend.foldin import FoldIn, fold_in_basis, fold_in_user, new_item_vector
from kgplatform.recommend.model import KGRecommender
from kgplatform.serving.ann import ItemIndex
from kgplatform.serving.catalog import Catalog
from kgplatform.text.linking import Matcher, build_matcher, find_mentions
from kgplatform.textnorm import name_of

Encode = Callable[[list[str]], np.ndarray]  # unit-length text vectors, one row per text
MakeIndex = Callable[[np.ndarray, np.ndarray], tuple[ItemIndex, dict]]  # (item vectors, sample queries)
LINK_BONUS = 0.3  # search: added to the text cosine for an item linked to every entity the query names
SEARCH_POOL = 200  # keyword recommendations: candidates drawn from the search and from the model each


@dataclass
class NewItem:
    id: str
    text: str
    edges: list[tuple[str, str, bool]]  # (relationship type, other entity id, True when the item is the head)


@dataclass
class ServingModel:
    run_id: str
    model_name: str
    model: KGRecommender
    basis: FoldIn
    data: RecData
    users: dict[str, int]
    user_vectors: np.ndarray  # [U, d]
    history: list[np.ndarray]  # per known user: their distinct items in the model's data
    entity_rows: dict[str, int]  # every entity of the data -> its index
    linked_items: dict[int, np.ndarray]  # entity index -> items with a KG edge to it
    linked_entities: dict[int, np.ndarray]  # entity index -> non-item entities with a KG edge to it
    matcher: Matcher
    popularity: np.ndarray  # users per item in the model's data
    evidence: EvidenceContext
    index: ItemIndex
    index_report: dict


def build_serving_model(run_id: str, model_name: str, model: KGRecommender, data: RecData,
                        item_text: np.ndarray, make_index: MakeIndex) -> tuple[ServingModel, Catalog]:
    """The model and its catalogue as loaded (the catalogue then grows beside it: the service keeps the pair).
    item_text: unit-length text vectors of the data's items [num_items, t] (t = 0: no keyword search)."""
    basis = fold_in_basis(model, data)
    pairs = torch.unique(data.interactions, dim=0) if len(data.interactions) else data.interactions
    history = [np.empty(0, dtype=np.int64)] * data.num_users
    for user, items in _group(pairs).items():
        history[user] = items
    users_final = basis.users_final.numpy().astype(np.float32)
    vectors = basis.items_final.numpy().astype(np.float32)
    sample = users_final[np.random.default_rng(0).permutation(len(users_final))[:1000]]
    index, report = make_index(vectors, sample)
    names = [name_of(t) for t in data.entity_text]
    catalog = Catalog.of(data.entity_ids[: data.num_items], names[: data.num_items], vectors, item_text)
    served = ServingModel(
        run_id=run_id, model_name=model_name, model=model, basis=basis, data=data,
        users={u: i for i, u in enumerate(data.user_ids)}, user_vectors=users_final, history=history,
        entity_rows={e: i for i, e in enumerate(data.entity_ids)}, linked_items=_linked_items(data),
        linked_entities=_linked_entities(data),
        matcher=build_matcher(dict(enumerate(names))),
        popularity=np.bincount(pairs[:, 1].numpy(), minlength=data.num_items) if len(pairs)
        else np.zeros(data.num_items, dtype=np.int64),
        evidence=evidence_context(data), index=index, index_report=report)
    return served, catalog


def _group(pairs: torch.Tensor) -> dict[int, np.ndarray]:
    if not len(pairs):
        return {}
    order = torch.argsort(pairs[:, 0], stable=True)
    users, items = pairs[order, 0].numpy(), pairs[order, 1].numpy()
    cuts = np.flatnonzero(np.diff(users)) + 1
    return {int(u[0]): i for u, i in zip(np.split(users, cuts), np.split(items, cuts))}


def _linked_entities(data: RecData) -> dict[int, np.ndarray]:
    if not len(data.kg):
        return {}
    pairs = data.kg[:, [0, 2]]
    pairs = pairs[(pairs >= data.num_items).all(1)]
    return {e: np.unique(others) for e, others in _group(torch.cat([pairs, pairs.flip(1)])).items()}


def linked_to(sm: ServingModel, entity: int) -> tuple[np.ndarray, np.ndarray]:
    """(items one KG edge from the entity (itself when it is an item), items two edges away through another
    non-item entity: a named category reaches the products of its subcategories)."""
    direct = sm.linked_items.get(entity, np.empty(0, dtype=np.int64))
    if entity < sm.data.num_items:
        direct = np.append(direct, entity)
    around = [sm.linked_items.get(int(e), np.empty(0, dtype=np.int64))
              for e in sm.linked_entities.get(entity, ())]
    return np.unique(direct), np.setdiff1d(np.concatenate(around) if around else direct[:0], direct)


def _linked_items(data: RecData) -> dict[int, np.ndarray]:
    if not len(data.kg):
        return {}
    heads, tails = data.kg[:, 0], data.kg[:, 2]
    rows = torch.cat([torch.stack([tails, heads], 1)[heads < data.num_items],
                      torch.stack([heads, tails], 1)[tails < data.num_items]])
    return {e: np.unique(items) for e, items in _group(rows).items()}


# ---- users ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UserView:
    vector: np.ndarray | None  # None: nothing to go on
    known: set[int]  # catalogue rows the user has (never recommended back)
    model_items: list[int]  # of those, the ones the model propagated (evidence starts from them)
    basis: str  # 'model' (the batch vector), 'folded-in' (behaviour newer than the model, or a new user), 'none'


def user_view(sm: ServingModel, catalog: Catalog, user_id: str, live_items: list[str]) -> UserView:
    """The user's vector now: the batch vector while nothing new happened, else folded in from every item they have
    (the model's data plus behaviour recorded since). Items newer than the model have no propagation layers: they
    count through their own vectors only when the user has nothing else."""
    u = sm.users.get(user_id)
    history = set(sm.history[u].tolist()) if u is not None else set()
    live = {r for r in map(catalog.row, live_items) if r is not None}
    known = history | live
    model_items = sorted(r for r in known if not catalog.is_new(r))
    if u is not None and live <= history:
        return UserView(sm.user_vectors[u], known, model_items, "model")
    if model_items:
        vector = fold_in_user(sm.basis, torch.tensor(model_items), u).numpy()
    elif known:
        vector = catalog.vectors[sorted(known)].mean(0)
    elif u is not None:
        vector = sm.user_vectors[u]
    else:
        return UserView(None, known, model_items, "none")
    return UserView(vector.astype(np.float32), known, model_items, "folded-in")


# ---- ranking -----------------------------------------------------------------------------------------------------

def rank(sm: ServingModel, catalog: Catalog, vector: np.ndarray, exclude: set[int], k: int) -> list[tuple[int, float]]:
    """The k best (row, score) by inner product, none of them excluded; through the item index, exact when the
    index returns too few after exclusion."""
    want = min(k + len(exclude), catalog.size)
    if want <= 0:
        return []
    scores, ids = sm.index.search(vector.reshape(1, -1).astype(np.float32), want)
    found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if 0 <= i < catalog.size and int(i) not in exclude]
    if len(found) >= k or len(found) >= catalog.size - len(exclude):
        return found[:k]
    return exact_rank(catalog.vectors @ vector, exclude, k)


def exact_rank(scores: np.ndarray, exclude: set[int], k: int) -> list[tuple[int, float]]:
    scores = scores.astype(np.float32, copy=True)
    if exclude:
        scores[list(exclude)] = -np.inf
    k = min(k, int(np.isfinite(scores).sum()))
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(i), float(scores[i])) for i in top]


def popular(sm: ServingModel, catalog: Catalog, exclude: set[int], k: int) -> list[tuple[int, float]]:
    counts = np.zeros(catalog.size, dtype=np.float32)
    counts[: len(sm.popularity)] = sm.popularity
    return exact_rank(counts, exclude, k)


def evidence_for(sm: ServingModel, catalog: Catalog, user_id: str, view: UserView, rows: list[int]) -> list[str]:
    """Graph-path evidence (kgplatform/recommend/evidence.py) for items the model knows; a new item says so."""
    key = sm.users.get(user_id, -1)
    old = [r for r in rows if not catalog.is_new(r)]
    found = explain_recommendations(
        sm.data, {key: view.model_items}, [(key, r) for r in old],
        torch.from_numpy(catalog.vectors[: sm.data.num_items]), context=sm.evidence,
        user_labels={key: user_id}, behaviours=None if key >= 0 else {}) if old else []
    by_row = dict(zip(old, found))
    return [by_row.get(r, "new product (no behaviour yet): placed by its text and graph links") for r in rows]


def item_rows(catalog: Catalog, ranked: list[tuple[int, float]]) -> list[dict]:
    return [{"item": catalog.ids[r], "name": catalog.names[r], "score": round(s, 6), "rank": n}
            for n, (r, s) in enumerate(ranked, start=1)]


def similar_items(catalog: Catalog, row: int, k: int) -> list[tuple[int, float]]:
    """Cosine neighbours in the model's item space (exact: one product over the catalogue)."""
    vectors = catalog.vectors
    norms = np.linalg.norm(vectors, axis=1) * max(float(np.linalg.norm(vectors[row])), 1e-12)
    return exact_rank(vectors @ vectors[row] / np.maximum(norms, 1e-12), {row}, k)


# ---- keywords ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueryMatch:
    scores: np.ndarray  # [catalog size]: text cosine + graph bonus
    named: list[str]  # ids of the entities the query names
    linked: np.ndarray  # bool [catalog size]: items linked to a named entity


def match_query(sm: ServingModel, catalog: Catalog, query: str, encode: Encode) -> QueryMatch:
    text = catalog.text
    scores = text @ encode([query])[0].astype(np.float32) if text.shape[1] else np.zeros(catalog.size, np.float32)
    mentions = list(dict.fromkeys(m.tail for m in find_mentions(sm.matcher, query)))
    hits = np.zeros(catalog.size, dtype=np.float32)
    for entity in mentions:
        direct, two_hops = linked_to(sm, entity)
        hits[direct] += 1.0
        hits[two_hops] += 0.5  # one entity further: weaker evidence
    if mentions:
        scores = scores + LINK_BONUS * hits / len(mentions)
    return QueryMatch(scores, [sm.data.entity_ids[e] for e in mentions], hits > 0)


def keyword_recommendations(sm: ServingModel, catalog: Catalog, match: QueryMatch, view: UserView,
                            k: int) -> tuple[list[tuple[int, float]], str]:
    """Search candidates and model candidates, ranked by standardised search score plus standardised model score.
    Without a user vector, the model side is a new user folded in from the best search hits."""
    basis = view.basis
    vector = view.vector
    if vector is None:
        hits = [r for r, _ in exact_rank(match.scores, set(), 10) if not catalog.is_new(r)]
        vector = fold_in_user(sm.basis, torch.tensor(hits, dtype=torch.long)).numpy() if hits else None
        basis = "query"
    pool = {r for r, _ in exact_rank(match.scores, view.known, SEARCH_POOL)}
    if vector is not None:
        pool |= {r for r, _ in rank(sm, catalog, vector, view.known, SEARCH_POOL)}
    rows = np.array(sorted(pool), dtype=np.int64)
    if not len(rows):
        return [], basis
    combined = _standard(match.scores[rows])
    if vector is not None:
        combined = combined + _standard(catalog.vectors[rows] @ vector)
    order = np.argsort(-combined, kind="stable")[:k]
    return [(int(rows[i]), float(combined[i])) for i in order], basis


def _standard(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / max(float(x.std()), 1e-6)


# ---- new items ---------------------------------------------------------------------------------------------------

def add_items(sm: ServingModel, catalog: Catalog, items: list[NewItem], encode: Encode) -> Catalog:
    """The catalogue with these items folded in (text and KG edges to entities the model knows) and added to the
    item index. Ids already in the catalogue are skipped. The caller serialises calls (one writer)."""
    items = [it for it in dict((it.id, it) for it in items).values() if catalog.row(it.id) is None]
    if not items:
        return catalog
    needs_text = catalog.text.shape[1] > 0 or sm.model.text_proj is not None
    text = encode([it.text for it in items]).astype(np.float32) if needs_text else np.zeros((len(items), 0))
    relations = {name: r for r, name in enumerate(sm.data.rel_names)}
    count = sm.model.num_relations
    vectors = []
    for n, item in enumerate(items):
        neighbours = [(relations[rel] + (0 if head else count), sm.entity_rows[other])
                      for rel, other, head in item.edges if rel in relations and other in sm.entity_rows]
        text_vector = torch.from_numpy(text[n]) if sm.model.text_proj is not None else None
        vectors.append(new_item_vector(sm.model, sm.basis, text_vector, neighbours).numpy())
    vectors = np.stack(vectors).astype(np.float32)
    if len(sm.index) != catalog.size:
        raise RuntimeError(f"item index ({len(sm.index)}) and catalogue ({catalog.size}) differ: one writer only")
    grown = catalog.append([it.id for it in items], [name_of(it.text) for it in items], vectors,
                           text if catalog.text.shape[1] else np.zeros((len(items), 0), np.float32))
    sm.index.add(vectors)
    return grown
