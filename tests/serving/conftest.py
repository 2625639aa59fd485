"""A served recommender: the planted world in a real FalkorDB graph, one completed recommendation run, and the
service over it (the real text encoder, the real item index)."""

from __future__ import annotations

import pytest

from kgplatform.graph.store import open_store
from kgplatform.ingest.load import ingest_rec_layout
from kgplatform.pipeline.recsteps import run_recommend_pipeline
from kgplatform.recommend.config import RecConfig, RecRunConfig
from kgplatform.serving.service import RecommendationService
from tests.support.recfolders import write_rec_folder
from tests.support.recsynth import planted_folder_files

FAST = RecConfig(dim=16, time_budget_s=40, max_epochs=120, patience=15, lr=0.02, batch_size=512, use_text=False)
SERVED_CFG = RecRunConfig(train=FAST, top_n=5, item_label="Product")


@pytest.fixture(scope="package")
def served(base_settings, tmp_path_factory):
    """(settings, store, run summary) of graph t_serving after one recommendation run."""
    settings = base_settings.model_copy(update={"graph": "t_serving"})
    store = open_store(settings)
    folder = write_rec_folder(tmp_path_factory.mktemp("planted"), planted_folder_files())
    ingest_rec_layout(store, folder)
    summary = run_recommend_pipeline(store, settings, SERVED_CFG)
    yield settings, store, summary
    store.delete_graph()
    store.close()


@pytest.fixture(scope="package")
def service(served):
    settings, store, _ = served
    return RecommendationService(settings, store)
