"""The review page (`kgp serve`) against a real FalkorDB graph with predicted edges: the token guards every API
call, the API pages and explains edges, reviews go through kgplatform.review, and end to end in headless Chromium
(tests/review/browser/review_page.mjs) a click on Accept changes the edge's status in the store.

The browser part needs node, Debian's chromium and `npm ci --prefix tests/review/browser` (scripts/bootstrap.sh installs
all three); without them it is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from kgplatform.demo.catalog import generate_catalog
from kgplatform.graph.store import open_store
from tests.support.env import REPO, free_port
from tests.support.runs import make_run

BROWSER_DIR = REPO / "tests" / "review" / "browser"
WEB_DIR = REPO / "kgplatform" / "review" / "web"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node")
TOKEN = "test-token-" + "x" * 24
HOSTILE = '<img src=x onerror="window.__kgp_pwned=1">Bad & "quoted" </td><script>window.__kgp_pwned=1</script>'


@pytest.fixture(scope="module")
def served(base_settings, tmp_path_factory):
    """A graph with one run of predicted edges (one head renamed to hostile markup) and `kgp serve` on it."""
    settings = base_settings.model_copy(update={"graph": "t_review_page"})
    store = open_store(settings)
    catalog = generate_catalog(seed=5, n_products=70)
    hostile_head = sorted(catalog.held_back)[0][0]
    run = make_run(store, settings, catalog, tmp_path_factory.mktemp("review"), per_type=3,
                   rename={hostile_head: HOSTILE})
    port = free_port()
    env = {**os.environ, "KGP_STORE": "falkordb", "KGP_HOME": str(settings.home),
           "KGP_FALKORDB_PORT": str(settings.falkordb_port), "KGP_GRAPH": settings.graph,
           "KGP_REVIEW_TOKEN": TOKEN}
    server = subprocess.Popen([sys.executable, "-m", "kgplatform.cli", "serve", "--port", str(port),
                               "--reviewer", "pytest"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    printed = server.stdout.readline().strip().removeprefix("review page: ")
    url = f"{printed}?token={TOKEN}"  # the configured token is not printed: the reviewer adds it
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/static/review.css", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"kgp serve did not start: {server.stderr.read()}")
            time.sleep(0.2)
    yield {"store": store, "run": run, "base": base, "url": url, "printed": printed, "port": port,
           "hostile_head": hostile_head}
    server.terminate()
    server.wait(timeout=10)
    store.delete_graph()
    store.close()


def call(base: str, path: str, *, token: str | None = TOKEN, body: dict | None = None, cookie: str | None = None,
         follow: bool = True):
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if cookie is not None:
        headers["Cookie"] = cookie
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, headers=headers)
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def status_of(store, edge: dict) -> str:
    rows = store.query("MATCH (h:Entity {id: $h})-[r]->(t:Entity {id: $t}) WHERE r.run_id = $run AND "
                       "type(r) = $rel RETURN r.status AS status",
                       {"h": edge["head"], "t": edge["tail"], "run": edge["run_id"], "rel": edge["rel_type"]})
    assert len(rows) == 1, rows
    return rows[0]["status"]


def test_every_api_call_needs_the_token(served):
    base, edge = served["base"], served["run"]["predictions"][1]
    review = {**edge, "run_id": served["run"]["run_id"], "action": "reject"}
    for token in (None, "wrong-token-" + "y" * 20):
        assert call(base, "/", token=token)[0] == 401
        assert call(base, "/api/facets", token=token)[0] == 401
        assert call(base, "/api/edges", token=token)[0] == 401
        q = urllib.parse.urlencode({k: review[k] for k in ("head", "rel_type", "tail", "run_id")})
        assert call(base, f"/api/edge?{q}", token=token)[0] == 401
        assert call(base, "/api/review", token=token, body=review)[0] == 401
        assert call(base, "/api/edges", token=None, cookie=f"kgp_review={token or ''}")[0] == 401
    assert call(base, f"/?token={urllib.parse.quote('wrong' * 5)}", token=None)[0] == 401
    assert status_of(served["store"], review) == "proposed"  # the refused review wrote nothing
    assert call(base, "/openapi.json")[0] == 404 and call(base, "/docs")[0] == 404


def test_the_printed_address_sets_a_strict_cookie(served):
    status, headers, _ = call(served["base"], "/?token=" + TOKEN, token=None, follow=False)
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"kgp_review={TOKEN}") and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert served["printed"] == f"http://localhost:{served['port']}/"  # a configured token is never printed
    status, headers, page = call(served["base"], "/", token=None, cookie=f"kgp_review={TOKEN}")
    assert status == 200 and b'src="/static/review.js"' in page
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]


def test_api_pages_filters_and_explains_edges(served):
    base, run = served["base"], served["run"]
    facets = json.loads(call(base, "/api/facets")[2])
    assert facets["runs"] == {run["run_id"]: len(run["predictions"])} and facets["reviewer"] == "pytest"
    page = json.loads(call(base, "/api/edges?limit=4&status=proposed")[2])
    assert page["total"] == len(run["predictions"]) and len(page["edges"]) == 4
    rest = json.loads(call(base, f"/api/edges?offset=4&limit=200&run_id={run['run_id']}")[2])
    keys = [(e["head"], e["rel_type"], e["tail"]) for e in page["edges"] + rest["edges"]]
    assert sorted(keys) == sorted((p["head"], p["rel_type"], p["tail"]) for p in run["predictions"])
    probabilities = [e["probability"] for e in page["edges"] + rest["edges"]]
    assert probabilities == sorted(probabilities, reverse=True)
    rel_type = run["predictions"][0]["rel_type"]
    only = json.loads(call(base, f"/api/edges?rel_type={rel_type}&limit=200")[2])
    assert only["total"] == sum(p["rel_type"] == rel_type for p in run["predictions"])
    assert {e["rel_type"] for e in only["edges"]} == {rel_type}
    assert call(base, "/api/edges?rel_type=not%20a%20type")[0] == 400
    assert call(base, "/api/edges?status=bogus")[0] == 400

    p = run["predictions"][0]
    q = urllib.parse.urlencode({"head": p["head"], "rel_type": p["rel_type"], "tail": p["tail"],
                                "run_id": run["run_id"]})
    detail = json.loads(call(base, f"/api/edge?{q}")[2])
    assert detail["edge"]["evidence"] == p["evidence"] and detail["explanation"]["head"]["id"] == p["head"]
    nodes = {n["id"]: n for n in detail["graph"]["nodes"]}
    assert nodes[p["head"]]["role"] == "head" and nodes[p["tail"]]["role"] == "tail"
    predicted = [r for r in detail["graph"]["relationships"] if r["kind"] == "predicted"]
    assert predicted == [{"source": p["head"], "target": p["tail"], "rel_type": p["rel_type"], "kind": "predicted",
                          "probability": p["probability"]}]
    assert all(r["source"] in nodes and r["target"] in nodes for r in detail["graph"]["relationships"])
    if detail["explanation"]["paths"]:
        assert any(r["kind"] == "path" for r in detail["graph"]["relationships"])
    missing = urllib.parse.urlencode({"head": p["tail"], "rel_type": p["rel_type"], "tail": p["head"],
                                      "run_id": run["run_id"]})
    assert call(base, f"/api/edge?{missing}")[0] == 404


def test_review_through_the_api_changes_the_store_and_the_audit_trail(served):
    store, run = served["store"], served["run"]
    edge = {**run["predictions"][1], "run_id": run["run_id"]}
    body = {k: edge[k] for k in ("head", "rel_type", "tail", "run_id")}
    status, _, reply = call(served["base"], "/api/review", body={**body, "action": "reject", "by": "ana"})
    assert status == 200 and json.loads(reply)["status"] == "rejected"
    assert status_of(store, edge) == "rejected"
    log = store.query("MATCH (v:KgpReview) WHERE v.head = $h AND v.tail = $t RETURN v.by AS by, v.status AS s",
                      {"h": edge["head"], "t": edge["tail"]})
    assert log == [{"by": "ana", "s": "rejected"}]
    assert call(served["base"], "/api/review", body={**body, "action": "delete"})[0] == 422


def first_lines(env: dict, tmp_path: Path) -> tuple[str, str]:
    """`kgp serve`'s first stdout line, and its stderr up to then, in a child with env on top of this environment
    (without KGP_REVIEW_TOKEN, in an empty folder: no .env). The server is stopped once it has printed."""
    port = free_port()
    base = {k: v for k, v in os.environ.items() if k != "KGP_REVIEW_TOKEN"}
    server = subprocess.Popen([sys.executable, "-m", "kgplatform.cli", "serve", "--port", str(port)],
                              env={**base, "KGP_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO), **env},
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    return line.strip(), err


def test_serve_prints_a_generated_token_only(tmp_path):
    line, err = first_lines({}, tmp_path)
    assert line.startswith("review page: http://localhost:") and "/?token=" in line, line + err
    token = line.partition("?token=")[2]
    assert len(token) >= 16 and "generated a token" in err


def test_serve_never_prints_a_configured_token(tmp_path):
    line, err = first_lines({"KGP_REVIEW_TOKEN": TOKEN}, tmp_path)
    assert line.startswith("review page: http://localhost:") and line.endswith("/"), line + err
    assert TOKEN not in line + err and "?token=" not in line
    assert "KGP_REVIEW_TOKEN" in err  # says which token the page needs


def test_a_short_token_is_refused(base_settings):
    from kgplatform.errors import KgpError
    from kgplatform.review.api import create_app

    with pytest.raises(KgpError, match="at least 16 characters"):
        create_app(base_settings, "short")


def test_bundle_is_built_from_the_sources():
    if NODE is None:
        pytest.skip("review page bundle check skipped: `node` is not on PATH")
    if not (WEB_DIR / "node_modules" / "esbuild").is_dir():
        pytest.skip("review page bundle check skipped: "
                    "run `npm ci --prefix kgplatform/review/web` (scripts/bootstrap.sh)")
    done = subprocess.run([NODE, str(WEB_DIR / "build.mjs"), "--check"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_accept_in_headless_chromium(served, tmp_path):
    if NODE is None:
        pytest.skip("browser test skipped: `node` is not on PATH (scripts/bootstrap.sh installs Node.js)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"browser test skipped: no Chromium at {CHROMIUM} (scripts/bootstrap.sh: apt-get install chromium)")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.skip("browser test skipped: run `npm ci --prefix tests/review/browser` (scripts/bootstrap.sh does)")
    store, run, head = served["store"], served["run"], served["hostile_head"]
    assert all(status_of(store, {**p, "run_id": run["run_id"]}) == "proposed"
               for p in run["predictions"] if p["head"] == head)
    shot = tmp_path / "review-page.png"
    done = subprocess.run([NODE, str(BROWSER_DIR / "review_page.mjs"), "--url", served["url"], "--head", head,
                           "--expect-text", HOSTILE, "--screenshot", str(shot)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(done.stdout)
    assert seen["edge"]["head"] == head and seen["edge"]["run_id"] == run["run_id"]
    assert (head, seen["edge"]["rel_type"], seen["edge"]["tail"]) in {(p["head"], p["rel_type"], p["tail"])
                                                                      for p in run["predictions"]}
    assert seen["status_after"] == "accepted" and seen["script_injected"] is False
    assert seen["graph_nodes"] >= 2 and shot.stat().st_size > 10_000
    assert HOSTILE.split(">")[0] in seen["title"]  # shown as text in the heading too
    assert status_of(store, seen["edge"]) == "accepted"  # the click reached the store
    by = store.query("MATCH (v:KgpReview) WHERE v.head = $h AND v.action = 'accept' RETURN v.by AS by",
                     {"h": head})
    assert by == [{"by": "pytest"}]
