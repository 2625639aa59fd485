"""`kgp serve-api` as a real server process on the real store: auth, bad input, an interaction that changes that
person's recommendations, a new product served without a restart, and a retrain swapped in under load with no
failed request."""

from __future__ import annotations

import threading

import httpx
import pytest

from kgplatform.bench.serving import ApiServer, load
from kgplatform.pipeline.recsteps import run_recommend_pipeline
from tests.serving.conftest import SERVED_CFG
from tests.support.env import free_port
from tests.support.recsynth import planted_world

WORLD = planted_world()


@pytest.fixture(scope="module")
def server(served, tmp_path_factory):
    settings, _, _ = served
    api = ApiServer(settings, free_port(), poll_s=0.5, reload_s=0.5,
                    log_path=tmp_path_factory.mktemp("api") / "serve-api.log")
    try:
        api.wait_ready(timeout_s=300)
        yield api
    finally:
        api.stop()


def get(server, path: str, token: str | None = None) -> httpx.Response:
    token = server.token if token is None else token
    return httpx.get(server.url + path, headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=30)


def test_the_server_wants_a_token_and_validates_input(server):
    assert get(server, "/api/recommendations/user:0:1", token="").status_code == 401
    assert get(server, "/api/recommendations/user:0:1", token="not-a-client").status_code == 401
    assert get(server, "/api/recommendations/user:0:1?k=100000").status_code == 422
    assert get(server, "/api/similar/not-an-item").status_code == 404
    assert get(server, "/health", token="").json() == {"status": "ok"}


def test_an_interaction_changes_that_persons_recommendations(server):
    user = "user:2:4"
    before = [r["item"] for r in get(server, f"/api/recommendations/{user}?k=10").json()["items"]]
    target = next(i for i in WORLD["items"] if i.startswith("item:0:"))
    posted = httpx.post(server.url + "/api/interactions", json={"user_id": user, "item_id": target},
                        headers={"Authorization": f"Bearer {server.token}"}, timeout=30)
    assert posted.status_code == 201 and posted.json()["created"]
    after = get(server, f"/api/recommendations/{user}?k=10").json()
    assert after["basis"] == "folded-in"
    assert [r["item"] for r in after["items"]] != before
    assert target not in {r["item"] for r in after["items"]}


def test_a_retrain_is_swapped_in_under_load_without_a_failed_request(server, served):
    settings, store, _ = served
    first = server.model()["run_id"]
    done = threading.Event()
    result: dict = {}
    paths = [f"/api/recommendations/{u}?k=10" for u in WORLD["users"][:20]] + ["/api/search?q=Brand%20brand:1"]
    loader = threading.Thread(target=lambda: result.update(load(server.url, server.token, paths, 4, until=done)))
    loader.start()
    try:
        newer = run_recommend_pipeline(store, settings, SERVED_CFG)["run_id"]
        for _ in range(240):  # the server looks every 0.5 s; loading the model takes a few seconds
            if server.model()["run_id"] == newer:
                break
            done.wait(0.5)
    finally:
        done.set()
        loader.join(timeout=60)
    assert server.model()["run_id"] == newer != first
    assert result["requests"] > 50
    assert result["errors"] == 0, result["error_kinds"]


def test_serve_api_refuses_a_misspelt_graph_and_creates_nothing(served):
    from tests.support.env import run_kgp

    settings, store, _ = served
    env = {"KGP_STORE": "falkordb", "KGP_HOME": str(settings.home), "KGP_FALKORDB_PORT": str(settings.falkordb_port),
           "KGP_GRAPH": "t_servingg", "KGP_API_TOKENS": "suite=" + "t" * 32}
    result = run_kgp("serve-api", "--port", str(free_port()), env=env, timeout=120)
    assert result.returncode != 0
    assert "no graph 't_servingg'" in result.stderr
    assert "t_servingg" not in store.graphs()
