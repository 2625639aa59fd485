"""Validation of the names that end up inside Cypher text: labels and relationship types.

Cypher cannot take a label or relationship type as a parameter, so these are the only strings ever spliced into
a statement. They must match a strict pattern *and* be declared in the graph's schema.
"""

from __future__ import annotations

import re

from kgplatform.errors import SchemaError

REL_TYPE_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
LABEL_PATTERN = re.compile(r"^[A-Z][A-Za-z0-9_]{0,63}$")
# Entity type text as found in datasets ("human", "state or insular area capital in the United States").
TYPE_TEXT_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9 _\-'.,()&/]{0,127}$")
RESERVED_LABELS = {"Entity", "KgpRun", "KgpSchema", "KgpReview", "KgpWatermark"}


def check_rel_type(name: str, declared: set[str] | None = None) -> str:
    if not isinstance(name, str) or not REL_TYPE_PATTERN.match(name):
        raise SchemaError(f"invalid relationship type {name!r}: must match {REL_TYPE_PATTERN.pattern}")
    if declared is not None and name not in declared:
        known = ", ".join(sorted(declared)) or "none"
        raise SchemaError(f"unknown relationship type {name!r}; the graph declares: {known}")
    return name


def check_label(name: str, declared: set[str] | None = None) -> str:
    if not isinstance(name, str) or not LABEL_PATTERN.match(name):
        raise SchemaError(f"invalid label {name!r}: must match {LABEL_PATTERN.pattern}")
    if declared is not None and name not in declared:
        known = ", ".join(sorted(declared)) or "none"
        raise SchemaError(f"unknown label {name!r}; the graph declares: {known}")
    return name


def quote(name: str) -> str:
    """Backtick-quote a name that already passed check_*; the pattern excludes backticks."""
    return f"`{name}`"


def rel_type_from_text(text: str) -> str:
    """Dataset relation id -> relationship type: '_hypernym' -> 'HYPERNYM', 'P1412' -> 'P1412'.

    Raises SchemaError when the result is not a plain identifier, so hostile names fail loudly.
    """
    candidate = text.strip().lstrip("_").upper()
    candidate = re.sub(r"[\s\-./]+", "_", candidate)
    return check_rel_type(candidate)


def label_from_type_text(text: str) -> str:
    """Entity type text -> label: 'state or insular area capital' -> 'StateOrInsularAreaCapital'."""
    text = text.strip()
    if not text:
        return "Thing"
    if not TYPE_TEXT_PATTERN.match(text):
        raise SchemaError(f"entity type {text[:80]!r} has characters outside letters, digits and simple punctuation")
    words = re.findall(r"[A-Za-z0-9]+", text)
    label = "".join(w[:1].upper() + w[1:] for w in words)[:64]
    if label in RESERVED_LABELS:
        raise SchemaError(f"entity type {text!r} maps to the reserved label {label!r}")
    return check_label(label)
