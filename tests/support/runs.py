"""A real run without training: a catalog ingested into FalkorDB and exported; some held-back true links become the
run's predictions, and write-back's explain step gives them evidence before they are written."""

from __future__ import annotations

import torch

from kgplatform.demo.catalog import write_dataset
from kgplatform.graph.export import export_snapshot
from kgplatform.graph.runs import new_run_id, record_run
from kgplatform.graph.writeback import write_predictions
from kgplatform.ingest.load import ingest_path
from kgplatform.pipeline.config import PipelineConfig
from kgplatform.pipeline.rundir import RunDir
from kgplatform.pipeline.stages import prepare_splits
from kgplatform.pipeline.steps import explain_step

MODEL = "kgp-test@0"


def make_run(store, settings, catalog, tmp_path, *, per_type: int = 4, rename: dict | None = None) -> dict:
    """Ingest the catalog, export it, and write some held-back true links as a run with explained evidence.

    rename: {node id: new name}, applied in the store before the export (e.g. hostile names).
    Returns {run_id, run_dir, predictions, explain (the metrics figures)}.
    """
    folder = tmp_path / "catalog"
    write_dataset(catalog, folder)
    ingest_path(store, folder)
    for node_id, name in (rename or {}).items():
        store.query("MATCH (n:Entity {id: $id}) SET n.name = $name", {"id": node_id, "name": name})
    snapshot = prepare_splits(export_snapshot(store), PipelineConfig())
    run_id = new_run_id()
    out = RunDir.of(settings.runs_dir, run_id).create()
    out.save_snapshot(snapshot)
    out.save_tensor(RunDir.FEATURES, torch.nn.functional.normalize(
        torch.randn(snapshot.num_nodes, 16, generator=torch.Generator().manual_seed(0)), dim=1))
    chosen: dict[str, list] = {}
    for h, r, t in sorted(catalog.held_back):
        if len(chosen.setdefault(r, [])) < per_type:
            chosen[r].append((h, r, t))
    predictions = [{"head": h, "rel_type": r, "tail": t, "score": 5.0 - i / 10, "probability": 0.99 - i / 100}
                   for i, (h, r, t) in enumerate(e for edges in chosen.values() for e in edges)]
    predictions, figures = explain_step(out, predictions)
    assert "error" not in figures, figures
    out.save_predictions(predictions)
    record_run(store, run_id=run_id, model=MODEL, config={}, metrics={"explanations": figures}, counts={},
               status="completed", snapshot_hash=snapshot.content_hash(), method="text+gnn")
    write_predictions(store, predictions, run_id=run_id, model=MODEL, method="text+gnn")
    return {"run_id": run_id, "run_dir": out.path, "predictions": predictions, "explain": figures}
