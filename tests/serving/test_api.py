"""The HTTP API in process (FastAPI's TestClient over the real service and store): named client tokens, bounded and
validated input with clear 4xx errors, no stack traces, and the endpoints' shapes."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from kgplatform.serving.api import MAX_K, create_api
from kgplatform.serving.tokens import ClientTokens, digest, parse_env_tokens

SHOP = "shop-token-0123456789abcdefghijkl"
AUDIT = "audit-token-0123456789abcdefghijk"


@pytest.fixture(scope="module")
def client(service):
    tokens = ClientTokens({"shop-frontend": digest(SHOP), "audit": digest(AUDIT)})
    with TestClient(create_api(service, tokens), raise_server_exceptions=False) as c:
        yield c


def auth(token: str = SHOP) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": SHOP},
                                     {"Authorization": "Basic " + SHOP}])
def test_every_api_route_needs_a_clients_token(client, headers):
    for path in ("/api/recommendations/user:0:1", "/api/similar/item:0:1", "/api/search?q=x", "/api/model",
                 "/api/recommendations?q=x"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.post("/api/interactions", json={"user_id": "u", "item_id": "item:0:1"},
                       headers=headers).status_code == 401


def test_the_access_log_names_the_client_never_the_token(client, caplog):
    with caplog.at_level(logging.INFO, logger="kgplatform.api"):
        assert client.get("/api/recommendations/user:0:1", headers=auth(AUDIT)).status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "kgplatform.api"]
    assert any(line.startswith("audit GET /api/recommendations/user:0:1 200") for line in lines)
    assert not any(AUDIT in line for line in lines)


def test_recommendations_with_evidence(client):
    body = client.get("/api/recommendations/user:0:1?k=5&explain=true", headers=auth()).json()
    assert [r["rank"] for r in body["items"]] == [1, 2, 3, 4, 5]
    assert all({"item", "name", "score", "evidence"} <= set(r) for r in body["items"])
    assert body["run_id"].startswith("run-")


@pytest.mark.parametrize("path", ["/api/recommendations/user:0:1?k=0", f"/api/recommendations/user:0:1?k={MAX_K + 1}",
                                  "/api/similar/item:0:1?k=-3", "/api/search?q=", "/api/search?q=" + "x" * 501,
                                  "/api/search?k=5", "/api/recommendations/" + "u" * 600,
                                  "/api/recommendations/user%0Aevil", "/api/search?q=a%00b",
                                  "/api/recommendations?q=ok&user_id=" + "u" * 600])
def test_bad_input_is_a_422_that_says_why(client, path):
    response = client.get(path, headers=auth())
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_unknown_item_is_a_404_naming_it(client):
    response = client.get("/api/similar/no-such-item", headers=auth())
    assert response.status_code == 404 and "no-such-item" in response.json()["detail"]


@pytest.mark.parametrize("body, status, says", [
    ({"user_id": "u1"}, 422, "item_id"),
    ({"user_id": "u1", "item_id": "no-such-item"}, 404, "nothing was written"),
    ({"user_id": "u1", "item_id": "item:0:1", "type": "RECOMMENDED"}, 422, "reserved"),
    ({"user_id": "u1", "item_id": "item:0:1", "type": "RETURNED"}, 422, "not declared"),
    ({"user_id": "u1", "item_id": "item:0:1", "type": "X`]->() DELETE n //"}, 422, "invalid"),
    ({"user_id": "u1", "item_id": "item:0:1", "weight": "heavy"}, 422, "weight"),
    ({"user_id": "u\x00", "item_id": "item:0:1"}, 422, "control"),
    ({"user_id": "u1", "item_id": "item:0:1", "timestamp_ms": -5}, 422, "timestamp_ms"),
])
def test_bad_interactions_are_refused_and_write_nothing(client, served, body, status, says):
    _, store, _ = served
    before = store.query("MATCH (:User)-[r]->() RETURN count(r) AS n")[0]["n"]
    response = client.post("/api/interactions", json=body, headers=auth())
    assert response.status_code == status, response.text
    assert says in response.text
    assert store.query("MATCH (:User)-[r]->() RETURN count(r) AS n")[0]["n"] == before


def test_an_id_built_to_break_cypher_is_only_data(client, served):
    _, store, _ = served
    hostile = "x'}) DETACH DELETE n WITH 1 AS one MATCH (m) DETACH DELETE m //"
    nodes = store.query("MATCH (n) RETURN count(n) AS n")[0]["n"]
    response = client.post("/api/interactions", json={"user_id": hostile, "item_id": "item:1:1"}, headers=auth())
    assert response.status_code == 201 and response.json()["created"]
    assert store.query("MATCH (n) RETURN count(n) AS n")[0]["n"] == nodes + 1  # the new person, nothing else
    assert client.get("/api/recommendations/" + hostile.replace("/", "%2F"), headers=auth()).status_code in (200, 404)


def test_a_failure_inside_is_a_bare_500(client, service, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(service, "search", broken)
    response = client.get("/api/search?q=x", headers=auth())
    assert response.status_code == 500
    assert "secret" not in response.text and "Traceback" not in response.text


def test_the_openapi_docs_are_on(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/recommendations/{user_id}", "/api/similar/{item_id}", "/api/search", "/api/recommendations",
            "/api/interactions"} <= set(paths)


def test_env_tokens_are_parsed_and_checked():
    assert set(parse_env_tokens(f"a={SHOP}, b={AUDIT}")) == {"a", "b"}
    for bad in ("a", f"={SHOP}", "a=short", f"bad name={SHOP}"):
        with pytest.raises(Exception) as info:
            parse_env_tokens(bad)
        assert SHOP not in str(info.value)
