"""RDF ingest: N-Triples, N-Quads and Turtle (optionally gzipped) parsed, validated and loaded; a real Wikidata
sample (tests/ingest/data/README.md).

Labels and relationship types are named by kgplatform.graph.names (tested there); these tests mostly look names up
through the parsed graph's label_sources / relation_sources (class or predicate IRI -> name) rather than spell them,
and pin a few of the documented examples.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import rdflib

from kgplatform.errors import InputError, SchemaError
from kgplatform.graph import names
from kgplatform.graph.schema import label_registry, relation_registry
from kgplatform.graph.store import execute
from kgplatform.ingest import rdf
from kgplatform.ingest.load import ingest_path, parse_source
from kgplatform.ingest.rdf import parse_rdf, rdf_format
from tests.support.env import run_kgp

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "wikidata_Q24628793.ttl"

EX = "http://example.org/"
SDO = "http://schema.org/"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
RDFS_COMMENT = "http://www.w3.org/2000/01/rdf-schema#comment"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"

CATALOG_NT = f"""\
# a small product catalog in N-Triples
<{EX}p1> <{RDF_TYPE}> <{SDO}Product> .
<{EX}p1> <{RDFS_LABEL}> "Casque Aurora"@fr .
<{EX}p1> <{RDFS_LABEL}> "Aurora Headphones"@en .
<{EX}p1> <{SDO}description> "Wireless headphones by Sonique" .
<{EX}p1> <{SDO}brand> <{EX}b1> .
<{EX}p1> <{SDO}sku> "AUR-1" .

<{EX}p2> <{RDF_TYPE}> <{SDO}Product> .
<{EX}p2> <https://schema.org/name> "Sonique Cable" .
<{EX}p2> <{SDO}brand> <{EX}b1> .
<{EX}p2> <{SDO}isRelatedTo> <{EX}p1> .
<{EX}b1> <{RDF_TYPE}> <{SDO}Brand> .
<{EX}b1> <{SDO}name> "Sonique" .
<{EX}b1> <{RDFS_COMMENT}> "Audio brand" .
<{EX}p1> <{SDO}brand> <{EX}b1> .
"""


def write(path: Path, text: str) -> Path:
    if path.name.lower().endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def as_quads(ntriples: str, graph: str = f"{EX}graph") -> str:
    return "".join(line[: -len(" .")] + f" <{graph}> .\n" if line.endswith(" .") else line + "\n"
                   for line in ntriples.splitlines())


def rel_type_of(graph, predicate: str) -> str:
    return {iri: rel_type for rel_type, iri in graph.relation_sources.items()}[predicate]


def label_of(graph, class_iri: str) -> str:
    return {iri: label for label, iri in graph.label_sources.items()}[class_iri]


def canonical(graph) -> tuple:
    triples = sorted(graph.triples, key=lambda t: (t.head, t.rel_type, t.tail))
    return sorted(graph.entities, key=lambda e: e.id), triples, graph.relation_text


# --- parsing -------------------------------------------------------------------------------------------------------

def test_ntriples_entities_names_labels_and_relationships(tmp_path):
    graph = parse_rdf(write(tmp_path / "catalog.nt", CATALOG_NT))
    by_id = {e.id: e for e in graph.entities}
    assert list(by_id) == [f"{EX}p1", f"{EX}b1", f"{EX}p2"]  # first seen first
    p1, p2, b1 = by_id[f"{EX}p1"], by_id[f"{EX}p2"], by_id[f"{EX}b1"]
    assert (p1.name, p1.description) == ("Aurora Headphones", "Wireless headphones by Sonique")  # @en over @fr
    assert (p2.name, p2.description) == ("Sonique Cable", "")  # https schema.org
    assert (b1.name, b1.description) == ("Sonique", "Audio brand")
    assert (p1.type, p1.label) == (f"{SDO}Product", label_of(graph, f"{SDO}Product"))
    assert (b1.type, b1.label) == (f"{SDO}Brand", label_of(graph, f"{SDO}Brand"))
    assert f"{SDO}Product" not in by_id  # a class is a label, not a node
    brand, related = rel_type_of(graph, f"{SDO}brand"), rel_type_of(graph, f"{SDO}isRelatedTo")
    assert sorted((t.head, t.rel_type, t.tail) for t in graph.triples) == sorted([
        (f"{EX}p1", brand, f"{EX}b1"), (f"{EX}p2", brand, f"{EX}b1"), (f"{EX}p2", related, f"{EX}p1")])
    assert all(t.split is None for t in graph.triples)
    assert graph.relation_text == graph.relation_sources == {brand: f"{SDO}brand", related: f"{SDO}isRelatedTo"}
    assert graph.label_sources == {p1.label: f"{SDO}Product", b1.label: f"{SDO}Brand"}
    assert graph.source == str(tmp_path / "catalog.nt")


def test_names_are_the_local_names_of_the_iris(tmp_path):
    graph = parse_rdf(write(tmp_path / "catalog.nt", CATALOG_NT))
    assert graph.labels == ["Brand", "Product"]
    assert graph.rel_types == ["BRAND", "IS_RELATED_TO"]


def test_predicates_and_classes_sharing_a_local_name_get_distinct_names(tmp_path):
    wdt, p = "http://www.wikidata.org/prop/direct/P31", "http://www.wikidata.org/prop/P31"
    text = (f"<{EX}a> <{wdt}> <{EX}b> .\n<{EX}a> <{p}> <{EX}s> .\n"
            f"<{EX}a> <{RDF_TYPE}> <{SDO}Person> .\n<{EX}b> <{RDF_TYPE}> <http://xmlns.com/foaf/0.1/Person> .\n")
    graph = parse_rdf(write(tmp_path / "wd.nt", text))
    assert rel_type_of(graph, wdt) != rel_type_of(graph, p)
    assert all(t.startswith("P31_") for t in graph.rel_types)
    assert label_of(graph, f"{SDO}Person") != label_of(graph, "http://xmlns.com/foaf/0.1/Person")
    assert all(names.check_rel_type(t) == t for t in graph.rel_types)
    assert all(names.check_label(lb) == lb for lb in graph.labels)
    reordered = parse_rdf(write(tmp_path / "wd2.nt", "".join(reversed(text.splitlines(keepends=True)))))
    assert reordered.relation_sources == graph.relation_sources  # whatever the order of the file
    assert reordered.label_sources == graph.label_sources


@pytest.mark.parametrize("labels, expected", [
    ('"Aurore"@fr . "Aurora"', "Aurora"),                      # untagged over another language
    ('"Aurora GB"@en-GB . "Aurora"@en', "Aurora"),             # @en over @en-GB
    ('"Aurora"@en-GB . "Aurora plain"', "Aurora"),             # regional English over untagged
    ('"Erste" . "Zweite"', "Erste"),                            # ties: the first seen
    ('"Aurore"@fr . "Aurora"@de', "Aurore"),
])
def test_name_preference(tmp_path, labels, expected):
    first, second = labels.split(" . ")
    text = f"<{EX}p> <{RDFS_LABEL}> {first} .\n<{EX}p> <{RDFS_LABEL}> {second} .\n"
    assert parse_rdf(write(tmp_path / "p.nt", text)).entities[0].name == expected


def test_rdfs_label_wins_over_other_name_predicates_of_the_same_language(tmp_path):
    text = (f'<{EX}p> <http://xmlns.com/foaf/0.1/name> "foaf" .\n<{EX}p> <{SDO}name> "schema" .\n'
            f'<{EX}p> <{RDFS_LABEL}> "rdfs" .\n')
    assert parse_rdf(write(tmp_path / "p.nt", text)).entities[0].name == "rdfs"


def test_several_types_first_in_sorted_order_generic_ones_ignored(tmp_path):
    text = (f"<{EX}p> <{RDF_TYPE}> <http://www.w3.org/2002/07/owl#Thing> .\n"
            f"<{EX}p> <{RDF_TYPE}> <{SDO}Product> .\n<{EX}p> <{RDF_TYPE}> <{EX}Article> .\n"
            f"<{EX}q> <{RDF_TYPE}> <http://www.w3.org/2002/07/owl#Thing> .\n<{EX}r> <{RDFS_LABEL}> \"untyped\" .\n")
    entities = {e.id: e for e in parse_rdf(write(tmp_path / "t.nt", text)).entities}
    assert entities[f"{EX}p"].type == f"{EX}Article"  # 'http://example.org/' sorts before 'http://schema.org/'
    # untyped, or typed only owl:Thing: an empty type and the label Thing, as a dataset row with no type
    assert (entities[f"{EX}q"].type, entities[f"{EX}q"].label) == ("", "Thing")
    assert (entities[f"{EX}r"].type, entities[f"{EX}r"].label) == ("", "Thing")


def test_blank_nodes_are_skipped_with_a_warning_and_other_literals_become_properties(tmp_path, caplog):
    text = (f"_:offer <{SDO}price> \"9.99\" .\n<{EX}p> <{SDO}offers> _:offer .\n_:x <{SDO}brand> <{EX}b> .\n"
            f"<{EX}p> <{SDO}sku> \"S1\" .\n<{EX}p> <{SDO}brand> <{EX}b> .\n")
    graph = parse_rdf(write(tmp_path / "b.nt", text))
    assert [e.id for e in graph.entities] == [f"{EX}p", f"{EX}b"]
    assert [(t.head, t.tail) for t in graph.triples] == [(f"{EX}p", f"{EX}b")]
    assert "skipped 3 triple(s) with a blank node" in caplog.text
    assert graph.entities[0].properties == (("sku", "S1"),)


def test_typed_literals_become_typed_properties_and_never_shadow_the_platforms_own(tmp_path, store):
    xsd = "http://www.w3.org/2001/XMLSchema#"
    text = (f'<{EX}p> <{SDO}name> "Kettle" .\n'
            f'<{EX}p> <{SDO}price> "12.50"^^<{xsd}decimal> .\n'
            f'<{EX}p> <{SDO}price> "99"^^<{xsd}decimal> .\n'  # a second value: the first is kept
            f'<{EX}p> <{EX}stock> "7"^^<{xsd}integer> .\n'
            f'<{EX}p> <{EX}discontinued> "false"^^<{xsd}boolean> .\n'
            f'<{EX}p> <{EX}status> "in catalogue" .\n'  # 'status' is a property of predicted edges
            f'<{EX}p> <{EX}weight> "heavy"^^<{xsd}double> .\n')  # not a number: kept as text
    [entity] = parse_rdf(write(tmp_path / "p.nt", text)).entities
    assert dict(entity.properties) == {"price": 12.5, "stock": 7, "discontinued": False, "rdf_status": "in catalogue",
                                       "weight": "heavy"}
    ingest_path(store, tmp_path / "p.nt")
    row = store.query("MATCH (n:Entity {id: $id}) RETURN n.name AS name, n.price AS price, n.stock AS stock, "
                      "n.discontinued AS d, n.rdf_status AS s", {"id": f"{EX}p"})[0]
    assert row == {"name": "Kettle", "price": 12.5, "stock": 7, "d": False, "s": "in catalogue"}


def test_only_blank_nodes_is_an_error(tmp_path):
    with pytest.raises(InputError, match=r"no IRI subjects"):
        parse_rdf(write(tmp_path / "b.nt", f"_:a <{SDO}brand> _:b .\n"))


def test_escapes_non_ascii_and_loose_whitespace(tmp_path):
    text = (f'<{EX}caf\\u00E9>\t<{RDFS_LABEL}>  "Caf\\u00E9 \\"Cr\\u00E8me\\"\\nLine 2"@fr-CA.\n'
            f'<{EX}café> <{RDFS_COMMENT}> "Ünïcödé 東京 ✓" . # trailing comment\n')
    [entity] = parse_rdf(write(tmp_path / "u.nt", text)).entities
    assert entity.id == f"{EX}café"
    assert entity.name == 'Café "Crème"\nLine 2'
    assert entity.description == "Ünïcödé 東京 ✓"


def test_duplicate_triples_are_one_relationship(tmp_path):
    graph = parse_rdf(write(tmp_path / "catalog.nt", CATALOG_NT))  # p1 brand b1 is stated twice
    assert len(graph.triples) == 3


def test_nquads_graph_names_are_merged(tmp_path):
    plain = parse_rdf(write(tmp_path / "catalog.nt", CATALOG_NT))
    quads = as_quads(CATALOG_NT) + f"<{EX}p3> <{SDO}brand> <{EX}b1> .\n"  # a triple in the default graph too
    graph = parse_rdf(write(tmp_path / "catalog.nq", quads))
    assert len(graph.entities) == len(plain.entities) + 1
    assert len(graph.triples) == len(plain.triples) + 1


def test_turtle_and_gzip_give_the_same_graph(tmp_path):
    reference = canonical(parse_rdf(write(tmp_path / "catalog.nt", CATALOG_NT)))
    turtle = rdflib.Graph().parse(data=CATALOG_NT, format="nt").serialize(format="turtle")
    for name, text in (("catalog.ttl", turtle), ("catalog.ttl.gz", turtle), ("catalog.nt.gz", CATALOG_NT),
                       ("catalog.nq.gz", as_quads(CATALOG_NT)), ("CATALOG.NT", CATALOG_NT)):
        assert canonical(parse_rdf(write(tmp_path / name, text))) == reference, name


@pytest.mark.parametrize("name, fmt", [("a.nt", "nt"), ("a.NQ.GZ", "nq"), ("a.ttl.gz", "ttl"), ("a.nt.bz2", None),
                                       ("a.rdf", None), ("a.jsonl", None), ("nt", None)])
def test_rdf_format_from_the_file_name(name, fmt):
    assert rdf_format(Path(name)) == fmt


# --- errors --------------------------------------------------------------------------------------------------------

GOOD = f"<{EX}p> <{SDO}brand> <{EX}b> .\n"


@pytest.mark.parametrize("bad_line, message", [
    (f'<{EX}p> <{RDFS_LABEL}> "unterminated .', "not a valid N-Triples statement"),
    (f"<{EX}p> <{SDO}brand> <{EX}b>", "not a valid N-Triples statement"),             # no final dot
    (f"<{EX}p> <{SDO}brand> <{EX}b> <{EX}g> .", "only allowed in N-Quads"),
    (f'"literal" <{SDO}brand> <{EX}b> .', "Subject must be uriref or nodeID"),
    (f"<p> <{SDO}brand> <{EX}b> .", "not a valid N-Triples statement"),                # relative IRI
    (f"<{EX}p> brand <{EX}b> .", "not a valid N-Triples statement"),
    (f'<{EX}p> <{RDFS_LABEL}> "bad\\u0001control" .', "name contains control characters"),
    (f'<{EX}p> <{RDFS_LABEL}> "{"x" * 2001}" .', "name is 2,001 characters"),
    (f"<{EX}{'x' * 1000}> <{SDO}brand> <{EX}b> .", "IRI is 1,019 characters"),
    (f'<{EX}p> <{RDFS_LABEL}> "x"@en^^<{EX}t> .', "not a valid N-Triples statement"),
])
def test_bad_line_names_file_and_line(tmp_path, bad_line, message):
    path = write(tmp_path / "bad.nt", GOOD + "# comment\n" + bad_line + "\n" + GOOD)
    with pytest.raises(InputError) as err:
        parse_rdf(path)
    assert "bad.nt:3: " in str(err.value)
    assert message in str(err.value)
    assert len(err.value.problems) == 1


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "bad.nt"
    path.write_bytes(GOOD.encode() + f'<{EX}p> <{RDFS_LABEL}> "'.encode() + b'\xff\xfe" .\n')
    with pytest.raises(InputError, match=r"bad.nt:2: not UTF-8"):
        parse_rdf(path)


def test_all_problems_are_reported_and_capped(tmp_path):
    path = write(tmp_path / "many.nt", "garbage\n" * (rdf.MAX_PROBLEMS + 50))
    with pytest.raises(InputError) as err:
        parse_rdf(path)
    assert len(err.value.problems) == rdf.MAX_PROBLEMS + 1
    assert err.value.problems[-1].endswith(f"stopped after {rdf.MAX_PROBLEMS} problems")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(tmp_path, text):
    with pytest.raises(InputError, match=r"empty.nt: no triples"):
        parse_rdf(write(tmp_path / "empty.nt", text))


def test_unknown_extension_and_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"unknown RDF file extension"):
        parse_rdf(write(tmp_path / "data.rdf", GOOD))
    with pytest.raises(InputError, match=r"missing.nt: not a file"):
        parse_rdf(tmp_path / "missing.nt")


def test_turtle_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path / "bad.ttl", f"@prefix ex: <{EX}> .\nex:a ex:b ex:c .\n\nex:a ex:b .\n")
    with pytest.raises(InputError, match=r"bad.ttl:4: not valid Turtle"):
        parse_rdf(path)


def test_turtle_bad_value_names_the_subject(tmp_path):
    path = write(tmp_path / "bad.ttl", f'<{EX}a> <{RDFS_LABEL}> "bad\\u0002" .\n')
    with pytest.raises(InputError, match=rf"bad.ttl: <{EX}a>: name contains control characters"):
        parse_rdf(path)


@pytest.mark.parametrize("damage", ["truncated", "not gzip"])
def test_corrupt_gzip(tmp_path, damage):
    body = "".join(f'<{EX}p{i}> <{RDFS_LABEL}> "product number {i * 7919 % 10007}" .\n' for i in range(2000))
    data = gzip.compress(body.encode())
    path = tmp_path / "bad.nt.gz"
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else body.encode())
    with pytest.raises(InputError, match=r"bad.nt.gz:\d+: cannot read the file"):
        parse_rdf(path)


def test_overlong_class_iri_names_its_line(tmp_path):
    text = GOOD + f"<{EX}p> <{RDF_TYPE}> <{EX}{'C' * 1000}> .\n"
    with pytest.raises(InputError, match=r"names.nt:2: class IRI is 1,019 characters"):
        parse_rdf(write(tmp_path / "names.nt", text))


def test_colliding_name_hashes_are_refused(tmp_path, monkeypatch):
    def collide(_predicates):
        raise SchemaError("source names map to colliding names even with their hashes")
    monkeypatch.setattr(rdf, "assign_rel_types", collide)
    with pytest.raises(InputError, match=r"names.nt: source names map to colliding names"):
        parse_rdf(write(tmp_path / "names.nt", GOOD))


# --- parse_source dispatch and the store ---------------------------------------------------------------------------

def counts(store):
    rows = execute(store, "ingest/count_graph", read_only=True)
    return rows[0]["nodes"], rows[0]["asserted_relationships"]


@pytest.mark.parametrize("name", ["catalog.nt", "catalog.nq", "catalog.ttl.gz", "Catalog.NT.GZ"])
def test_parse_source_dispatches_rdf_files(tmp_path, name):
    text = CATALOG_NT
    if ".nq" in name.lower():
        text = as_quads(text)
    if ".ttl" in name.lower():
        text = rdflib.Graph().parse(data=CATALOG_NT, format="nt").serialize(format="turtle")
    graph = parse_source(write(tmp_path / name, text))
    assert len(graph.entities) == 3 and len(graph.triples) == 3


def test_ingest_rdf_into_the_store_and_rerun_changes_nothing(store, tmp_path):
    path = write(tmp_path / "catalog.nt.gz", CATALOG_NT)
    report = ingest_path(store, path)
    assert (report["entities"], report["triples"], report["relationships_created"]) == (3, 3, 3)
    parsed = parse_rdf(path)
    product, brand = label_of(parsed, f"{SDO}Product"), label_of(parsed, f"{SDO}Brand")
    rows = store.query(f"MATCH (n:{names.quote(product)}) RETURN n.id AS id, n.name AS name, n.description AS d, "
                       "n.type AS type ORDER BY id")
    assert rows == [
        {"id": f"{EX}p1", "name": "Aurora Headphones", "d": "Wireless headphones by Sonique", "type": f"{SDO}Product"},
        {"id": f"{EX}p2", "name": "Sonique Cable", "d": "", "type": f"{SDO}Product"}]
    has_brand = rel_type_of(parsed, f"{SDO}brand")
    rows = store.query(f"MATCH (p)-[:{names.quote(has_brand)}]->(b:{names.quote(brand)}) "
                       "RETURN p.id AS p, b.name AS b ORDER BY p")
    assert rows == [{"p": f"{EX}p1", "b": "Sonique"}, {"p": f"{EX}p2", "b": "Sonique"}]
    before = counts(store)
    again = ingest_path(store, path)
    assert again["relationships_created"] == 0
    assert counts(store) == before == (3, 3)


def test_bad_rdf_writes_nothing(store, tmp_path):
    path = write(tmp_path / "bad.nt", CATALOG_NT + "<broken\n")
    with pytest.raises(InputError, match=rf"bad.nt:{CATALOG_NT.count(chr(10)) + 1}: not a valid N-Triples statement"):
        ingest_path(store, path)
    assert counts(store) == (0, 0)


# --- the real public sample ----------------------------------------------------------------------------------------

WD = "http://www.wikidata.org/entity/"
WIKIBASE = "http://wikiba.se/ontology#"
ITEM = f"{WD}Q24628793"
CITES = [f"{WD}Q{n}" for n in (21184040, 21184134, 24539754, 27860848, 28750040, 34074230, 37639713, 34476878,
                               48271573, 48698785)]
MAIN_SUBJECTS = [f"{WD}Q{n}" for n in (10872, 10876, 4839988, 222046, 65989594, 60390432, 71150857)]


def test_real_sample_is_the_committed_source_file():
    text = SAMPLE.read_text(encoding="utf-8")
    assert len(text) == 20_925 and SAMPLE.stat().st_size < 50_000
    assert len(rdflib.Graph().parse(SAMPLE, format="turtle")) == 427


def test_real_sample_parses_to_the_facts_checked_by_hand():
    graph = parse_rdf(SAMPLE)
    by_id = {e.id: e for e in graph.entities}
    item = by_id[ITEM]
    assert item.name == "The amazing world of bacterial structured RNAs"  # @en among @en, @nl, @ast
    assert item.description == "scientific article"  # @en among 60 languages
    assert (item.type, item.label) == (f"{WIKIBASE}Item", label_of(graph, f"{WIKIBASE}Item"))
    triples = {(t.head, t.rel_type, t.tail) for t in graph.triples}
    cites = rel_type_of(graph, "http://www.wikidata.org/prop/direct/P2860")
    main_subject = rel_type_of(graph, "http://www.wikidata.org/prop/direct/P921")
    author = rel_type_of(graph, "http://www.wikidata.org/prop/direct/P50")
    assert {t for h, r, t in triples if h == ITEM and r == cites} == set(CITES)
    assert {t for h, r, t in triples if h == ITEM and r == main_subject} == set(MAIN_SUBJECTS)
    assert (ITEM, author, f"{WD}Q26702682") in triples
    # the same property as a direct claim, a statement link and a statement value: three distinct types
    assert len({cites, rel_type_of(graph, "http://www.wikidata.org/prop/P2860"),
                rel_type_of(graph, "http://www.wikidata.org/prop/statement/P2860")}) == 3
    labels = [e.label for e in graph.entities]
    assert labels.count(label_of(graph, f"{WIKIBASE}Reference")) == 13
    assert labels.count(label_of(graph, f"{WIKIBASE}TimeValue")) == 10
    statement = by_id["http://www.wikidata.org/entity/statement/Q24628793-F9287EE0-8D32-4BAC-BE1F-CE351213BDB0"]
    assert statement.type == f"{WIKIBASE}BestRank"  # typed Statement and BestRank: the first in sorted order
    assert (len(graph.entities), len(graph.triples)) == (93, 189)
    assert all(names.check_rel_type(t) == t for t in graph.rel_types)


def test_real_sample_streamed_as_ntriples_and_nquads_gives_the_same_graph(tmp_path):
    ntriples = rdflib.Graph().parse(SAMPLE, format="turtle").serialize(format="nt")
    reference = canonical(parse_rdf(SAMPLE))
    assert canonical(parse_rdf(write(tmp_path / "sample.nt.gz", ntriples))) == reference
    assert canonical(parse_rdf(write(tmp_path / "sample.nq.gz", as_quads(ntriples)))) == reference


def test_real_sample_ingests_and_rerun_changes_nothing(store):
    report = ingest_path(store, SAMPLE)
    assert (report["entities"], report["relationships_created"]) == (93, 189)
    assert counts(store) == (93, 189)
    cites = rel_type_of(parse_rdf(SAMPLE), "http://www.wikidata.org/prop/direct/P2860")
    rows = store.query(f"MATCH (a {{id: $item}})-[:{names.quote(cites)}]->(b) RETURN b.id AS id ORDER BY id",
                       {"item": ITEM})
    assert [r["id"] for r in rows] == sorted(CITES)
    rows = store.query("MATCH (n:Entity {id: $item}) RETURN n.name AS name, n.description AS d", {"item": ITEM})
    assert rows == [{"name": "The amazing world of bacterial structured RNAs", "d": "scientific article"}]
    # the store's name registry keeps the original IRIs
    assert relation_registry(store)[cites]["source_id"] == "http://www.wikidata.org/prop/direct/P2860"
    reference = label_of(parse_rdf(SAMPLE), f"{WIKIBASE}Reference")
    assert label_registry(store)[reference]["source_id"] == f"{WIKIBASE}Reference"
    again = ingest_path(store, SAMPLE)
    assert again["relationships_created"] == 0
    assert sorted(again["rel_types"]) == sorted(report["rel_types"])
    assert counts(store) == (93, 189)


def test_kgp_ingest_cli_loads_an_rdf_file(cli_env):
    done = run_kgp("ingest", str(SAMPLE), "--json", env=cli_env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["entities"], report["triples"], report["relationships_created"]) == (93, 189, 189)
