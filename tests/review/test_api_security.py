"""The review page's defences against cross-site requests, in-process (FastAPI's TestClient) on a real FalkorDB graph
with predicted edges: every state-changing request must come from the page's own origin (Origin, else Referer),
except a request authenticated by its Authorization header (a CLI or script, which no other site's page can
forge); the cookie alone is not enough, since SameSite does not separate ports of one host; and a JSON endpoint
reads only a body sent as application/json.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kgplatform.demo.catalog import generate_catalog
from kgplatform.graph.store import open_store
from kgplatform.review.api import COOKIE, create_app
from tests.support.runs import make_run

TOKEN = "test-token-" + "z" * 24
PAGE = "http://127.0.0.1:8765"  # where the page is served in these tests (the Host header the client sends)
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def page(base_settings, tmp_path_factory):
    settings = base_settings.model_copy(update={"graph": "t_review_security"})
    store = open_store(settings)
    catalog = generate_catalog(seed=9, n_products=60)
    run = make_run(store, settings, catalog, tmp_path_factory.mktemp("review-security"), per_type=4)
    app = create_app(settings, TOKEN, store=store, reviewer="pytest")
    yield {"app": app, "store": store, "run": run}
    store.delete_graph()
    store.close()


@pytest.fixture
def browser(page) -> TestClient:
    """A client that behaves like the browser holding the page's cookie (no Authorization header)."""
    client = TestClient(page["app"], base_url=PAGE)
    client.cookies.set(COOKIE, TOKEN)
    return client


@pytest.fixture
def cli(page) -> TestClient:
    """A script with the token in its Authorization header and no cookie."""
    return TestClient(page["app"], base_url=PAGE)


def review_body(page, i: int, action: str = "reject") -> dict:
    p = page["run"]["predictions"][i]
    return {"head": p["head"], "rel_type": p["rel_type"], "tail": p["tail"], "run_id": page["run"]["run_id"],
            "action": action}


def status_of(page, body: dict) -> str:
    rows = page["store"].query("MATCH (h:Entity {id: $h})-[r]->(t:Entity {id: $t}) WHERE r.run_id = $run AND "
                               "type(r) = $rel RETURN r.status AS status",
                               {"h": body["head"], "t": body["tail"], "run": body["run_id"], "rel": body["rel_type"]})
    assert len(rows) == 1, rows
    return rows[0]["status"]


@pytest.mark.parametrize("origin", [
    "http://127.0.0.1:9999",  # another local port: SameSite=Strict sends the cookie there too
    "http://localhost:8765",  # another host name is another origin
    "https://127.0.0.1:8765",  # another scheme
    "http://evil.example",
    "null",  # sandboxed frames, data: URLs
])
def test_cookie_post_from_another_origin_is_refused(page, browser, origin):
    body = review_body(page, 0)
    response = browser.post("/api/review", json=body, headers={"Origin": origin})
    assert response.status_code == 403, response.text
    detail = response.json()["detail"]
    assert "cross-origin" in detail and origin in detail and PAGE in detail
    assert status_of(page, body) == "proposed"  # nothing was written


def test_cookie_post_from_the_page_itself_is_accepted(page, browser):
    body = review_body(page, 1, "accept")
    response = browser.post("/api/review", json=body, headers={"Origin": PAGE})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted" and status_of(page, body) == "accepted"


def test_referer_stands_in_for_a_missing_origin(page, browser):
    body = review_body(page, 2)
    for referer in ("http://127.0.0.1:9999/", "http://evil.example/?page=" + PAGE + "/"):
        response = browser.post("/api/review", json=body, headers={"Referer": referer})
        assert response.status_code == 403, response.text
        assert "Referer" in response.json()["detail"]
    assert status_of(page, body) == "proposed"
    response = browser.post("/api/review", json=body, headers={"Referer": PAGE + "/?status=proposed#edge"})
    assert response.status_code == 200, response.text
    assert status_of(page, body) == "rejected"


def test_cookie_post_without_origin_or_referer_is_refused(page, browser):
    body = review_body(page, 3)
    response = browser.post("/api/review", json=body)
    assert response.status_code == 403, response.text
    assert "Origin" in response.json()["detail"]
    assert status_of(page, body) == "proposed"


def test_bearer_post_without_origin_is_accepted(page, cli):
    """curl or a script: no Origin, no cookie; the Authorization header is something no other site can send."""
    body = review_body(page, 4)
    response = cli.post("/api/review", json=body, headers=BEARER)
    assert response.status_code == 200, response.text
    assert status_of(page, body) == "rejected"


def test_bearer_post_from_another_origin_is_refused(page, cli):
    body = review_body(page, 5)
    response = cli.post("/api/review", json=body, headers={**BEARER, "Origin": "http://127.0.0.1:9999"})
    assert response.status_code == 403, response.text
    assert status_of(page, body) == "proposed"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
def test_every_state_changing_method_is_checked(browser, method):
    """Also on paths without such a route: the check comes first, so a future route cannot forget it."""
    for path in ("/api/review", "/api/edges", "/no-such-path"):
        response = browser.request(method, path, headers={"Origin": "http://127.0.0.1:9999"})
        assert response.status_code == 403, (method, path, response.text)


def test_reads_need_no_origin(browser):
    """GETs change nothing, and another origin cannot read their answers (no CORS headers)."""
    response = browser.get("/api/facets", headers={"Origin": "http://127.0.0.1:9999"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          None])
def test_a_json_body_needs_its_content_type(page, browser, cli, content_type):
    """The content types a cross-site form can send without a preflight, and none: refused, nothing written."""
    import json

    body = review_body(page, 6)
    data = json.dumps(body).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    for client, extra in ((browser, {"Origin": PAGE}), (cli, BEARER)):
        response = client.post("/api/review", content=data, headers={**headers, **extra})
        assert 400 <= response.status_code < 500, (content_type, response.status_code, response.text)
    assert status_of(page, body) == "proposed"


def test_the_page_keeps_its_origin_on_same_origin_requests(browser):
    """Under Referrer-Policy no-referrer the Fetch standard has a browser send `Origin: null` on the page's own non-CORS
    POSTs (Firefox does), which the check refuses; same-origin keeps the real origin for the page and still sends no
    Referer to other sites. (Chromium sends the real origin on the page's fetch() either way: the browser test in
    test_review_page.py passes under both.)"""
    response = browser.get("/")
    assert response.status_code == 200
    assert response.headers["referrer-policy"] == "same-origin"


def test_no_credentials_at_all_is_a_401_not_a_403(cli, page):
    """Neither cookie nor Authorization: nothing to forge, so the token check answers (as before)."""
    response = cli.post("/api/review", json=review_body(page, 7))
    assert response.status_code == 401
