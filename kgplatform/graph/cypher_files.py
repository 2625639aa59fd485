"""Cypher statements live in cypher/**.cypher, one per file, loaded by name ('writeback/merge_predicted').

Dynamic labels and relationship types are written in the files as the placeholders __LABEL__ and __REL_TYPE__
(valid identifiers, so Neo4j's linter parses the files as they are) and replaced here by validated, quoted names.
A number DDL cannot take as a parameter (a vector index's dimension) is written __DIM__ and replaced by a checked
integer.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from kgplatform.errors import KgpError
from kgplatform.graph.names import check_label, check_rel_type, quote

PLACEHOLDERS = {"label": "__LABEL__", "rel_type": "__REL_TYPE__", "dimension": "__DIM__"}
MAX_DIMENSION = 4096  # Neo4j 5's limit for a vector index
_NAME = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")


def cypher_dir() -> Path:
    configured = os.environ.get("KGP_CYPHER_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "cypher"


@lru_cache(maxsize=None)
def load(name: str) -> str:
    """The statement text of cypher/NAME.cypher, without its header comments."""
    if not _NAME.match(name):
        raise KgpError(f"invalid statement name {name!r}")
    path = cypher_dir() / f"{name}.cypher"
    if not path.is_file():
        raise KgpError(f"no Cypher statement {name!r} (looked for {path})")
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.lstrip().startswith("//")]
    return "\n".join(lines).strip().rstrip(";")


def header(name: str) -> str:
    """The leading // comment block of a statement file: its documentation."""
    path = cypher_dir() / f"{name}.cypher"
    out = []
    for ln in path.read_text(encoding="utf-8").splitlines():
        if not ln.lstrip().startswith("//"):
            break
        out.append(ln.lstrip()[2:].strip())
    return "\n".join(out)


def render(name: str, *, label: str | None = None, rel_type: str | None = None,
           dimension: int | None = None) -> str:
    """Load a statement and splice in validated names (and a checked dimension); a placeholder left unfilled is an
    error."""
    text = load(name)
    if label is not None:
        text = text.replace(PLACEHOLDERS["label"], quote(check_label(label)))
    if rel_type is not None:
        text = text.replace(PLACEHOLDERS["rel_type"], quote(check_rel_type(rel_type)))
    if dimension is not None:
        text = text.replace(PLACEHOLDERS["dimension"], str(check_dimension(dimension)))
    for placeholder in PLACEHOLDERS.values():
        if placeholder in text:
            raise KgpError(f"statement {name!r} needs a value for {placeholder}")
    return text


def check_dimension(value: object) -> int:
    """A vector length safe to splice into DDL: a plain int (not a bool or a numeric string), 1..MAX_DIMENSION."""
    if type(value) is not int or not 1 <= value <= MAX_DIMENSION:
        raise KgpError(f"invalid vector dimension {value!r}: must be an integer from 1 to {MAX_DIMENSION}")
    return value


def schema_statements(backend: str, rel_type: str | None = None) -> list[str]:
    """The DDL for one backend (the only Cypher that differs between stores); with rel_type, that type's indexes."""
    name = f"{backend}_relationship" if rel_type is not None else backend
    text = (cypher_dir() / "schema" / f"{name}.cypher").read_text(encoding="utf-8")
    body = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("//"))
    if rel_type is not None:
        body = body.replace(PLACEHOLDERS["rel_type"], quote(check_rel_type(rel_type)))
    return [s.strip() for s in body.split(";") if s.strip()]


def statement_names(folder: str) -> list[str]:
    return sorted(f"{folder}/{p.stem}" for p in (cypher_dir() / folder).glob("*.cypher"))
