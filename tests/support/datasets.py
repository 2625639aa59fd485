"""Small dataset folders in the shared layout (entities.tsv + triples_train.tsv), written by the ingest tests."""

from __future__ import annotations

from kgplatform.graph.store import execute


def write_dataset(folder, entities, train, extra=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "entities.tsv").write_text("".join("\t".join(e) + "\n" for e in entities), encoding="utf-8")
    (folder / "triples_train.tsv").write_text("".join("\t".join(t) + "\n" for t in train), encoding="utf-8")
    for name, text in (extra or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


ENTITIES = [("p1", "Aurora Headphones", "Wireless headphones by Sonique", "Product"),
            ("p2", "Sonique Cable", "", "Product"), ("b1", "Sonique", "", "Brand")]
TRAIN = [("p1", "HAS_BRAND", "b1"), ("p2", "HAS_BRAND", "b1"), ("p1", "BOUGHT_TOGETHER", "p2")]


def counts(store):
    rows = execute(store, "ingest/count_graph", read_only=True)
    return rows[0]["nodes"], rows[0]["asserted_relationships"]
