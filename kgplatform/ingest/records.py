"""Validated rows ready to load: what every ingest format is parsed into."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from kgplatform.graph.names import assign_rel_types

MAX_ID = 1_000
MAX_NAME = 2_000
MAX_DESCRIPTION = 50_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Node properties the platform sets itself: an attribute (an RDF literal, a catalog column) named like one of them,
# or starting with 'kgp', gets a prefix instead of shadowing it; the recommender's export never reads them as item
# attributes (embedding/embedding_run: a run's vector, graph/vectors.py).
OWN_PROPERTIES = frozenset({"id", "name", "description", "type", "created_at", "updated_at", "split", "predicted",
                            "status", "run_id", "score", "probability", "model", "method", "evidence", "source_id",
                            "embedding", "embedding_run"})


@dataclass(frozen=True)
class EntityRow:
    id: str
    label: str
    type: str
    name: str
    description: str
    # Other attributes (an RDF literal, a price): (key, value) pairs, keys already safe (names.property_key).
    properties: tuple[tuple[str, str | int | float | bool], ...] = ()


class TripleRow(NamedTuple):  # a tuple: a graph holds millions, and a frozen dataclass builds 5x slower
    head: str
    rel_type: str
    tail: str
    split: str | None  # 'train' | 'valid' | 'test' for benchmark splits, None for catalog facts


@dataclass
class ParsedGraph:
    """relation_text: relationship type -> the dataset's text for it ('hypernym'), when it has one.
    relation_sources: relationship type -> the relation id it was named from ('_hypernym'), and label_sources:
    label -> the entity type text it was named from ('grande école'); both kept in the store's registry
    (graph.schema.relation_registry / label_registry). A type or label missing from them is its own source (a
    label's default is the type text of its first entity), and is not renamed against the registry at load."""

    entities: list[EntityRow] = field(default_factory=list)
    triples: list[TripleRow] = field(default_factory=list)
    relation_text: dict[str, str] = field(default_factory=dict)
    source: str = ""
    relation_sources: dict[str, str] = field(default_factory=dict)
    label_sources: dict[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return sorted({e.label for e in self.entities})

    @property
    def rel_types(self) -> list[str]:
        return sorted({t.rel_type for t in self.triples})


def check_text(value: str, what: str, limit: int, *, required: bool) -> str | None:
    """None when fine, else the problem with this field."""
    if required and not value.strip():
        return f"empty {what}"
    if len(value) > limit:
        return f"{what} is {len(value):,} characters (limit {limit:,})"
    if _CONTROL.search(value):
        return f"{what} contains control characters"
    return None


def strip_bom(raw: bytes) -> bytes:
    """The first line of a file without a UTF-8 byte order mark (Excel and Notepad write one)."""
    return raw[len(codecs.BOM_UTF8):] if raw.startswith(codecs.BOM_UTF8) else raw


def property_keys(names: Iterable[str], prefix: str) -> dict[str, str]:
    """Attribute name -> node property key, unique over the names given: the name as a relationship type would be
    named (graph.names.assign_rel_types), in lower case ('Price (USD)' -> 'price_usd', 'Weight kg' -> 'weight_kg');
    `prefix` in front of one of the platform's own keys ('status' -> prefix + 'status'). Raises SchemaError for an
    empty name."""
    keys = {name: key.lower() for name, key in assign_rel_types(names).items()}
    return {name: f"{prefix}{key}" if key in OWN_PROPERTIES or key.startswith("kgp") else key
            for name, key in keys.items()}
