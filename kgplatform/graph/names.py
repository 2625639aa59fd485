"""The names that end up inside Cypher text (labels and relationship types): how source names map to them, and
their validation.

Cypher cannot take a label or relationship type as a parameter, so these are the only strings ever spliced into
a statement. They must match a strict pattern *and* be declared in the graph's schema (check_label,
check_rel_type).

Source names (a dataset's relation ids and entity type texts, RDF predicate and class IRIs) map to valid names
deterministically, whatever characters they hold:

1. **Names accepted before keep their name.** The rule of earlier versions is tried first, on the text with its
   Unicode folded to ASCII: relation ids are upper-cased, a leading '_' dropped and runs of spaces, '-', '.', '/'
   made '_' ('_hypernym' -> 'HYPERNYM', 'P1412' -> 'P1412', 'film.actor.film' -> 'FILM_ACTOR_FILM'); entity
   types are CamelCased word by word ('sovereign state' -> 'SovereignState'). Stored graphs and benchmark
   numbers depend on these names.
2. **Otherwise, the meaningful part.** An IRI (`scheme://...`, `urn:...`, optionally in `<...>`) or a CURIE
   (`dbo:birthPlace`) gives its local name: the fragment after '#', else its last path segment
   ('http://dbpedia.org/ontology/birthPlace' -> 'birthPlace', 'http://www.wikidata.org/prop/direct/P31' ->
   'P31'). A Freebase-style path keeps every segment ('/people/person/nationality' -> 'PEOPLE_PERSON_NATIONALITY'),
   so it maps like the dotted form Freebase dumps also use ('people.person.nationality', accepted before), and
   properties that share a last segment stay apart ('/film/actor/film', '/film/director/film').
3. **Folded and cased.** Unicode is folded to ASCII (NFKD, combining marks dropped, a few letters spelled out:
   'grande école' -> 'GrandeEcole', 'Straße' -> 'Strasse'); curly quotes count as straight ones. Relationship
   types are UPPER_SNAKE_CASE, camelCase split at its humps ('birthPlace' -> 'BIRTH_PLACE'); labels are
   CamelCase of the words. Everything else (backticks, quotes, brackets, newlines, ...) separates words and is
   dropped, so the output always passes the strict patterns below.
4. **Made valid.** A name that would start with a digit gets a prefix: 'REL_' for relationship types
   ('3d_model' -> 'REL_3D_MODEL'), 'Type' for labels ('3D film' -> 'Type3DFilm'); so does a label reserved by
   the platform ('Entity' -> 'TypeEntity'). Nothing left (an empty type is 'Thing', as before) gives 'REL' /
   'Type' plus a hash.
5. **A short hash when something was lost.** `_` + the first 8 hex digits of the SHA-256 of the source name is
   appended when the name had to be cut to 64 characters, when non-ASCII letters could not be folded ('Москва
   river' -> 'RIVER_…'), and when two different source names of one graph map to the same name (see
   assign_rel_types / assign_labels: every one of them gets its own hash, except a source name that already is
   the name, so the result does not depend on the order of the input).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

from kgplatform.errors import SchemaError

REL_TYPE_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
LABEL_PATTERN = re.compile(r"^[A-Z][A-Za-z0-9_]{0,63}$")
# Entity type text that earlier versions accepted as it is ("human", "state or insular area capital in the United
# States"); other text maps by the general rule.
TYPE_TEXT_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9 _\-'.,()&/]{0,127}$")
RESERVED_LABELS = {"Entity", "KgpRun", "KgpSchema", "KgpReview", "KgpWatermark", "KgpIngest", "KgpRelationType",
                   "KgpLabel"}
RESERVED_PREFIX = "Kgp"  # every label the platform uses for its own nodes starts with it
MAX_NAME = 64
HASH_DIGITS = 8

_IRI = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://|urn:)", re.IGNORECASE)
_CURIE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*:([A-Za-z0-9_][^\s:/]*)$")
_HUMP_LOWER = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_HUMP_UPPER = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z])")
# Letters that NFKD leaves alone; curly quotes as straight ones (they separate words like the ASCII ones).
_SPELLED = str.maketrans({"ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
                          "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th",
                          "ı": "i", "ħ": "h", "Ħ": "H", "ŧ": "t", "Ŧ": "T", "ŀ": "l", "Ŀ": "L",
                          "\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"'})


def check_rel_type(name: str, declared: set[str] | None = None) -> str:
    if not isinstance(name, str) or not REL_TYPE_PATTERN.fullmatch(name):
        raise SchemaError(f"invalid relationship type {name!r}: must match {REL_TYPE_PATTERN.pattern}")
    if declared is not None and name not in declared:
        known = ", ".join(sorted(declared)) or "none"
        raise SchemaError(f"unknown relationship type {name!r}; the graph declares: {known}")
    return name


def check_label(name: str, declared: set[str] | None = None) -> str:
    if not isinstance(name, str) or not LABEL_PATTERN.fullmatch(name):
        raise SchemaError(f"invalid label {name!r}: must match {LABEL_PATTERN.pattern}")
    if declared is not None and name not in declared:
        known = ", ".join(sorted(declared)) or "none"
        raise SchemaError(f"unknown label {name!r}; the graph declares: {known}")
    return name


def quote(name: str) -> str:
    """Backtick-quote a name that already passed check_*; the pattern excludes backticks."""
    return f"`{name}`"


def is_reserved_label(name: str) -> bool:
    return name in RESERVED_LABELS or name.startswith(RESERVED_PREFIX)


# --- source names -> names --------------------------------------------------------------------------------------

def fold(text: str) -> tuple[str, bool]:
    """(ASCII text, lossy): Unicode folded to ASCII; lossy when a letter or digit could not be folded (it is
    dropped). Other non-ASCII characters (dashes, symbols, spaces) become spaces."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPELLED))
    out, lossy = [], False
    for ch in decomposed:
        if ord(ch) < 128:
            out.append(ch)
        elif unicodedata.combining(ch):
            continue
        else:
            lossy = lossy or ch.isalnum()
            out.append(" ")
    return "".join(out), lossy


def meaningful_part(text: str) -> str:
    """The part of a source name that names the thing: an IRI's or CURIE's local name, else the text itself."""
    text = text.strip()
    if len(text) > 1 and text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    if _IRI.match(text):
        rest = text.split("://", 1)[1] if "://" in text else text[4:]
        if "#" in rest and rest.rsplit("#", 1)[1].strip():
            return rest.rsplit("#", 1)[1]
        rest = rest.split("#", 1)[0].split("?", 1)[0]
        segments = [s for s in re.split(r"[/:]", rest) if s.strip()]
        return segments[-1] if segments else text
    match = _CURIE.match(text)
    return match.group(1) if match else text


def source_hash(source: str, *, upper: bool) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:HASH_DIGITS]
    return digest.upper() if upper else digest


def _with_hash(stem: str, source: str, *, upper: bool) -> str:
    suffix = "_" + source_hash(source, upper=upper)
    return stem[:MAX_NAME - len(suffix)].rstrip("_") + suffix


def _legacy_rel_type(text: str) -> str | None:
    """The rule of earlier versions (kept so that their names do not change); None where it refused the text."""
    candidate = re.sub(r"[\s\-./]+", "_", text.strip().lstrip("_").upper())
    return candidate if REL_TYPE_PATTERN.match(candidate) else None


def _legacy_label(text: str) -> str | None:
    text = text.strip()
    if not TYPE_TEXT_PATTERN.match(text):
        return None
    label = "".join(w[:1].upper() + w[1:] for w in re.findall(r"[A-Za-z0-9]+", text))[:MAX_NAME]
    return label if LABEL_PATTERN.match(label) and not is_reserved_label(label) else None


def _rel_type_stem(text: str) -> tuple[str, bool]:
    """(stem, needs a hash) of one relation id."""
    folded, lossy = fold(text)
    legacy = _legacy_rel_type(folded)
    if legacy is not None:
        return legacy, lossy
    part, part_lossy = fold(meaningful_part(text))
    part = _HUMP_UPPER.sub("_", _HUMP_LOWER.sub("_", part))
    stem = re.sub(r"[^A-Z0-9]+", "_", part.upper()).strip("_")
    if not stem:
        return "REL", True
    if not stem[0].isalpha():
        stem = "REL_" + stem
    return stem, part_lossy or len(stem) > MAX_NAME


def _label_stem(text: str) -> tuple[str, bool]:
    """(stem, needs a hash) of one entity type text."""
    if not text.strip():
        return "Thing", False
    folded, lossy = fold(text)
    legacy = _legacy_label(folded)
    if legacy is not None:
        return legacy, lossy
    part, part_lossy = fold(meaningful_part(text))
    stem = "".join(w[:1].upper() + w[1:] for w in re.findall(r"[A-Za-z0-9]+", part))
    if not stem:
        return "Type", True
    if not stem[0].isalpha() or is_reserved_label(stem):
        stem = "Type" + stem
    return stem, part_lossy or len(stem) > MAX_NAME


def rel_type_from_text(text: str) -> str:
    """One relation id -> relationship type, on its own (a graph's set of ids: assign_rel_types, which also
    keeps them unique): '_hypernym' -> 'HYPERNYM', 'P1412' -> 'P1412', '/people/person/nationality' ->
    'PEOPLE_PERSON_NATIONALITY', '<http://dbpedia.org/ontology/birthPlace>' -> 'BIRTH_PLACE'.

    Any text maps to a valid name (module docstring); only an empty id raises SchemaError.
    """
    if not isinstance(text, str) or not text.strip():
        raise SchemaError("empty relation id")
    stem, hashed = _rel_type_stem(text)
    return check_rel_type(_with_hash(stem, text, upper=True) if hashed else stem)


def label_from_type_text(text: str) -> str:
    """One entity type text -> label, on its own (a graph's set of types: assign_labels): 'state or insular area
    capital' -> 'StateOrInsularAreaCapital', 'grande école' -> 'GrandeEcole', '3D film' -> 'Type3DFilm', '' ->
    'Thing'. Any text maps to a valid label that is not reserved (module docstring)."""
    if not isinstance(text, str):
        raise SchemaError(f"entity type must be text, got {type(text).__name__}")
    stem, hashed = _label_stem(text)
    return check_label(_with_hash(stem, text, upper=False) if hashed else stem)


def _assign(sources: Iterable[str], stem_of: Callable[[str], tuple[str, bool]], *, upper: bool,
            taken: Mapping[str, str] | None) -> dict[str, str]:
    taken = dict(taken or {})
    registered = {source: name for name, source in taken.items()}
    out: dict[str, str] = {}
    groups: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for source in sorted(set(sources)):
        if source in registered:  # named by an earlier ingest: keeps that name
            out[source] = registered[source]
        else:
            stem, hashed = stem_of(source)
            groups[stem].append((source, hashed))
    for stem, members in groups.items():
        shared = len(members) > 1 or (stem in taken and taken[stem] != members[0][0])
        for source, hashed in members:
            keeps_stem = not hashed and (not shared or (source == stem and stem not in taken))
            out[source] = stem if keeps_stem else _with_hash(stem, source, upper=upper)
    by_name: dict[str, list[str]] = defaultdict(list)
    for source, name in out.items():
        by_name[name].append(source)
    clashes = [s for name, group in by_name.items() for s in group
               if len(group) > 1 or (name in taken and taken[name] != s)]
    if clashes:  # two 32-bit hashes met: refuse rather than merge two source names
        raise SchemaError("source names map to colliding names even with their hashes: "
                          + ", ".join(repr(s[:80]) for s in sorted(clashes)[:5]))
    return out


def assign_rel_types(relation_ids: Iterable[str], taken: Mapping[str, str] | None = None) -> dict[str, str]:
    """Relation id -> relationship type for all the relation ids of one graph, unique: ids whose names meet get
    a hash of their id each (an id that already is the name keeps it), so the result does not depend on order.

    taken: type -> relation id already registered in the store (graph.schema.relation_registry): an id found
    there keeps its registered type, and a new id never takes a type registered to another id.
    Raises SchemaError for an empty id.
    """
    ids = list(relation_ids)
    for relation in ids:
        if not isinstance(relation, str) or not relation.strip():
            raise SchemaError("empty relation id")
    return {s: check_rel_type(n) for s, n in _assign(ids, _rel_type_stem, upper=True, taken=taken).items()}


def assign_labels(type_texts: Iterable[str], taken: Mapping[str, str] | None = None) -> dict[str, str]:
    """Entity type text -> label for all the types of one graph, unique (as assign_rel_types; taken: label ->
    type text registered in the store, graph.schema.label_registry)."""
    return {s: check_label(n) for s, n in _assign(type_texts, _label_stem, upper=False, taken=taken).items()}
