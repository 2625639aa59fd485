"""`kgp bench recommend-scale`: a seeded synthetic book catalog of any size, in the shared recommendation layout,
pushed through the real recommendation run (ingest into the store, export, featurize, train, score, write-back)
with each stage's wall-clock and memory.

The catalog (generate_rec_folder) is built to have the skew and the signal of a real one:
- topics (latent tastes, ~sqrt(items)/3 of them) own pools of authors, publishers (the brand), genres, series and
  subjects; an item takes its attributes mostly from its topic's pools, so the KG says which items go together;
- item popularity is a power law (weight 1 / (rank + 10)), user activity a lognormal around the mean (at least
  three interactions each, so every user has a valid and a test item);
- a user has one to three topics; each pick is, in order of chance: from a topic of theirs by popularity, another
  item of an author, series or publisher they already picked (a two-hop KG path), or anything by popularity;
- relations: item -> author / publisher / genre / series / language / format / year / subject, item -> similar
  item, and entity -> entity edges (author -> country and genre, publisher -> country, series -> author,
  genre -> parent genre, subject -> related subject), trimmed or topped up to exactly the asked number of triples;
- items have a title and a one-line description naming their genre, author, publisher, year and subjects;
- interactions are split per user at random: 10 % test and 10 % valid, at least one of each (so users with few
  interactions make it about 77:11.5:11.5 overall at full size).
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kgplatform.progress import ProgressFn

# ---- the synthetic catalog ---------------------------------------------------------------------------------------

RELATIONS = (
    ("WRITTEN_BY", "written by"), ("PUBLISHED_BY", "published by"), ("IN_GENRE", "in genre"),
    ("IN_SERIES", "in series"), ("IN_LANGUAGE", "in language"), ("HAS_FORMAT", "has format"),
    ("PUBLISHED_IN", "published in year"), ("HAS_SUBJECT", "has subject"), ("SIMILAR_TO", "similar to"),
    ("BORN_IN", "born in"), ("WRITES_GENRE", "writes genre"), ("BASED_IN", "based in"),
    ("SERIES_BY", "series by"), ("SUBGENRE_OF", "subgenre of"), ("RELATED_SUBJECT", "related subject"),
)
# Trimmed first when the catalog has more triples than asked: the many-valued relations, then the others.
TRIM_ORDER = ("HAS_SUBJECT", "SIMILAR_TO", "RELATED_SUBJECT", "HAS_FORMAT", "PUBLISHED_IN", "IN_LANGUAGE",
              "IN_SERIES", "SERIES_BY", "WRITES_GENRE", "BORN_IN", "BASED_IN", "SUBGENRE_OF", "IN_GENRE",
              "PUBLISHED_BY", "WRITTEN_BY")
SYLLABLES = ("ka", "lo", "mir", "ven", "sa", "to", "ri", "bel", "an", "dor", "el", "fi", "gan", "hu", "is", "jo",
             "ku", "lem", "mo", "nar", "os", "pe", "qui", "ras", "su", "tal", "ul", "vi", "wen", "xa", "yo", "zed")
TITLE_WORDS = ("river", "night", "garden", "shadow", "empire", "stone", "silver", "winter", "secret", "city",
               "ocean", "fire", "glass", "song", "heart", "wolf", "star", "mirror", "storm", "crown", "harbour",
               "forest", "letter", "bridge", "lantern", "island", "orchard", "machine", "kingdom", "thread")
TOPIC_WORDS = ("mystery", "romance", "history", "science", "fantasy", "travel", "cooking", "business", "poetry",
               "horror", "biography", "children's", "philosophy", "health", "art", "music", "sports", "politics",
               "religion", "technology", "nature", "war", "crime", "humour", "education", "psychology", "law",
               "economics", "design", "adventure")
LANGUAGES = ("English", "Spanish", "German", "French", "Italian", "Portuguese", "Japanese", "Dutch")
FORMATS = ("Paperback", "Hardcover", "Kindle Edition", "Audiobook", "Mass Market Paperback")


@dataclass(frozen=True)
class ScaleSpec:
    users: int = 70_000
    items: int = 25_000
    interactions: int = 850_000
    kg_triples: int = 1_000_000
    seed: int = 0

    def check(self) -> None:
        if self.users < 1 or self.items < 10 or self.kg_triples < 1:
            raise ValueError(f"need at least 1 user, 10 items and 1 KG triple: {self}")
        if not self.users <= self.interactions <= self.users * (self.items // 2):
            raise ValueError(f"interactions must be between users ({self.users}) and users x items/2 "
                             f"({self.users * (self.items // 2)}), got {self.interactions}")


def _name(rng: np.random.Generator, parts: int) -> str:
    return "".join(SYLLABLES[int(x)] for x in rng.integers(len(SYLLABLES), size=parts)).capitalize()


def _topic_pools(rng: np.random.Generator, size: int, topics: int) -> tuple[np.ndarray, list]:
    """(topic of each of `size` entities, entity indices per topic: a pick favours the first ones)."""
    topic_of = rng.integers(topics, size=size)
    topic_of[:topics] = np.arange(min(topics, size))  # every topic owns at least one when there are enough
    pools = [np.flatnonzero(topic_of == t) for t in range(topics)]
    pools = [p if len(p) else rng.integers(size, size=1) for p in pools]
    return topic_of, pools


def _zipf_pick(rng: np.random.Generator, pool: np.ndarray, n: int, skew: float = 1.0) -> np.ndarray:
    """n picks from pool, favouring its first members (weight 1 / (position + 2) ** skew)."""
    weights = 1.0 / (np.arange(len(pool)) + 2.0) ** skew
    cum = np.cumsum(weights)
    return pool[np.minimum(np.searchsorted(cum, rng.random(n) * cum[-1]), len(pool) - 1)]


def _activity(rng: np.random.Generator, spec: ScaleSpec) -> np.ndarray:
    """Interactions per user: at least min(3, mean), lognormal above that, summing to exactly spec.interactions."""
    floor = min(3, spec.interactions // spec.users)
    cap = max(floor, min(spec.items // 2, 5000))
    extra = spec.interactions - floor * spec.users
    raw = rng.lognormal(0.0, 1.0, size=spec.users)
    counts = floor + np.floor(raw / raw.sum() * extra).astype(np.int64)
    counts = np.minimum(counts, cap)
    short = spec.interactions - int(counts.sum())
    while short > 0:  # rounding and the cap: hand the rest out one by one to users below the cap
        open_users = np.flatnonzero(counts < cap)
        chosen = rng.choice(open_users, size=min(short, len(open_users)), replace=False)
        counts[chosen] += 1
        short -= len(chosen)
    return counts


def generate_rec_folder(folder: Path, spec: ScaleSpec, progress: ProgressFn | None = None) -> dict:
    """Write the catalog of spec into folder (entities.tsv, items.tsv, relations.tsv, kg.tsv,
    interactions_{train,valid,test}.tsv, stats.json); returns the stats. Same spec, same files."""
    spec.check()
    rng = np.random.default_rng(spec.seed)
    n_items = spec.items
    topics = max(3, round(math.sqrt(n_items) / 3))
    # entity pools, sized with the catalog
    n_authors, n_publishers = max(topics, n_items // 3), max(topics, n_items // 80)
    n_series, n_subjects = max(topics, n_items // 10), max(topics, n_items // 3)
    n_subgenres, n_countries, n_years = topics * 4, 40, 40
    author_topic, author_pools = _topic_pools(rng, n_authors, topics)
    _, publisher_pools = _topic_pools(rng, n_publishers, topics)
    series_topic, series_pools = _topic_pools(rng, n_series, topics)
    subject_topic, subject_pools = _topic_pools(rng, n_subjects, topics)
    subgenre_pools = [np.arange(t * 4, t * 4 + 4) for t in range(topics)]

    entities: list[str] = []  # entities.tsv lines (every entity but the items)
    names: dict[str, str] = {}

    def entity(kind: str, index: int, name: str, etype: str, description: str = "") -> str:
        ident = f"{kind}:{index}"
        entities.append(f"{ident}\t{name}\t\t{etype}\t{description}")
        names[ident] = name
        return ident

    topic_names = [f"{TOPIC_WORDS[t % len(TOPIC_WORDS)]}" + (f" {t // len(TOPIC_WORDS) + 1}" if t >= len(TOPIC_WORDS)
                                                            else "") for t in range(topics)]
    genres = [entity("genre", t, topic_names[t].capitalize(), "Genre") for t in range(topics)]
    subgenres = [entity("subgenre", s, f"{topic_names[s // 4].capitalize()}: {_name(rng, 2)}", "Genre")
                 for s in range(n_subgenres)]
    authors = [entity("author", a, f"{_name(rng, 2)} {_name(rng, 3)}", "Author") for a in range(n_authors)]
    publishers = [entity("publisher", p, f"{_name(rng, 2)} {('Press', 'Books', 'House', 'Publishing')[p % 4]}",
                         "Publisher") for p in range(n_publishers)]
    series = [entity("series", s, f"The {_name(rng, 3)} {('Saga', 'Chronicles', 'Cycle', 'Files')[s % 4]}",
                     "Series") for s in range(n_series)]
    subjects = [entity("subject", s, f"{TITLE_WORDS[s % len(TITLE_WORDS)]} {_name(rng, 2).lower()}", "Subject")
                for s in range(n_subjects)]
    languages = [entity("language", i, x, "Language") for i, x in enumerate(LANGUAGES)]
    formats = [entity("format", i, x, "Format") for i, x in enumerate(FORMATS)]
    years = [entity("year", y, str(1985 + y), "Year") for y in range(n_years)]
    countries = [entity("country", c, _name(rng, 3), "Country") for c in range(n_countries)]

    # items: a topic each, a global power-law popularity (a random rank), attributes mostly from the topic's pools
    item_topic = rng.integers(topics, size=n_items)
    popularity = 1.0 / (rng.permutation(n_items) + 10.0)
    item_ids = [f"book:{i}" for i in range(n_items)]
    triples: dict[str, list[tuple[str, str]]] = {r: [] for r, _ in RELATIONS}
    item_author = np.empty(n_items, dtype=np.int64)
    item_publisher = np.empty(n_items, dtype=np.int64)
    item_series = np.full(n_items, -1, dtype=np.int64)
    fixed_per_item = 1.15 + 1 + 2 + 0.3 + 1 + 1.3 + 1  # the relations below other than subjects and similar items
    entity_entity = n_authors * 2.5 + n_publishers + n_series + n_subgenres
    related_subjects = int(0.04 * spec.kg_triples)
    rest = max(0.0, spec.kg_triples - fixed_per_item * n_items - entity_entity - related_subjects) / n_items
    subject_mean, similar_mean = 0.6 * rest, 0.4 * rest
    topic_items = [np.flatnonzero(item_topic == t) for t in range(topics)]
    topic_items = [p[np.argsort(-popularity[p])] for p in topic_items]  # most popular first
    titles, descriptions = [], []
    for i in range(n_items):
        t = int(item_topic[i])
        own = rng.random(8)
        item_author[i] = _zipf_pick(rng, author_pools[t], 1)[0] if own[0] < 0.9 else rng.integers(n_authors)
        item_publisher[i] = _zipf_pick(rng, publisher_pools[t], 1)[0] if own[1] < 0.8 else rng.integers(n_publishers)
        item = item_ids[i]
        written = [authors[item_author[i]]] + ([authors[rng.integers(n_authors)]] if own[2] < 0.15 else [])
        triples["WRITTEN_BY"] += [(item, a) for a in dict.fromkeys(written)]
        triples["PUBLISHED_BY"].append((item, publishers[item_publisher[i]]))
        genre_picks = rng.choice(subgenre_pools[t], size=1 + int(own[3] < 0.6) + int(own[3] < 0.3), replace=False)
        triples["IN_GENRE"] += [(item, subgenres[g]) for g in genre_picks]
        if own[4] < 0.3:
            item_series[i] = _zipf_pick(rng, series_pools[t], 1)[0]
            triples["IN_SERIES"].append((item, series[item_series[i]]))
        language = 0 if own[5] < 0.8 else int(rng.integers(len(LANGUAGES)))
        triples["IN_LANGUAGE"].append((item, languages[language]))
        fmts = rng.choice(len(FORMATS), size=1 + int(own[6] < 0.3), replace=False)
        triples["HAS_FORMAT"] += [(item, formats[f]) for f in fmts]
        year = int(rng.integers(n_years))
        triples["PUBLISHED_IN"].append((item, years[year]))
        k = rng.poisson(subject_mean)
        own_subjects = _zipf_pick(rng, subject_pools[t], k, 0.7)
        wide = rng.random(k) < 0.3
        own_subjects[wide] = rng.integers(n_subjects, size=int(wide.sum()))
        picked_subjects = list(dict.fromkeys(int(s) for s in own_subjects))
        triples["HAS_SUBJECT"] += [(item, subjects[s]) for s in picked_subjects]
        k = rng.poisson(similar_mean)
        similar = _zipf_pick(rng, topic_items[t], k, 0.5)
        wide = rng.random(k) < 0.2
        similar[wide] = rng.integers(n_items, size=int(wide.sum()))
        triples["SIMILAR_TO"] += [(item, item_ids[j]) for j in dict.fromkeys(int(x) for x in similar) if j != i]
        title = f"The {TITLE_WORDS[rng.integers(len(TITLE_WORDS))].capitalize()} of {_name(rng, 2)}"
        titles.append(title)
        about = ", ".join(names[subjects[s]] for s in picked_subjects[:3])
        descriptions.append(f"{FORMATS[fmts[0]]} {topic_names[t]} book by {names[authors[item_author[i]]]}, "
                            f"{names[publishers[item_publisher[i]]]}, {1985 + year}"
                            + (f"; about {about}" if about else "") + ".")
        if progress and (i + 1) % 5000 == 0:
            progress("generate items", i + 1, n_items)
    # entity -> entity edges
    for a in range(n_authors):
        triples["BORN_IN"].append((authors[a], countries[rng.integers(n_countries)]))
        t = int(author_topic[a])
        for g in dict.fromkeys(int(x) for x in rng.choice(subgenre_pools[t], size=1 + int(rng.random() < 0.5))):
            triples["WRITES_GENRE"].append((authors[a], subgenres[g]))
    for p in range(n_publishers):
        triples["BASED_IN"].append((publishers[p], countries[rng.integers(n_countries)]))
    for s in range(n_series):
        triples["SERIES_BY"].append((series[s], authors[_zipf_pick(rng, author_pools[int(series_topic[s])], 1)[0]]))
    for g in range(n_subgenres):
        triples["SUBGENRE_OF"].append((subgenres[g], genres[g // 4]))
    heads = rng.integers(n_subjects, size=related_subjects)
    for h in heads:
        tail = _zipf_pick(rng, subject_pools[int(subject_topic[h])], 1)[0]
        if tail != h:
            triples["RELATED_SUBJECT"].append((subjects[h], subjects[tail]))
    kg = _exact_triples(rng, triples, spec.kg_triples, item_ids, subjects, item_topic, subject_pools)

    counts = _activity(rng, spec)
    items = _Items(item_ids, item_topic, popularity, topic_items, item_author, item_publisher, item_series)
    splits = _interactions(rng, spec, counts, items, progress)
    cold = n_items - len({line.split("\t", 1)[1] for line in splits["train"]})

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def write(name: str, lines: list[str]) -> None:
        (folder / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    write("entities.tsv", entities)
    write("items.tsv", [f"{item}\t{item}\t{title}\t\t{description}"
                        for item, title, description in zip(item_ids, titles, descriptions)])
    write("relations.tsv", [f"{r}\t{text}" for r, text in RELATIONS])
    write("kg.tsv", [f"{h}\t{r}\t{t}" for h, r, t in kg])
    for split, lines in splits.items():
        write(f"interactions_{split}.tsv", lines)
    per_relation = {r: 0 for r, _ in RELATIONS}
    for _, r, _ in kg:
        per_relation[r] += 1
    stats = {"spec": asdict(spec), "topics": topics, "users": spec.users, "items": n_items,
             "entities": len(entities) + n_items, "kg_triples": len(kg), "kg_per_relation": per_relation,
             "interactions": {s: len(lines) for s, lines in splits.items()},
             "interactions_per_user": {"min": int(counts.min()), "median": float(np.median(counts)),
                                       "max": int(counts.max())},
             "items_without_train_interactions": cold}
    (folder / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats


@dataclass
class _Items:
    ids: list[str]
    topic: np.ndarray  # topic of each item
    popularity: np.ndarray  # power-law weight of each item
    by_topic: list[np.ndarray]  # each topic's items, most popular first
    author: np.ndarray
    publisher: np.ndarray
    series: np.ndarray  # -1: in no series


def _interactions(rng: np.random.Generator, spec: ScaleSpec, counts: np.ndarray, items: _Items,
                  progress: ProgressFn | None) -> dict[str, list[str]]:
    """split -> 'user\titem' lines: counts[u] distinct items per user, split at random (module docstring)."""
    n_items, topics = len(items.ids), len(items.by_topic)
    by_author, by_publisher, by_series = _groups(items.author), _groups(items.publisher), _groups(items.series)
    topic_weight = np.array([items.popularity[p].sum() for p in items.by_topic])
    topic_cum = [np.cumsum(items.popularity[p]) for p in items.by_topic]
    global_cum = np.cumsum(items.popularity)
    splits: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for u in range(spec.users):
        n = int(counts[u])
        k = 1 + int(rng.random() < 0.5) + int(rng.random() < 0.2)
        mine = rng.choice(topics, size=k, replace=False, p=topic_weight / topic_weight.sum())
        mix = rng.dirichlet(np.ones(k))
        chosen: dict[int, None] = {}
        for _ in range(6):
            want = n - len(chosen)
            if want <= 0:
                break
            kind = rng.random(want)
            picks = np.empty(want, dtype=np.int64)
            topic_of_pick = mine[np.minimum(np.searchsorted(np.cumsum(mix), rng.random(want)), k - 1)]
            for j in range(want):
                if kind[j] < 0.1 or (kind[j] < 0.35 and not chosen):  # anything, by popularity
                    picks[j] = min(int(np.searchsorted(global_cum, rng.random() * global_cum[-1])), n_items - 1)
                elif kind[j] < 0.35:  # another item of an author, series or publisher the user already picked
                    anchor = list(chosen)[int(rng.integers(len(chosen)))]
                    group = (by_series.get(int(items.series[anchor])) if items.series[anchor] >= 0 and kind[j] < 0.2
                             else by_author[int(items.author[anchor])] if kind[j] < 0.28
                             else by_publisher[int(items.publisher[anchor])])
                    picks[j] = group[int(rng.integers(len(group)))] if group is not None else anchor
                else:  # a topic of the user's, by popularity within it
                    t = int(topic_of_pick[j])
                    cum = topic_cum[t]
                    if not len(cum):
                        t = int(rng.integers(topics))
                        cum = topic_cum[t]
                        if not len(cum):
                            picks[j] = int(rng.integers(n_items))
                            continue
                    picks[j] = items.by_topic[t][min(int(np.searchsorted(cum, rng.random() * cum[-1])), len(cum) - 1)]
            chosen.update(dict.fromkeys(int(x) for x in picks))
        if len(chosen) < n:  # a tiny catalog: fill up with random unseen items
            for x in rng.permutation(n_items):
                if len(chosen) >= n:
                    break
                chosen.setdefault(int(x))
        picked = list(chosen)[:n]
        order = rng.permutation(len(picked))
        n_test = max(1, round(0.1 * n)) if n >= 3 else 0
        n_valid = max(1, round(0.1 * n)) if n >= 3 else 0
        user = f"user:{u}"
        for rank, j in enumerate(order):
            split = "test" if rank < n_test else "valid" if rank < n_test + n_valid else "train"
            splits[split].append(f"{user}\t{items.ids[picked[j]]}")
        if progress and (u + 1) % 10000 == 0:
            progress("generate interactions", u + 1, spec.users)
    return splits


def _groups(owner: np.ndarray) -> dict[int, np.ndarray]:
    """owner value -> the items it owns (values < 0 own nothing)."""
    order = np.argsort(owner, kind="stable")
    values, starts = np.unique(owner[order], return_index=True)
    bounds = list(starts[1:]) + [len(order)]
    return {int(v): order[s:e] for v, s, e in zip(values, starts, bounds) if v >= 0}


def _exact_triples(rng: np.random.Generator, triples: dict[str, list[tuple[str, str]]], target: int,
                   item_ids: list[str], subjects: list[str], item_topic: np.ndarray,
                   subject_pools: list[np.ndarray]) -> list[tuple[str, str, str]]:
    """Distinct (head, relation, tail) rows, exactly `target` of them where the catalog allows: trimmed in
    TRIM_ORDER (at random within a relation), or topped up with more item -> subject edges."""
    seen: set[tuple[str, str, str]] = set()
    rows: dict[str, list[tuple[str, str, str]]] = {r: [] for r in triples}
    for r, pairs in triples.items():
        for h, t in pairs:
            key = (h, r, t)
            if key not in seen:
                seen.add(key)
                rows[r].append(key)
    total = sum(len(v) for v in rows.values())
    tries = 0
    while total < target and tries < 20 * target:  # top up: more subjects for random items
        tries += 1
        i = int(rng.integers(len(item_ids)))
        s = int(_zipf_pick(rng, subject_pools[int(item_topic[i])], 1, 0.7)[0])
        key = (item_ids[i], "HAS_SUBJECT", subjects[s])
        if key not in seen:
            seen.add(key)
            rows["HAS_SUBJECT"].append(key)
            total += 1
    for r in TRIM_ORDER:
        if total <= target:
            break
        drop = min(total - target, len(rows[r]))
        keep = np.sort(rng.permutation(len(rows[r]))[: len(rows[r]) - drop])
        rows[r] = [rows[r][j] for j in keep]
        total -= drop
    return [row for r, _ in RELATIONS for row in rows[r]]


# ---- memory ------------------------------------------------------------------------------------------------------

def _rss_kb(pid: int, field: str) -> int | None:
    """VmRSS / VmHWM of a process in kB, from /proc (None where unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class MemorySampler:
    """Peak resident memory per stage, of this process and of the store's server (sampled every `every_s`), plus
    the kernel's own high-water marks (ru_maxrss, the server's VmHWM) at each stage's end."""

    def __init__(self, store_pid: int | None = None, every_s: float = 0.5):
        self.store_pid, self.every_s = store_pid, every_s
        self.peaks = {"self": 0, "store": 0}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = _rss_kb(os.getpid(), "VmRSS") or 0
        store = (_rss_kb(self.store_pid, "VmRSS") or 0) if self.store_pid else 0
        with self._lock:
            self.peaks["self"] = max(self.peaks["self"], me)
            self.peaks["store"] = max(self.peaks["store"], store)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def lap(self) -> dict:
        """This stage's peaks (MB), then start the next stage's."""
        self._sample()
        with self._lock:
            peaks, self.peaks = dict(self.peaks), {"self": 0, "store": 0}
        out = {"self_peak_mb": round(peaks["self"] / 1024, 1)}
        if self.store_pid:
            out["store_peak_mb"] = round(peaks["store"] / 1024, 1)
        return out

    def high_water(self) -> dict:
        """The kernel's peaks so far (MB): this process (ru_maxrss), its waited-for children, the store server."""
        out = {"self_ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
               "children_ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}
        if self.store_pid:
            hwm = _rss_kb(self.store_pid, "VmHWM")
            out["store_vmhwm_mb"] = round(hwm / 1024, 1) if hwm is not None else None
        return out


# ---- the benchmark -----------------------------------------------------------------------------------------------

TARGET_S = 1800.0  # the bar: trains, scores and writes back within 30 min
# The training settings for a catalog of Amazon-Book's size (bench/README.md, "Recommendation at scale"). A step
# propagates over the whole graph (~2M directed KG edges at full size), so it costs about the same whatever the
# batch: a large batch learns the most per second. With ~10 steps per epoch and a few dozen steps in the budget, a
# sampled softmax over 4,096 items learns far more per step than BPR's one negative (measured at full size, 300 s
# each: test Recall@20 0.171 against 0.109, popularity 0.108); 4,096 keeps the [batch, items] logits near 1 GB
# (the model's default 20,000 would need ~5 GB per copy of them). No text: encoding the catalog's 45k entity texts
# with MiniLM takes ~10 of the 30 minutes on this machine. Fields the installed RecConfig lacks are left out.
SCALE_TRAIN = {"behaviour_loss": "softmax", "softmax_items": 4096, "batch_size": 65536, "kg_batch_size": 65536,
               "lr": 0.01, "use_text": False, "eval_every": 1}


def scale_train_config(time_budget: float, overrides: dict | None = None, threads: int = 0):
    """The RecConfig of the benchmark: SCALE_TRAIN (fields the model knows), then overrides, then the budget."""
    from kgplatform.recommend.config import RecConfig

    known = set(RecConfig.model_fields)
    fields = {k: v for k, v in SCALE_TRAIN.items() if k in known}
    fields.update(overrides or {})
    fields["time_budget_s"] = time_budget
    if threads and "threads" not in fields:
        fields["threads"] = threads
    return RecConfig(**fields)


def code_version() -> dict:
    """The commit the benchmark ran on and whether the recommender's code differed from it (another engineer's
    work in progress gets measured too: say so)."""
    import subprocess

    repo = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = git("status", "--porcelain", "--", "kgplatform/recommend", "kgplatform/pipeline", "kgplatform/graph",
                  "kgplatform/ingest", "cypher")
    return {"commit": git("rev-parse", "--short", "HEAD") or None,
            "uncommitted": [line[3:] for line in changed.splitlines()]}


def _store_pid(settings) -> int | None:
    if settings.backend != "falkordb":
        return None
    from kgplatform.graph.store import embedded_server

    try:
        return int(embedded_server(settings).pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _dir_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 2 ** 20, 1)


def popularity_reference(run_dir) -> dict:
    """Test Recall@20 / NDCG@20 of ranking every user's unseen items by train popularity, on the run's own export
    and split: what the run's figures should beat (the catalog has taste signal beyond popularity)."""
    import torch

    from kgplatform.recommend.evaluate import evaluate

    data = run_dir.load_recdata()
    train = data.train_pairs()
    scores = torch.bincount(train[:, 1], minlength=data.num_items).double()
    test = evaluate(lambda users: scores.unsqueeze(0).expand(len(users), -1), data)["test"]
    return {"recall@20": test.get("recall@20"), "ndcg@20": test.get("ndcg@20")}


def run_recommend_scale(settings, spec: ScaleSpec, *, time_budget: float = 600.0, train: dict | None = None,
                        num_shards: int = 1, graph: str | None = None, keep_graph: bool = False,
                        data_dir: Path | None = None, keep_run: bool = False, progress: ProgressFn | None = None,
                        log=print) -> dict:
    """Generate the catalog, ingest it into a fresh graph, run the recommendation steps one by one; returns the
    report: each stage's seconds and memory peaks, the run's test figures, counts, the settings, the verdict."""
    import uuid

    from kgplatform.graph.runs import new_run_id, process_owner
    from kgplatform.graph.store import open_store
    from kgplatform.ingest.load import ingest_rec_layout
    from kgplatform.pipeline import recsteps
    from kgplatform.pipeline.rundir import RunDir
    from kgplatform.pipeline.steps import mark_run
    from kgplatform.recommend.config import RecRunConfig

    if num_shards < 1:
        raise ValueError(f"shards must be at least 1, got {num_shards}")
    cfg = RecRunConfig(train=scale_train_config(time_budget, train, settings.torch_threads))
    graph = graph or f"recscale_{uuid.uuid4().hex[:10]}"
    stages: dict[str, dict] = {}
    tmp = None if data_dir else tempfile.mkdtemp(prefix="kgp-recscale-")
    folder = Path(data_dir) if data_dir else Path(tmp) / "catalog"
    store = open_store(settings, graph=graph)  # starts the embedded server when it is not running
    sampler = MemorySampler(_store_pid(settings))
    started = time.perf_counter()
    last = [started]
    run_id = new_run_id()
    run_dir = RunDir.of(settings.runs_dir, run_id)

    def stage(name: str, **extra) -> None:
        now = time.perf_counter()
        stages[name] = {"seconds": round(now - last[0], 2), **sampler.lap(), **extra}
        last[0] = now
        log(f"{name}: {stages[name]['seconds']:.1f} s, peak RSS {stages[name]['self_peak_mb']:.0f} MB"
            + (f" (store {stages[name]['store_peak_mb']:.0f} MB)" if "store_peak_mb" in stages[name] else ""))

    load, code = os.getloadavg(), code_version()  # the code as it was when the run started
    try:
        with sampler:
            if store.query("MATCH (n) RETURN count(n) AS n", read_only=True)[0]["n"]:
                raise ValueError(f"graph {graph!r} is not empty: the benchmark needs a fresh graph")
            log(f"generating {spec} into {folder}")
            catalog = generate_rec_folder(folder, spec, progress=progress)
            stage("generate")
            ingest = ingest_rec_layout(store, folder, batch_size=settings.write_batch_size, progress=progress)
            stage("ingest", entities=ingest["entities"], triples=ingest["triples"],
                  behaviour=ingest["behaviour"]["interactions"])
            export = recsteps.rec_export_step(store, settings, run_id, cfg, progress, owner=process_owner())
            stage("export")
            try:
                recsteps.rec_featurize_step(settings, run_id, progress)
                stage("featurize")
                trained = recsteps.rec_train_step(settings, run_id, progress)
                stage("train", epochs=len(trained["history"]), best_epoch=trained["best_epoch"],
                      stopped_reason=trained["stopped_reason"], train_seconds=trained["train_seconds"])
                for shard in range(num_shards):
                    scored = recsteps.rec_score_step(settings, run_id, shard, num_shards, progress)
                    stage(f"score-{shard:03d}" if num_shards > 1 else "score", users=scored["users"],
                          recommendations=scored["recommendations"])
                written = recsteps.rec_writeback_step(store, settings, run_id, num_shards, progress)
                stage("writeback", written=written["written"]["written"])
            except BaseException:
                mark_run(store, run_id, "failed")
                raise
            in_graph = store.query("MATCH (:User)-[r:RECOMMENDED]->(:Entity) WHERE r.run_id = $run_id "
                                   "RETURN count(r) AS n", {"run_id": run_id}, read_only=True)[0]["n"]
            high_water = sampler.high_water()
        metrics = run_dir.read_json(RunDir.METRICS)
        run_dir_mb = _dir_mb(run_dir.path)
        popularity = popularity_reference(run_dir)  # after the measured stages: not timed, not in the peaks
    finally:
        if not keep_graph:
            store.delete_graph()
        store.close()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        if not keep_run and run_dir.path.is_dir():
            shutil.rmtree(run_dir.path, ignore_errors=True)
    timed = {k: v["seconds"] for k, v in stages.items()}
    pipeline_s = round(sum(v for k, v in timed.items() if k not in ("generate", "ingest")), 2)
    with_ingest_s = round(pipeline_s + timed["ingest"], 2)
    test = metrics.get("test") or {}
    return {
        "benchmark": "recommend-scale", "spec": asdict(spec), "graph": graph, "run_id": run_id,
        "stages": stages, "timings_s": timed,
        "pipeline_s": pipeline_s, "ingest_and_pipeline_s": with_ingest_s, "target_s": TARGET_S,
        "fits_target": with_ingest_s <= TARGET_S, "pipeline_fits_target": pipeline_s <= TARGET_S,
        "peak_rss_mb": {"self": max(v["self_peak_mb"] for v in stages.values()),
                        "store": max((v.get("store_peak_mb") or 0) for v in stages.values()) or None,
                        **high_water},
        "recall@20": test.get("recall@20"), "ndcg@20": test.get("ndcg@20"), "test": test, "popularity": popularity,
        "best_valid": metrics.get("best_valid"), "best_epoch": metrics.get("best_epoch"),
        "stopped_reason": metrics.get("stopped_reason"),
        "counts": {**metrics.get("counts", {}), "kg_triples": export["kg_triples"], "entities": export["entities"],
                   "recommendations_in_graph": in_graph},
        "catalog": catalog, "config": cfg.model_dump(), "time_budget_s": time_budget, "shards": num_shards,
        "run_dir_mb": run_dir_mb, "machine": {"cpus": os.cpu_count(), "load_average_at_start": [round(x, 2)
                                                                                            for x in load],
                                              "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "total_s": round(time.perf_counter() - started, 2), "code": code,
    }


TRAIN_SHOWN = ("behaviour_loss", "softmax_items", "batch_size", "kg_batch_size", "lr", "use_text", "dim", "num_layers",
              "kg_layers", "alpha", "time_budget_s")


def render_scale_markdown(report: dict) -> str:
    spec, counts = report["spec"], report["counts"]
    peak = report["peak_rss_mb"]
    verdict = "**fits**" if report["fits_target"] else "**does not fit**"
    train, code = report["config"]["train"], report.get("code") or {}
    lines = [
        "# Recommendation at scale", "",
        f"A seeded synthetic book catalog (`kgplatform/bench/recscale.py`, seed {spec['seed']}): "
        f"{counts.get('users', spec['users']):,} users, {counts.get('items', spec['items']):,} items, "
        f"{counts.get('interactions', spec['interactions']):,} interactions, {counts['kg_triples']:,} KG triples over "
        f"{counts['entities']:,} entities. Ingested into a fresh graph of the embedded FalkorDB, then the "
        f"recommendation run step by step ({report['shards']} score shard(s)), training budget "
        f"{report['time_budget_s']:.0f} s, on {report['machine']['cpus']} CPU cores (load average "
        f"{report['machine']['load_average_at_start'][0]} at the start, {report['machine']['load_average_at_end'][0]} "
        "at the end: the machine is shared). Produced by `kgp bench recommend-scale`; the JSON beside this file "
        "holds every figure.", "",
        "| stage | seconds | peak RSS, this process (MB) | peak RSS, store server (MB) | notes |",
        "|---|---:|---:|---:|---|"]
    for name, s in report["stages"].items():
        notes = ", ".join(f"{k} {v}" for k, v in s.items()
                          if k not in ("seconds", "self_peak_mb", "store_peak_mb") and not isinstance(v, dict))
        store_mb = s.get("store_peak_mb")
        lines.append(f"| {name} | {s['seconds']:.1f} | {s['self_peak_mb']:,.0f} | "
                     f"{'–' if store_mb is None else f'{store_mb:,.0f}'} | {notes} |")
    lines += [
        f"| **ingest → write-back** | **{report['ingest_and_pipeline_s']:.1f}** | | | "
        f"target {report['target_s']:.0f} s: {verdict} |",
        f"| export → write-back | {report['pipeline_s']:.1f} | | | |", "",
        f"- Peak RSS: this process {peak['self_ru_maxrss_mb']:,.0f} MB (ru_maxrss), the store's server "
        + (f"{peak['store_vmhwm_mb']:,.0f} MB (VmHWM, over the server's life)" if peak.get("store_vmhwm_mb")
           else "not measured") + ".",
        f"- Held-out test Recall@20 {_fmt(report['recall@20'])}, NDCG@20 {_fmt(report['ndcg@20'])} (best valid "
        f"Recall@20 {_fmt((report['best_valid'] or {}).get('recall@20'))} at epoch {report['best_epoch']}, stopped "
        f"by {report['stopped_reason']}); ranking by train popularity on the same split: Recall@20 "
        f"{_fmt(report['popularity']['recall@20'])}, NDCG@20 {_fmt(report['popularity']['ndcg@20'])}.",
        f"- {counts.get('recommendations', 0):,} recommendations scored, {counts['recommendations_in_graph']:,} "
        f"RECOMMENDED relationships in the graph; run directory {report['run_dir_mb']:,.0f} MB.",
        "- Training settings: " + ", ".join(f"{k} {train[k]}" for k in TRAIN_SHOWN if k in train) + ".",
        f"- Code: commit {code.get('commit')}" + (f", with uncommitted changes to {', '.join(code['uncommitted'])}"
                                                  if code.get("uncommitted") else "") + ".", ""]
    return "\n".join(lines)


def _fmt(value) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
