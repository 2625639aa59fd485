"""Parse an RDF file: N-Triples (.nt), N-Quads (.nq) or Turtle (.ttl), each optionally gzipped (.gz).

Pure: a file in, a ParsedGraph or an InputError out. Mapping:

- Every IRI subject, and every IRI object of a predicate other than rdf:type, becomes an entity whose id is the
  IRI text.
- rdfs:label, schema:name (http and https schema.org), skos:prefLabel and foaf:name give `name`; rdfs:comment
  and schema:description give `description`. When an entity has several, the first in this order wins: English
  (`@en`), regional English (`@en-GB`), untagged, any other language; then the predicate order just listed; then
  the first seen in the file.
- rdf:type gives the label; the node's `type` is the class IRI. Generic classes (owl:Thing, owl:NamedIndividual,
  rdfs:Resource, schema:Thing) are ignored. Several types: the first class IRI in sorted order is used. No type:
  an empty type, labelled 'Thing' as a dataset row with an empty type.
- A triple whose object is an IRI becomes a relationship; its predicate IRI is the relation's source name.
- Class IRIs and predicate IRIs are named as every ingest format names them, by `names.assign_labels` and
  `names.assign_rel_types` over the whole file: the IRI's local name, CamelCase for labels and UPPER_SNAKE_CASE
  for types ('http://schema.org/Product' -> 'Product', 'http://dbpedia.org/ontology/birthPlace' ->
  'BIRTH_PLACE'), with a short hash for each of several IRIs of the file that would share a name
  ('http://www.wikidata.org/prop/direct/P31' and '.../prop/P31'). `ParsedGraph.relation_sources` and
  `relation_text` map each type to its predicate IRI, and `label_sources` each label to its class IRI, so the
  store's name registry records the original names and later ingests reuse the same names.
- Other literals become node properties: the key is the predicate's name in lower snake case
  ('http://schema.org/price' -> 'price'; 'rdf_' in front of a name the platform uses itself, such as 'name' or
  'status'), the value is a number or boolean when its XSD datatype says so, else its text; the first value of
  each predicate in file order is kept.
- Not loaded:
  - blank nodes: a triple with a blank subject or object is skipped, because blank-node labels are not stable
    across files or parses, so they could not be merged idempotently;
  - the graph name of an N-Quads line: all graphs are merged.
  The number of skipped triples is logged as a warning.
- An IRI that the file only mentions as an object becomes an entity with an empty name, description and type
  (label 'Thing'), and ingest writes entities as given: a later file that only links to a resource resets what an
  earlier file said about it. Keep a resource's description in the same file as the links to it.

N-Triples and N-Quads are read line by line (rdflib's N-Triples term grammar, one line at a time, without an
rdflib Graph). Memory grows with the entities and distinct relationships, not with the text of the triples.
Turtle cannot be read line by line, so it goes through an rdflib Graph; use N-Triples for large dumps.

Every problem is collected as 'file:line: message' (Turtle: 'file: <subject>: message' for problems found after
parsing) and raised as one InputError, so nothing is written from a file with any problem.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple

from rdflib.exceptions import ParserError
from rdflib.plugins.parsers.ntriples import W3CNTriplesParser, r_literal, r_nodeid, r_tail, r_uriref, r_wspace, unquote

from kgplatform.errors import InputError, SchemaError
from kgplatform.graph.names import assign_labels, assign_rel_types
from kgplatform.ingest.records import (
    MAX_DESCRIPTION,
    MAX_ID,
    MAX_NAME,
    EntityRow,
    ParsedGraph,
    TripleRow,
    check_text,
    property_keys,
)

log = logging.getLogger(__name__)

RDF_SUFFIXES = (".nt", ".nq", ".ttl")
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
NAME_PREDICATES = (RDFS + "label", "http://schema.org/name", "https://schema.org/name",
                   "http://www.w3.org/2004/02/skos/core#prefLabel", "http://xmlns.com/foaf/0.1/name")
DESCRIPTION_PREDICATES = (RDFS + "comment", "http://schema.org/description", "https://schema.org/description")
# Classes that say nothing about the kind of thing: a node typed only with these is untyped.
GENERIC_CLASSES = frozenset({"http://www.w3.org/2002/07/owl#Thing", RDFS + "Resource",
                             "http://www.w3.org/2002/07/owl#NamedIndividual", "http://schema.org/Thing",
                             "https://schema.org/Thing"})
MAX_PROBLEMS = 1000  # a file this broken is reported, not read to the end
_NAME_RANK = {p: i for i, p in enumerate(NAME_PREDICATES)}
_DESCRIPTION_RANK = {p: i for i, p in enumerate(DESCRIPTION_PREDICATES)}


class _Blank(str):
    """A blank-node label, told apart from an IRI by its type."""


class _Text(NamedTuple):
    """A literal: its lexical form, language tag and datatype IRI."""
    value: str
    lang: str | None
    datatype: str | None = None


XSD = "http://www.w3.org/2001/XMLSchema#"
XSD_INTEGERS = {XSD + t for t in ("integer", "int", "long", "short", "byte", "nonNegativeInteger", "positiveInteger",
                                  "negativeInteger", "nonPositiveInteger", "unsignedLong", "unsignedInt",
                                  "unsignedShort", "unsignedByte", "gYear")}
XSD_NUMBERS = {XSD + t for t in ("decimal", "double", "float")}


def literal_value(text: _Text) -> str | int | float | bool:
    """The literal as a number or boolean when its datatype says so (and it parses), else its text."""
    try:
        if text.datatype in XSD_INTEGERS:
            return int(text.value)
        if text.datatype in XSD_NUMBERS:
            value = float(text.value)
            return value if value == value and abs(value) != float("inf") else text.value
        if text.datatype == XSD + "boolean" and text.value in ("true", "false", "1", "0"):
            return text.value in ("true", "1")
    except ValueError:
        pass
    return text.value


def rdf_format(path: Path) -> str | None:
    """'nt', 'nq' or 'ttl' for FILE.nt|.nq|.ttl[.gz] (any case), else None."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix in RDF_SUFFIXES:
        if name.endswith(suffix):
            return suffix[1:]
    return None


def _lang_rank(lang: str | None) -> int:
    if not lang:
        return 2
    lang = lang.lower()
    return 0 if lang == "en" else 1 if lang.startswith("en-") else 3


class _Entity:
    __slots__ = ("id", "name", "name_rank", "description", "description_rank", "types", "props")

    def __init__(self, iri: str):
        self.id = iri
        self.name, self.name_rank = "", (9, 9)
        self.description, self.description_rank = "", (9, 9)
        self.types: set[str] | None = None
        self.props: dict[str, str | int | float | bool] | None = None  # predicate IRI -> its first literal


class _Builder:
    """Collects entities and relationships from (place, subject, predicate, object) statements."""

    def __init__(self, path: Path):
        self.path = path
        self.problems: list[str] = []
        self.entities: dict[str, _Entity] = {}
        self.edges: dict[tuple[str, str, str], None] = {}  # ordered set of (head, predicate, tail)
        # predicate IRI -> the one string object kept for it, so that each edge holds no copy of its text
        self.predicates: dict[str, str] = {}
        self.classes: set[str] = set()  # class IRIs, validated when first seen
        self.statements = 0
        self.skipped_blank = 0
        self.literal_predicates: set[str] = set()

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    @property
    def full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS

    def entity(self, where: str, iri: str) -> _Entity | None:
        ent = self.entities.get(iri)
        if ent is None:
            problem = check_text(iri, "IRI", MAX_ID, required=True)
            if problem:
                self.problem(where, problem)
                return None
            ent = self.entities[iri] = _Entity(iri)
        return ent

    def add(self, where: str, subject: str, predicate: str, obj: str | _Text) -> None:
        self.statements += 1
        if isinstance(subject, _Blank) or isinstance(obj, _Blank):
            self.skipped_blank += 1
            return
        ent = self.entity(where, subject)
        if ent is None:
            return
        if isinstance(obj, _Text):
            if predicate in _NAME_RANK:
                self._text(where, ent, "name", obj, (_lang_rank(obj.lang), _NAME_RANK[predicate]), MAX_NAME)
            elif predicate in _DESCRIPTION_RANK:
                rank = (_lang_rank(obj.lang), _DESCRIPTION_RANK[predicate])
                self._text(where, ent, "description", obj, rank, MAX_DESCRIPTION)
            else:
                self._property(where, ent, predicate, obj)
            return
        if predicate == RDF_TYPE:  # the class becomes a label, not a node
            if obj not in self.classes:
                problem = check_text(obj, "class IRI", MAX_ID, required=True)
                if problem:
                    self.problem(where, problem)
                    return
                self.classes.add(obj)
            if ent.types is None:
                ent.types = set()
            ent.types.add(obj)
            return
        tail = self.entity(where, obj)
        if tail is None:
            return
        self.edges.setdefault((ent.id, self.predicates.setdefault(predicate, predicate), tail.id), None)

    def _text(self, where: str, ent: _Entity, what: str, obj: _Text, rank: tuple[int, int], limit: int) -> None:
        problem = check_text(obj.value, what, limit, required=False)
        if problem:
            self.problem(where, problem)
        elif rank < getattr(ent, f"{what}_rank"):
            setattr(ent, what, obj.value)
            setattr(ent, f"{what}_rank", rank)

    def _property(self, where: str, ent: _Entity, predicate: str, obj: _Text) -> None:
        """Another literal: kept as a node property (the first value of each predicate, in file order)."""
        problem = check_text(obj.value, "literal", MAX_DESCRIPTION, required=False)
        if problem:
            self.problem(where, problem)
            return
        if ent.props is None:
            ent.props = {}
        if predicate not in ent.props:
            ent.props[predicate] = literal_value(obj)
            self.literal_predicates.add(predicate)

    def result(self) -> ParsedGraph:
        if not self.problems and not self.entities:
            what = "no triples" if not self.statements else "no IRI subjects (only blank nodes)"
            self.problems.append(f"{self.path}: {what}; expected N-Triples, N-Quads or Turtle")
        if self.problems:
            raise InputError(f"{self.path}: {len(self.problems)} problem(s); nothing was written", self.problems)
        chosen = {}
        for ent in self.entities.values():
            types = ent.types or set()
            chosen[ent.id] = min(types - GENERIC_CLASSES, default="")
        try:
            labels = assign_labels(set(chosen.values()))
            rel_types = assign_rel_types(self.predicates)
            keys = property_keys(self.literal_predicates, "rdf_")
        except SchemaError as exc:  # two hashes collided: refused rather than merged
            raise InputError(f"{self.path}: {exc}; nothing was written") from None
        entities = [EntityRow(e.id, labels[chosen[e.id]], chosen[e.id], e.name, e.description,
                              tuple(sorted((keys[p], v) for p, v in (e.props or {}).items())))
                    for e in self.entities.values()]
        triples = [TripleRow(h, rel_types[p], t, None) for h, p, t in self.edges]
        if self.skipped_blank:
            log.warning("%s: skipped %d triple(s) with a blank node (not loaded; see kgplatform/ingest/rdf.py)",
                        self.path, self.skipped_blank)
        sources = {t: p for p, t in rel_types.items()}
        return ParsedGraph(entities, triples, dict(sources), source=str(self.path), relation_sources=sources,
                           label_sources={label: iri for iri, label in labels.items()})


class _LineParser(W3CNTriplesParser):
    """One N-Triples / N-Quads statement per call, with rdflib's term grammar; terms come back as plain strings
    (IRIs), _Blank (blank-node labels, no document-wide map) and _Text (literals)."""

    __slots__ = ()

    def statement(self, text: str, quads: bool) -> tuple[str, str, str | _Text] | None:
        self.line = text
        self.eat(r_wspace)
        if not self.line or self.line.startswith("#"):
            return None
        subject = self.subject()
        self.eat(r_wspace)
        predicate = self.predicate()
        self.eat(r_wspace)
        obj = self.object()
        self.eat(r_wspace)
        if self.peek("<") or self.peek("_"):
            if not quads:
                raise ParserError("a fourth term (a graph name) is only allowed in N-Quads")
            self.uriref() or self.nodeid()  # the graph name: all graphs are merged
            self.eat(r_wspace)
        self.eat(r_tail)
        if self.line:
            raise ParserError(f"unexpected text {self.line[:40]!r}")
        return subject, predicate, obj

    def uriref(self):
        if self.peek("<"):
            return unquote(self.eat(r_uriref).group(1))
        return False

    def nodeid(self, bnode_context=None):
        if self.peek("_"):
            return _Blank(self.eat(r_nodeid).group(1))
        return False

    def literal(self):
        if self.peek('"'):
            lexical, lang, datatype = self.eat(r_literal).groups()
            if lang and datatype:
                raise ParserError("a literal cannot have both a language tag and a datatype")
            return _Text(unquote(lexical), lang or None, datatype.strip("<>") if datatype else None)
        return False


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _numbered_lines(path: Path, builder: _Builder) -> Iterator[tuple[int, str]]:
    number = 0
    try:
        with _open(path) as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    yield number, raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as exc:
                    builder.problem(f"{path}:{number}", f"not UTF-8 ({exc.reason} at byte {exc.start})")
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        builder.problem(f"{path}:{number + 1}", f"cannot read the file ({exc})")


def _parse_lines(path: Path, quads: bool, builder: _Builder) -> None:
    parser = _LineParser()
    kind = "N-Quads" if quads else "N-Triples"
    for number, text in _numbered_lines(path, builder):
        where = f"{path}:{number}"
        try:
            statement = parser.statement(text, quads)
        except ParserError as exc:
            message = str(exc)
            if message.startswith("Failed to eat"):
                message = f"unexpected text at {parser.line[:40]!r}"
            builder.problem(where, f"not a valid {kind} statement: {message}")
        else:
            if statement is not None:
                builder.add(where, *statement)
        if builder.full:
            builder.problem(f"{path}", f"stopped after {MAX_PROBLEMS} problems")
            return


def _parse_turtle(path: Path, builder: _Builder) -> None:
    from rdflib import BNode, Graph, Literal

    graph = Graph()
    try:
        with _open(path) as fh:
            graph.parse(source=fh, format="turtle", publicID=path.resolve().as_uri())
    except SyntaxError as exc:  # rdflib's BadSyntax: `lines` counts from 0
        line = getattr(exc, "lines", None)
        where = f"{path}:{line + 1}" if isinstance(line, int) else str(path)
        reason = getattr(exc, "_why", None) or str(exc).splitlines()[0]
        builder.problem(where, f"not valid Turtle: {reason}")
        return
    except (ParserError, ValueError, UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
        builder.problem(str(path), f"not valid Turtle: {exc}")
        return
    for s, p, o in graph:
        where = f"{path}: <{str(s)[:200]}>"
        subject = _Blank(s) if isinstance(s, BNode) else str(s)
        if isinstance(o, Literal):
            obj: str | _Text = _Text(str(o), o.language, str(o.datatype) if o.datatype else None)
        else:
            obj = _Blank(o) if isinstance(o, BNode) else str(o)
        builder.add(where, subject, str(p), obj)
        if builder.full:
            return


def parse_rdf(path: Path) -> ParsedGraph:
    """FILE.nt|.nq|.ttl[.gz] -> ParsedGraph (mapping in the module docstring); InputError naming file and line."""
    path = Path(path)
    fmt = rdf_format(path)
    if fmt is None:
        raise InputError(f"{path}: unknown RDF file extension; expected .nt, .nq or .ttl, optionally with .gz")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    builder = _Builder(path)
    if fmt == "ttl":
        _parse_turtle(path, builder)
    else:
        _parse_lines(path, fmt == "nq", builder)
    return builder.result()
