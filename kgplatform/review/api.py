"""The review page (`kgp serve`): predicted edges with their evidence, a graph of each edge's neighbourhood, and
accept / reject buttons that call kgplatform/review/actions.py.

Security:

- Every route but /static needs the review token (KGP_REVIEW_TOKEN; `kgp serve` generates one when unset and
  prints the page's address with it; a configured token is never printed). It comes as ``Authorization: Bearer
  TOKEN`` or in the ``kgp_review`` cookie, which ``/?token=TOKEN`` sets (HttpOnly, SameSite=Strict) before
  redirecting to ``/``, so the token leaves the address bar. A wrong or missing token is a 401. Tokens are compared
  in constant time.
- Cross-site requests: every state-changing request (any method but GET, HEAD, OPTIONS, TRACE) must come from
  the page's own origin, scheme://host:port of the request's Host header: its ``Origin`` header, or when a browser
  sent none its ``Referer``, must match, or it is a 403. SameSite=Strict alone is not enough: it does not tell
  apart two ports of one host, so any other local page (a dev server on another port) would send the cookie.
  Without either header: a request with the review cookie is refused (browsers send Origin on every cross-origin
  POST, so that is no page of ours); one with ``Authorization: Bearer`` goes on to the token check (curl, scripts:
  no other site's page can add that header without a CORS preflight, which this app never grants), and so does one
  with neither (a 401). The page's Referrer-Policy is ``same-origin``, not ``no-referrer``: under that one the Fetch
  standard serializes the Origin of a non-CORS POST as ``null`` even on the page's own requests (Firefox does it;
  Chromium for form posts), which this check refuses. Other sites still get no Referer.
- Writes take a JSON body, read only when sent as ``Content-Type: application/json`` (FastAPI >= 0.132), one that
  no cross-site form can send without a preflight.
- Graph text (names, ids, evidence) is data, never markup: the page inserts it with textContent only and the graph
  view draws it on a canvas. A Content-Security-Policy without inline script or style backs this up.

Routes: GET / (the page), GET /api/facets, GET /api/edges, GET /api/edge, POST /api/review, GET /static/*.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from kgplatform.errors import KgpError, StoreError
from kgplatform.graph.names import check_rel_type
from kgplatform.graph.schema import relation_registry
from kgplatform.graph.store import GraphStore, execute, open_store
from kgplatform.pipeline.rundir import RunDir
from kgplatform.pipeline.runstore import open_run
from kgplatform.review.actions import Selector, review_edges
from kgplatform.settings import Settings

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).resolve().parent / "web"
COOKIE = "kgp_review"
MIN_TOKEN = 16
STATUSES = ("proposed", "accepted", "rejected")
NEIGHBOURS_PER_END = 15  # asserted relationships drawn around each end of the edge (besides the evidence)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: under it browsers may send `Origin: null` on the page's own POSTs, refused by the origin check.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})  # every other method is checked for its origin
DEFAULT_PORTS = {"http": 80, "https": 443}


def new_token() -> str:
    return secrets.token_urlsafe(24)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an Origin or Referer value; None when it has none (``null``, garbage)."""
    try:
        parts = urlsplit(url.strip())
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    return (scheme, host, port) if scheme and host and port else None


def cross_origin_refusal(request: Request) -> str | None:
    """Why a state-changing request is refused as cross-origin; None when it may go on (see the module's docstring).
    Page origin: the scheme the request came in with and its Host header."""
    page = f"{request.url.scheme}://{request.headers.get('host', '')}"
    expected = origin_of(page)
    origin = request.headers.get("origin")
    if origin is not None:
        if expected is None or origin_of(origin) != expected:
            return f"cross-origin request refused: Origin {origin} is not this page's origin {page}"
        return None
    referer = request.headers.get("referer")
    if referer is not None:
        if expected is None or origin_of(referer) != expected:
            shown = "{0}://{1}".format(*urlsplit(referer)[:2]) if origin_of(referer) else "(none)"
            return f"cross-origin request refused: the Referer's origin {shown} is not this page's origin {page}"
        return None
    if bearer_token(request) is not None or COOKIE not in request.cookies:  # a script, or a 401 to come
        return None
    return (f"cross-origin request refused: a {request.method} with the review cookie must carry an Origin or Referer "
            f"header of this page ({page}); scripts authenticate with Authorization: Bearer TOKEN instead")


class ReviewRequest(BaseModel):
    head: str = Field(min_length=1, max_length=1000)
    rel_type: str = Field(min_length=1, max_length=64)
    tail: str = Field(min_length=1, max_length=1000)
    run_id: str = Field(min_length=1, max_length=200)
    action: Literal["accept", "reject"]
    by: str | None = Field(None, max_length=200)


@dataclass
class ExplanationCache:
    """explanations.jsonl of recent runs, indexed by (head, rel_type, tail); reloaded when the file changes (pulled
    from KGP_RUNS_URL first when set)."""

    settings: Settings
    size: int = 4
    _runs: dict[str, tuple[float, dict]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, run_id: str, head: str, rel_type: str, tail: str) -> dict | None:
        try:
            path = open_run(self.settings, run_id, RunDir.EXPLANATIONS).file(RunDir.EXPLANATIONS)
        except KgpError:  # not a run id: no file to look for
            return None
        except OSError as exc:  # the shared store is unreachable: the edge is still shown, without its evidence
            log.warning("explanations of run %s unavailable: %s", run_id, exc)
            return None
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        with self._lock:
            cached = self._runs.get(run_id)
            if cached is None or cached[0] != mtime:
                index = {}
                for line in path.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        e = json.loads(line)
                        index[(e["head"]["id"], e["rel_type"], e["tail"]["id"])] = e
                if len(self._runs) >= self.size:
                    self._runs.pop(next(iter(self._runs)))
                self._runs[run_id] = cached = (mtime, index)
            return cached[1].get((head, rel_type, tail))


def create_app(settings: Settings, token: str, *, store: GraphStore | None = None,
               reviewer: str = "review-page") -> FastAPI:
    """The review page's app. ``store`` defaults to the configured one, opened on first use."""
    if len(token or "") < MIN_TOKEN:
        raise KgpError(f"the review page's token (KGP_REVIEW_TOKEN) must have at least {MIN_TOKEN} characters")
    app = FastAPI(title="kgplatform review", docs_url=None, redoc_url=None, openapi_url=None)
    state = {"store": store}
    lock = threading.Lock()
    explanations = ExplanationCache(settings)

    def get_store() -> GraphStore:
        with lock:
            if state["store"] is None:
                state["store"] = open_store(settings)
            return state["store"]

    def authorized(request: Request) -> bool:
        given = bearer_token(request)
        if given is None:
            given = request.cookies.get(COOKIE, "")
        return bool(given) and secrets.compare_digest(given.encode(), token.encode())

    def require_token(request: Request) -> None:
        if not authorized(request):
            raise HTTPException(401, "missing or wrong review token: open the address `kgp serve` printed (with "
                                "?token=KGP_REVIEW_TOKEN when it is configured) or send Authorization: Bearer TOKEN",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.middleware("http")  # before every route (also future ones and unknown paths), inside security_headers
    async def same_origin_writes(request: Request, call_next):
        if request.method not in SAFE_METHODS and (refusal := cross_origin_refusal(request)) is not None:
            return JSONResponse({"detail": refusal}, status_code=403)
        return await call_next(request)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.exception_handler(KgpError)
    async def kgp_error(request: Request, exc: KgpError):
        return JSONResponse({"detail": str(exc)}, status_code=503 if isinstance(exc, StoreError) else 400)

    @app.get("/", include_in_schema=False)
    def page(request: Request, token_param: str | None = Query(None, alias="token")):
        if token_param is not None:
            if not secrets.compare_digest(token_param.encode(), token.encode()):
                return HTMLResponse(UNAUTHORIZED_PAGE, status_code=401)
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
            return response
        if not authorized(request):
            return HTMLResponse(UNAUTHORIZED_PAGE, status_code=401)
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():  # browsers ask for one; a 404 there shows up as a console error on every page load
        return Response(status_code=204)

    @app.get("/api/facets", dependencies=[Depends(require_token)])
    def facets():
        """Relationship types, runs and statuses of the predicted edges, with counts: the filter choices."""
        rows = execute(get_store(), "web/facets", read_only=True)
        out: dict[str, dict[str, int]] = {"rel_types": {}, "runs": {}, "statuses": {}}
        for r in rows:
            for key, value in (("rel_types", r["rel_type"]), ("runs", r["run_id"]), ("statuses", r["status"])):
                out[key][str(value)] = out[key].get(str(value), 0) + r["count"]
        return {**out, "reviewer": reviewer}

    @app.get("/api/edges", dependencies=[Depends(require_token)])
    def edges(status: str | None = "proposed", rel_type: str | None = None, run_id: str | None = None,
              offset: int = Query(0, ge=0), limit: int = Query(25, ge=1, le=200)):
        """One page of predicted edges (most probable first) and how many match in all."""
        status = status or None
        if status is not None and status not in STATUSES:
            raise KgpError(f"status must be one of {', '.join(STATUSES)}")
        if rel_type:
            check_rel_type(rel_type)
        params = {"status": status, "rel_type": rel_type or None, "run_id": run_id or None}
        store = get_store()
        total = execute(store, "web/count_edges", params, read_only=True)[0]["total"]
        rows = execute(store, "web/edges_page", {**params, "offset": offset, "limit": limit}, read_only=True)
        return {"total": total, "offset": offset, "limit": limit, "edges": rows}

    @app.get("/api/edge", dependencies=[Depends(require_token)])
    def edge(head: str, rel_type: str, tail: str, run_id: str):
        """One predicted edge, its neighbourhood graph and its full explanation (from the run directory)."""
        store = get_store()
        found = execute(store, "web/edge", {"head": head, "tail": tail, "run_id": run_id}, read_only=True,
                    rel_type=check_rel_type(rel_type))
        if not found:
            raise HTTPException(404, f"no predicted edge ({head})-[:{rel_type}]->({tail}) of run {run_id}")
        explanation = explanations.get(run_id, head, rel_type, tail)
        source = relation_registry(store).get(rel_type, {})  # the relation id the type was named from
        return {"edge": {**found[0], "rel_source": source.get("source_id")}, "explanation": explanation,
                "graph": neighbourhood(store, found[0], explanation)}

    @app.post("/api/review", dependencies=[Depends(require_token)])
    def review(body: ReviewRequest):
        """Accept or reject one edge through kgplatform.review (audit trail included)."""
        selector = Selector(head=body.head, rel_type=check_rel_type(body.rel_type), tail=body.tail,
                            run_id=body.run_id)
        report = review_edges(get_store(), selector, body.action, body.by or reviewer)
        if not report["matched"]:
            raise HTTPException(404, "no such predicted edge (retracted meanwhile?)")
        edge = report["edges"][0]
        return {"status": edge["status"], "changed": report["changed"], "conflicts": report["conflicts"],
                "review_id": report["review_id"], "by": report["by"]}

    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    return app


def neighbourhood(store: GraphStore, edge: dict, explanation: dict | None) -> dict:
    """Nodes and relationships to draw: head, tail, some of their asserted 1-hop neighbours, the evidence (top
    path, similar nodes with the relation) and the predicted edge (kind 'predicted'). Roles: head, tail, path,
    similar, neighbour."""
    nodes: dict[str, dict] = {}
    rels: dict[tuple, dict] = {}

    def add_node(node_id: str, name: str | None, labels, role: str = "neighbour") -> None:
        label = next((x for x in (labels or []) if x != "Entity"), "") if isinstance(labels, list) else labels
        current = nodes.get(node_id)
        if current is None or (current["role"] == "neighbour" and role != "neighbour"):
            nodes[node_id] = {"id": node_id, "name": name or node_id, "label": label or "", "role": role}

    add_node(edge["head"], edge["head_name"], edge["head_labels"], "head")
    add_node(edge["tail"], edge["tail_name"], edge["tail_labels"], "tail")
    for end in (edge["head"], edge["tail"]):
        for r in execute(store, "web/neighbours", {"id": end, "limit": NEIGHBOURS_PER_END}, read_only=True):
            add_node(r["id"], r["name"], r["labels"])
            rels.setdefault((r["source"], r["rel_type"], r["target"]),
                            {"source": r["source"], "target": r["target"], "rel_type": r["rel_type"],
                             "kind": "asserted"})
    for n in (explanation or {}).get("neighbours", []):  # the similar nodes with the relation to the tail
        add_node(n["id"], n["name"], n["type"], "similar")
        rels.setdefault((n["id"], edge["rel_type"], edge["tail"]),
                        {"source": n["id"], "target": edge["tail"], "rel_type": edge["rel_type"], "kind": "asserted"})
    if explanation and explanation.get("paths"):
        path = explanation["paths"][0]
        path_nodes = path["nodes"]
        for n in path_nodes[1:-1]:
            add_node(n["id"], n["name"], n["type"], "path")
        for i, step in enumerate(path["steps"]):
            a, b = path_nodes[i]["id"], path_nodes[i + 1]["id"]
            source, target = (a, b) if step["direction"] == "out" else (b, a)
            key = (source, step["rel_type"], target)
            rels[key] = {"source": source, "target": target, "rel_type": step["rel_type"], "kind": "path"}
    rels[("predicted",)] = {"source": edge["head"], "target": edge["tail"], "rel_type": edge["rel_type"],
                            "kind": "predicted", "probability": edge["probability"]}
    return {"nodes": list(nodes.values()), "relationships": list(rels.values())}


UNAUTHORIZED_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>kgplatform review</title>
</head><body><h1>401: review token needed</h1><p>Open the address that <code>kgp serve</code> printed: it ends in
<code>?token=...</code> when the token was generated; with a configured <code>KGP_REVIEW_TOKEN</code>, add
<code>?token=</code> and that token yourself. Scripts send <code>Authorization: Bearer TOKEN</code>.</p>
</body></html>"""
