"""Real-world names: relation ids and entity types as real sources write them load, named readably and uniquely,
with the original kept in the store's registry; the shipped datasets keep exactly the names they always had."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from kgplatform.graph.names import source_hash
from kgplatform.graph.runs import record_run, show_run
from kgplatform.graph.schema import label_registry, relation_registry
from kgplatform.graph.writeback import write_predictions
from kgplatform.ingest.load import ingest_path, parse_source
from kgplatform.ingest.tsv import parse_dataset_dir
from kgplatform.review.api import create_app
from tests.support.datasets import counts, write_dataset
from tests.support.env import DATASETS, run_kgp

LONG_ID = "/film/film/release_date_s./film/film_regional_release_date/film_release_distribution_medium" + "/x" * 5
ENTITIES = [
    ("m1", "Avatar", "", "3D film"),
    ("m2", "Up", "", "3D film"),
    ("s1", "École normale supérieure", "", "grande école"),
    ("o1", "PEN", "", "writers’ organization"),
    ("p1", "Ada", "", "http://dbpedia.org/ontology/Person"),
    ("c1", "France", "", "<http://www.wikidata.org/entity/Q6256>"),
    ("t1", "Thing one", "", ""),
]
TRIPLES = [
    ("p1", "/people/person/nationality", "c1"),
    ("p1", "http://dbpedia.org/ontology/birthPlace", "c1"),
    ("s1", "<http://www.wikidata.org/prop/direct/P31>", "o1"),
    ("m1", "has sequel", "m2"),
    ("m1", "film.film.country", "c1"),
    ("p1", "città natale", "c1"),
    ("m1", "3d_format", "m2"),
    ("p1", "_member_of", "o1"),
    ("m1", LONG_ID, "c1"),
    ("p1", "has brand", "o1"),  # these two fold to the same name
    ("p1", "has-brand", "s1"),
]
EXPECTED_TYPES = {
    "/people/person/nationality": "PEOPLE_PERSON_NATIONALITY",
    "http://dbpedia.org/ontology/birthPlace": "BIRTH_PLACE",
    "<http://www.wikidata.org/prop/direct/P31>": "P31",
    "has sequel": "HAS_SEQUEL",
    "film.film.country": "FILM_FILM_COUNTRY",
    "città natale": "CITTA_NATALE",
    "3d_format": "REL_3D_FORMAT",
    "_member_of": "MEMBER_OF",
    "has brand": "HAS_BRAND_" + source_hash("has brand", upper=True),
    "has-brand": "HAS_BRAND_" + source_hash("has-brand", upper=True),
}
EXPECTED_LABELS = {
    "3D film": "Type3DFilm",
    "grande école": "GrandeEcole",
    "writers’ organization": "WritersOrganization",
    "http://dbpedia.org/ontology/Person": "Person",
    "<http://www.wikidata.org/entity/Q6256>": "Q6256",
    "": "Thing",
}


def real_names_dataset(folder):
    relations = "http://dbpedia.org/ontology/birthPlace\tbirth place\n/people/person/nationality\tnationality\n"
    return write_dataset(folder, ENTITIES, TRIPLES, extra={"relations.tsv": relations})


def store_names(store) -> tuple[set[str], set[str]]:
    types = store.query("MATCH (:Entity)-[r]->(:Entity) RETURN DISTINCT type(r) AS t", read_only=True)
    labels = store.query("MATCH (n:Entity) UNWIND labels(n) AS l RETURN DISTINCT l", read_only=True)
    return {r["t"] for r in types}, {r["l"] for r in labels} - {"Entity"}


def test_dataset_with_real_world_names_loads(store, tmp_path):
    """Before: refused ('invalid relationship type', 'entity type ... has characters outside ...')."""
    folder = real_names_dataset(tmp_path / "d")
    report = ingest_path(store, folder)
    assert report["relationships_created"] == len(TRIPLES)
    long_type = "FILM_FILM_RELEASE_DATE_S_FILM_FILM_REGIONAL_RELEASE_DAT_" + source_hash(LONG_ID, upper=True)
    types, labels = store_names(store)
    assert types == {*EXPECTED_TYPES.values(), long_type}
    assert labels == set(EXPECTED_LABELS.values())

    registry = relation_registry(store)
    assert {t: v["source_id"] for t, v in registry.items()} == {
        **{t: s for s, t in EXPECTED_TYPES.items()}, long_type: LONG_ID}
    assert registry["BIRTH_PLACE"]["text"] == "birth place"
    assert registry["P31"]["text"] == ""
    assert {lb: v["source_id"] for lb, v in label_registry(store).items()} == {
        lb: s for s, lb in EXPECTED_LABELS.items()}

    # a rerun gives the same names and writes nothing new
    again = ingest_path(store, folder)
    assert again["relationships_created"] == 0 and store_names(store) == (types, labels)
    assert counts(store) == (len(ENTITIES), len(TRIPLES))


def test_names_do_not_depend_on_row_order(tmp_path):
    a = parse_source(real_names_dataset(tmp_path / "a"))
    b = parse_source(write_dataset(tmp_path / "b", ENTITIES[::-1], TRIPLES[::-1]))
    assert a.rel_types == b.rel_types and a.labels == b.labels


def test_a_later_source_never_takes_a_registered_name(store, tmp_path):
    """Two ingests into one graph: DBpedia's 'name' first, then FOAF's, which folds to the same NAME."""
    first = write_dataset(tmp_path / "a", [("x", "X", "", "Person"), ("y", "Y", "", "Person")],
                          [("x", "http://dbpedia.org/ontology/name", "y")])
    second = write_dataset(tmp_path / "b", [("x", "X", "", "Person"), ("y", "Y", "", "Person")],
                           [("x", "http://xmlns.com/foaf/0.1/name", "y")])
    ingest_path(store, first)
    report = ingest_path(store, second)
    foaf = "NAME_" + source_hash("http://xmlns.com/foaf/0.1/name", upper=True)
    assert report["rel_types"] == [foaf]
    assert {t: v["source_id"] for t, v in relation_registry(store).items()} == {
        "NAME": "http://dbpedia.org/ontology/name", foaf: "http://xmlns.com/foaf/0.1/name"}
    assert ingest_path(store, second)["rel_types"] == [foaf]  # and keeps it on re-ingest
    assert ingest_path(store, first)["rel_types"] == ["NAME"]
    assert counts(store) == (2, 2)


def test_kgp_ingest_cli_loads_real_world_names(cli_env, tmp_path):
    folder = real_names_dataset(tmp_path / "d")
    done = run_kgp("ingest", str(folder), "--json", env=cli_env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["relationships_created"] == len(TRIPLES)
    assert {"BIRTH_PLACE", "PEOPLE_PERSON_NATIONALITY", "P31"} <= set(report["rel_types"])
    assert {"Type3DFilm", "GrandeEcole", "WritersOrganization"} <= set(report["labels"])


# --- the shipped datasets keep their names --------------------------------------------------------------------

def legacy_rel_type(text: str) -> str | None:
    """The rule of kgplatform/graph/names.py before real-world names (HEAD of the hardening issue)."""
    candidate = re.sub(r"[\s\-./]+", "_", text.strip().lstrip("_").upper())
    return candidate if re.match(r"^[A-Z][A-Z0-9_]{0,63}$", candidate) else None


def legacy_label(text: str) -> str | None:
    text = text.strip()
    if not text:
        return "Thing"
    if not re.match(r"^[A-Za-z][A-Za-z0-9 _\-'.,()&/]{0,127}$", text):
        return None
    label = "".join(w[:1].upper() + w[1:] for w in re.findall(r"[A-Za-z0-9]+", text))[:64]
    reserved = {"Entity", "KgpRun", "KgpSchema", "KgpReview", "KgpWatermark"}
    return None if label in reserved or not re.match(r"^[A-Z][A-Za-z0-9_]{0,63}$", label) else label


AMAZON_TYPES = {"ALSO_BOUGHT", "ALSO_VIEWED", "HAS_BRAND", "IN_CATEGORY"}
SHIPPED = {  # (relationship types, a sample of labels, number of labels): the names benchmarks were run with
    "wn18rr": ({"ALSO_SEE", "DERIVATIONALLY_RELATED_FORM", "HAS_PART", "HYPERNYM", "INSTANCE_HYPERNYM",
                "MEMBER_MERONYM", "MEMBER_OF_DOMAIN_REGION", "MEMBER_OF_DOMAIN_USAGE", "SIMILAR_TO",
                "SYNSET_DOMAIN_TOPIC_OF", "VERB_GROUP"}, {"Synset"}, 1),
    "codex-s": ({"P101", "P102", "P1050", "P106", "P108", "P112", "P119", "P1303", "P135", "P136", "P138", "P140",
                 "P1412", "P159", "P161", "P17", "P172", "P19", "P20", "P2348", "P26", "P264", "P27", "P30",
                 "P3095", "P3373", "P35", "P361", "P37", "P40", "P451", "P463", "P495", "P509", "P530", "P551",
                 "P69", "P737", "P740", "P749", "P800", "P840"},
                {"Human", "SovereignState", "MusicGenre", "AcademyOfSciences", "SpecializedAgencyOfTheUnitedNations",
                 "MediterraneanCountry", "IslandNation", "AbrahamicReligion"}, 168),
    "amazon-beauty-2014": (AMAZON_TYPES | {"BOUGHT_TOGETHER"}, {"Product", "Brand", "Category"}, 3),
    "amazon-giftcards-2018": (AMAZON_TYPES | {"SUBCATEGORY_OF"}, {"Product", "Brand", "Category"}, 3),
    "amazon-magazine-2018": (AMAZON_TYPES | {"SUBCATEGORY_OF"}, {"Product", "Brand", "Category"}, 3),
}


def link_prediction_datasets() -> list[str]:
    if not DATASETS.is_dir():
        return []
    return sorted(d.name for d in DATASETS.iterdir()
                  if (d / "entities.tsv").is_file() and (d / "triples_train.tsv").is_file())


@pytest.mark.parametrize("name", link_prediction_datasets() or ["(no datasets)"])
def test_shipped_datasets_keep_their_names(name):
    if name == "(no datasets)":
        pytest.skip(f"no datasets at {DATASETS}")
    graph = parse_dataset_dir(DATASETS / name)
    # every name the earlier rule gave is the name given now
    for e in graph.entities:
        assert legacy_label(e.type) in (None, e.label), (e.type, e.label)
    for rel_type, relation in graph.relation_sources.items():
        assert legacy_rel_type(relation) in (None, rel_type), (relation, rel_type)
    if name in SHIPPED:
        rel_types, some_labels, n_labels = SHIPPED[name]
        assert set(graph.rel_types) == rel_types
        assert some_labels <= set(graph.labels) and len(graph.labels) == n_labels
        assert all(legacy_rel_type(r) is not None for r in graph.relation_sources.values())
        assert all(legacy_label(e.type) is not None for e in graph.entities)


def recommendation_kg_as_link_prediction(source, folder, relation_form):
    """A recommendation dataset's KG (kg.tsv, relations.tsv, entities.tsv: id, name, source id) written in the
    link-prediction layout, with its relation ids in `relation_form` (a function of the Freebase name)."""
    names = dict(line.rstrip("\n").split("\t")[:2] for line in (source / "relations.tsv").open(encoding="utf-8"))
    folder.mkdir()
    with (folder / "entities.tsv").open("w", encoding="utf-8") as out:
        for line in (source / "entities.tsv").open(encoding="utf-8"):
            ent_id, name, *_ = line.rstrip("\n").split("\t")
            out.write(f"{ent_id}\t{name}\t\t\n")
    with (folder / "triples_train.tsv").open("w", encoding="utf-8") as out:
        for line in (source / "kg.tsv").open(encoding="utf-8"):
            h, r, t = line.rstrip("\n").split("\t")
            out.write(f"{h}\t{relation_form(r, names[r])}\t{t}\n")
    return folder


@pytest.mark.parametrize("dataset", ["ml100k-fb", "lastfm-kgcn"])
def test_freebase_kgs_load_with_paths_or_numeric_relation_ids(tmp_path, dataset):
    """ml100k-fb and lastfm-kgcn ship in the recommendation layout (kg.tsv), so parse_dataset_dir skips them as
    they are. Their KG in the link-prediction layout, with Freebase paths ('/film/actor/film') or the numeric
    relation ids of kg.tsv, was refused before; now it loads, and a path names its type as its dotted form
    ('film.actor.film', accepted before) always did."""
    source = DATASETS / dataset
    if not (source / "kg.tsv").is_file():
        pytest.skip(f"{source} not found")
    assert not (source / "triples_train.tsv").is_file()
    paths = parse_dataset_dir(recommendation_kg_as_link_prediction(
        source, tmp_path / "paths", lambda r, name: "/" + name.replace(".", "/")))
    for rel_type, relation in paths.relation_sources.items():
        assert legacy_rel_type(relation) is None  # refused before
        assert rel_type == legacy_rel_type(relation[1:].replace("/", "."))
    numeric = parse_dataset_dir(recommendation_kg_as_link_prediction(source, tmp_path / "ids", lambda r, _: r))
    assert {numeric.relation_sources[t]: t for t in numeric.rel_types} == {
        r: f"REL_{r}" for r in numeric.relation_sources.values()}
    assert len(paths.triples) == len(numeric.triples) > 10_000


def test_original_relation_ids_are_shown_by_runs_show_and_the_review_page(store, settings, tmp_path):
    ingest_path(store, real_names_dataset(tmp_path / "d"))
    prediction = {"head": "p1", "rel_type": "PEOPLE_PERSON_NATIONALITY", "tail": "c1", "score": 2.0,
                  "probability": 0.95, "evidence": "test"}
    record_run(store, run_id="run-names", model="kgp-test@0", config={}, metrics={}, counts={}, status="completed",
               snapshot_hash="x", method="text+gnn")
    write_predictions(store, [prediction], run_id="run-names", model="kgp-test@0", method="text+gnn")
    shown = show_run(store, "run-names")
    assert shown["relation_sources"] == {"PEOPLE_PERSON_NATIONALITY": "/people/person/nationality"}
    token = "t" * 32
    client = TestClient(create_app(settings, token, store=store), base_url="http://127.0.0.1:8765")
    answer = client.get("/api/edge", params={"head": "p1", "rel_type": "PEOPLE_PERSON_NATIONALITY", "tail": "c1",
                                             "run_id": "run-names"}, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.json()["edge"]["rel_source"] == "/people/person/nationality"
