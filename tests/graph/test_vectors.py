"""Entity embeddings in the store's vector index (kgplatform/graph/vectors.py, cypher/vector/) on a real embedded
FalkorDB: nearest-neighbour order on planted geometry, idempotent writes, clear errors, the analyst files, the
recommender's export ignoring the vectors, and the write-back hook of a recommendation run."""

from __future__ import annotations

import json

import pytest
import torch

from kgplatform.cli.store import shown
from kgplatform.errors import KgpError
from kgplatform.graph import cypher_files
from kgplatform.graph.export_behaviour import export_recdata
from kgplatform.graph.store import execute, open_store
from kgplatform.graph.vectors import (
    drop_vector_index,
    ensure_vector_index,
    index_info,
    replace_embeddings,
    similar_entities,
    similar_to_vector,
    write_embeddings,
)
from kgplatform.ingest.load import ingest_path, ingest_rec_layout
from kgplatform.pipeline.recsteps import rec_writeback_step, run_recommend_pipeline
from kgplatform.pipeline.rundir import RunDir
from kgplatform.recommend.config import RecConfig, RecRunConfig
from tests.graph.test_export_behaviour import CATALOG as SHOP_CATALOG
from tests.graph.test_export_behaviour import LOG as SHOP_LOG
from tests.support.env import run_kgp
from tests.support.recfolders import write_rec_folder
from tests.support.recsynth import planted_folder_files

# Planted geometry: p:2 and the brand b:1 lie next to p:1, p:3 half-way to p:4, p:5 opposite p:1.
VECTORS = {"p:1": [1.0, 0.0, 0.0], "p:2": [0.9, 0.1, 0.0], "p:3": [0.6, 0.6, 0.0], "p:4": [0.0, 1.0, 0.0],
           "p:5": [-1.0, 0.0, 0.0], "b:1": [0.95, 0.05, 0.0], "b:2": [0.0, 0.0, 1.0]}
PLANTED = """
CREATE (p1:Entity:Product {id: 'p:1', name: 'Buds'}), (p2:Entity:Product {id: 'p:2', name: 'Buds Pro'}),
       (p3:Entity:Product {id: 'p:3', name: 'Speaker'}), (p4:Entity:Product {id: 'p:4', name: 'Lamp'}),
       (p5:Entity:Product {id: 'p:5', name: 'Kettle'}), (p6:Entity:Product {id: 'p:6', name: 'New, no vector'}),
       (b1:Entity:Brand {id: 'b:1', name: 'Sonique'}), (b2:Entity:Brand {id: 'b:2', name: 'Kettlo'}),
       (c1:Entity:Category {id: 'c:1', name: 'Audio'}), (u:User {id: 'u:1'}),
       (p1)-[:HAS_BRAND]->(b2),
       (p2)-[:HAS_BRAND {predicted: true, run_id: 'lp-1', status: 'proposed'}]->(b2),
       (p4)-[:HAS_BRAND {predicted: true, run_id: 'lp-1', status: 'proposed'}]->(b1),
       (p6)-[:IN_CATEGORY {predicted: true, run_id: 'lp-1', status: 'proposed'}]->(c1),
       (u)-[:PURCHASED {timestamp: 1000}]->(p1), (u)-[:VIEWED {timestamp: 3000}]->(p4),
       (u)-[:RECOMMENDED {predicted: true, rank: 1, run_id: 'rec-0'}]->(p3),
       (u)-[:SAMPLED_NEGATIVE {split: 'test'}]->(p2)
"""


def cosine(a: str, b: list[float]) -> float:
    return torch.nn.functional.cosine_similarity(torch.tensor([VECTORS[a]]), torch.tensor([b])).item()


@pytest.fixture
def planted(store):
    store.apply_schema()
    store.query(PLANTED)
    written = write_embeddings(store, list(VECTORS), list(VECTORS.values()), "rec-1", batch_size=3)
    assert written == len(VECTORS)
    return store


def ids(rows: list[dict]) -> list[str]:
    return [r["id"] for r in rows]


def check_nearest(store) -> None:
    """Nearest-neighbour reads on the planted graph (the live-Neo4j test runs this too)."""
    assert index_info(store) == {"dimension": 3, "similarity": "cosine", "online": True}
    assert ids(similar_entities(store, "p:1", k=2)) == ["b:1", "p:2"]  # any label; itself left out
    products = similar_entities(store, "p:1", k=10, label="Product")
    assert ids(products) == ["p:2", "p:3", "p:4", "p:5"]  # p:6 has no vector
    for row in products:
        assert row["score"] == pytest.approx(cosine(row["id"], VECTORS["p:1"]), abs=1e-5)
        assert row["label"] == "Product" and row["name"]
    assert products[-1]["score"] == pytest.approx(-1.0, abs=1e-5)  # opposite: the low end of [-1, 1]
    near = similar_to_vector(store, [0.0, 1.0, 0.0], k=2, exclude=["p:4"])
    assert ids(near) == ["p:3", "p:2"]
    assert near[0]["score"] == pytest.approx(2 ** -0.5, abs=1e-5)
    assert ids(similar_to_vector(store, [0.0, 0.0, 1.0], k=1, label="Brand")) == ["b:2"]


def check_analyst_files(store) -> None:
    """cypher/vector/<backend>/ analyst files on the planted graph (the live-Neo4j test runs this too)."""
    def run(name: str, **params) -> list[dict]:
        return execute(store, f"vector/{store.backend}/{name}", params, read_only=True)

    assert ids(run("similar_products", id="p:1", k=2, label="Product", candidates=100)) == ["p:2", "p:3"]
    # p:1 and p:4 are the user's; p:3 (recommended) and p:2 (a sampled negative) are not behaviour.
    rows = run("similar_to_user", user="u:1", k=10, last=5, label="Product", candidates=100)
    assert ids(rows) == ["p:3", "p:2", "p:5"]
    assert rows[0]["score"] == pytest.approx((cosine("p:3", VECTORS["p:4"]) + cosine("p:3", VECTORS["p:1"])) / 2,
                                             abs=1e-5)
    assert sorted(rows[0]["near"]) == ["p:1", "p:4"]
    latest = run("similar_to_user", user="u:1", k=2, last=1, label="Product", candidates=100)
    assert ids(latest) == ["p:3", "p:2"] and latest[0]["near"] == ["p:4"]
    # p:2's nearest product p:1 has the asserted HAS_BRAND to b:2; p:4's (p:3) has none; p:6 has no vector.
    assert run("prediction_agreement", k=1, candidates=100, run_id=None) == [
        {"rel_type": "HAS_BRAND", "predicted": 2, "with_embedding": 2, "agreeing": 1, "share": 0.5},
        {"rel_type": "IN_CATEGORY", "predicted": 1, "with_embedding": 0, "agreeing": 0, "share": None}]
    assert run("prediction_agreement", k=1, candidates=100, run_id="other") == []


def test_nearest_entities_in_order_with_cosine_scores(planted):
    check_nearest(planted)


def test_analyst_files_on_the_planted_graph(planted):
    check_analyst_files(planted)


def test_rewriting_the_same_vectors_changes_nothing(planted):
    read = "MATCH (n:Entity) RETURN n.id AS id, n.embedding AS e, n.embedding_run AS run, n.updated_at AS u ORDER BY id"
    before = planted.query(read)
    assert write_embeddings(planted, list(VECTORS), list(VECTORS.values()), "rec-1") == len(VECTORS)
    assert planted.query(read) == before
    assert ensure_vector_index(planted, 3) == "exists"
    # An id the store does not hold is skipped and not counted.
    assert write_embeddings(planted, ["p:1", "nobody"], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "rec-1") == 1


def test_errors_name_the_entity_or_the_dimension(planted):
    with pytest.raises(KgpError, match="no entity with id 'nope'"):
        similar_entities(planted, "nope")
    with pytest.raises(KgpError, match="'p:6' has no embedding"):
        similar_entities(planted, "p:6")
    with pytest.raises(KgpError, match="dimension 3, these vectors 2"):
        write_embeddings(planted, ["p:1"], [[1.0, 0.0]], "rec-2")
    with pytest.raises(KgpError, match="query vector has 2 values, the entity vector index 3"):
        similar_to_vector(planted, [1.0, 0.0])
    with pytest.raises(KgpError, match="NaN or infinite"):
        write_embeddings(planted, ["p:1"], [[float("nan"), 0.0, 0.0]], "rec-2")
    with pytest.raises(KgpError, match="one vector per id"):
        write_embeddings(planted, ["p:1", "p:2"], [[1.0, 0.0, 0.0]], "rec-2")


@pytest.mark.parametrize("bad", [0, 4097, True, "3", 3.0, "3} ) DETACH DELETE n //"])
def test_dimension_placeholder_takes_only_a_plain_int_in_range(bad):
    with pytest.raises(KgpError, match="invalid vector dimension"):
        cypher_files.render("vector/falkordb/create_index", dimension=bad)
    assert "dimension: 384," in cypher_files.render("vector/falkordb/create_index", dimension=384)
    with pytest.raises(KgpError, match="needs a value for __DIM__"):
        cypher_files.render("vector/neo4j/create_index")


def test_a_run_of_another_dimension_replaces_the_index_and_the_older_vectors(planted):
    outcome = replace_embeddings(planted, ["p:1", "p:2"], [[1.0, 0.0], [0.0, 1.0]], "rec-2")
    assert outcome == {"embeddings": 2, "index": "replaced", "removed": len(VECTORS) - 2}
    assert index_info(planted)["dimension"] == 2
    left = planted.query("MATCH (n:Entity) WHERE n.embedding IS NOT NULL RETURN n.id AS id, n.embedding_run AS run "
                         "ORDER BY id")
    assert left == [{"id": "p:1", "run": "rec-2"}, {"id": "p:2", "run": "rec-2"}]
    assert ids(similar_entities(planted, "p:1", k=5)) == ["p:2"]
    assert drop_vector_index(planted) and index_info(planted) is None and not drop_vector_index(planted)


def test_analyst_similar_products_through_kgp_cypher(planted, cli_env):
    done = run_kgp("cypher", "--file", "vector/falkordb/similar_products", "--param", "id=p:1", "--param", "k=2",
                   "--json", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert ids(json.loads(done.stdout)) == ["p:2", "p:3"]  # Products only by default: not the brand b:1
    other = run_kgp("cypher", "--file", "vector/neo4j/similar_products", "--param", "id=p:1", env=cli_env)
    assert other.returncode == 2 and "vector/falkordb/similar_products" in " ".join(other.stderr.split())


def test_kgp_cypher_tables_summarise_a_node_embedding():
    node = {"labels": ["Entity", "Product"], "id": "p:1", "embedding": [0.5] * 64, "tags": ["a", "b"]}
    assert shown([node]) == [{**node, "embedding": "<64 numbers>"}]


def test_an_item_with_an_embedding_exports_the_same_recdata(store, tmp_path):
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("\n".join(json.dumps(x) for x in SHOP_CATALOG) + "\n")
    ingest_path(store, catalog)
    (tmp_path / "log.csv").write_text(SHOP_LOG)
    ingest_path(store, tmp_path / "log.csv")
    before = export_recdata(store)
    replace_embeddings(store, before.entity_ids, torch.randn(len(before.entity_ids), 8), "rec-1")
    after = export_recdata(store)
    assert after.categorical_names == before.categorical_names == ["colour", "fits"]  # no 'embedding_run'
    assert after.numeric_names == before.numeric_names == ["price"]
    assert after.content_hash() == before.content_hash()


def test_recommendation_writeback_stores_every_entity_vector(base_settings, tmp_path):
    settings = base_settings.model_copy(update={"graph": "t_vectors_hook"})
    store = open_store(settings)
    try:
        ingest_rec_layout(store, write_rec_folder(tmp_path / "planted", planted_folder_files()))
        quick = RecConfig(dim=8, max_epochs=2, eval_min_steps=1, patience=1, time_budget_s=30, use_text=False)
        summary = run_recommend_pipeline(store, settings, RecRunConfig(train=quick, top_n=3, item_label=None))
        run_id = summary["run_id"]
        out = RunDir.of(settings.runs_dir, run_id)
        data = out.load_recdata()
        step = out.step_summaries()["writeback"]
        assert step["embeddings"] == data.num_entities and step["embedding_index"] == "created"
        stored = store.query("MATCH (n:Entity) WHERE n.embedding_run = $run RETURN n.id AS id, n.embedding AS e",
                             {"run": run_id})
        assert sorted(r["id"] for r in stored) == sorted(data.entity_ids)  # items and brands
        vectors = out.load_tensor(RunDir.REC_VECTORS)["entities"]
        first = next(r for r in stored if r["id"] == data.entity_ids[0])
        assert first["e"] == pytest.approx(vectors[0].tolist(), abs=1e-6)
        item = data.entity_ids[0]
        assert all(r["label"] == "Product" for r in similar_entities(store, item, k=3, label="Product"))
        rec_writeback_step(store, settings, run_id)  # rerun: same vectors, index kept
        assert out.step_summaries()["writeback"]["embedding_index"] == "exists"
        assert store.query("MATCH (n:Entity) WHERE n.embedding_run = $run RETURN n.id AS id, n.embedding AS e",
                           {"run": run_id}) == stored
    finally:
        store.delete_graph()
        store.close()
