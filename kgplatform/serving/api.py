"""The recommendation API (`kgp serve-api`): FastAPI over RecommendationService, OpenAPI docs at /docs.

Every /api route needs ``Authorization: Bearer TOKEN`` of a named client (kgplatform/serving/tokens.py); the access
log names the client, never the token. Bearer tokens only, no cookies: no other site's page can make a browser
send one, so there is nothing to forge cross-site. Inputs are bounded (ids, queries, k); errors are JSON
``{"detail": ...}`` with a 4xx status, and an unexpected failure is a bare 500 (its trace goes to the log only).
"""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from kgplatform.errors import KgpError, StoreError
from kgplatform.serving.service import BadRequest, NotFound, RecommendationService
from kgplatform.serving.tokens import ClientTokens

log = logging.getLogger("kgplatform.api")
MAX_K = 100
MAX_ID = 512
MAX_QUERY = 500
_CONTROL = {chr(c) for c in range(32)} | {"\x7f"}

Id = Annotated[str, Path(min_length=1, max_length=MAX_ID)]
K = Annotated[int, Query(ge=1, le=MAX_K)]


def _clean(value: str, what: str) -> str:
    if any(ch in _CONTROL for ch in value):
        raise HTTPException(422, f"{what} contains control characters")
    return value


class Interaction(BaseModel):
    user_id: str = Field(min_length=1, max_length=MAX_ID)
    item_id: str = Field(min_length=1, max_length=MAX_ID)
    type: str | None = Field(None, max_length=64, description="a declared behaviour type (default INTERACTED)")
    timestamp_ms: int | None = Field(None, ge=0, le=10**14, description="when it happened (default: now)")
    weight: float | None = Field(None, ge=-1e6, le=1e6, allow_inf_nan=False)
    rating: float | None = Field(None, ge=-1e6, le=1e6, allow_inf_nan=False)

    @field_validator("user_id", "item_id", "type")
    @classmethod
    def no_control_characters(cls, value: str | None) -> str | None:
        if value is not None and any(ch in _CONTROL for ch in value):
            raise ValueError("contains control characters")
        return value


class AccessLog:
    """Client, method, path, status and milliseconds of every request, as plain ASGI middleware (Starlette's
    BaseHTTPMiddleware costs a task and a stream per request: measurable at hundreds of requests a second)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]

        async def send_with_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            client = scope.get("state", {}).get("client", "-")
            log.info("%s %s %s %d %.1fms", client, scope["method"], scope["path"], status[0],
                     1000 * (time.perf_counter() - started))


def create_api(service: RecommendationService, tokens: ClientTokens) -> FastAPI:
    app = FastAPI(title="kgplatform recommendations", version="1",
                  description="Recommendations, similar items and keyword search over the graph's trained "
                              "recommender. Send Authorization: Bearer TOKEN (kgp api-clients add NAME).")
    app.add_middleware(AccessLog)

    def client(request: Request) -> str:
        header = request.headers.get("authorization", "")
        name = tokens.client_of(header[7:].strip() if header[:7].lower() == "bearer " else None)
        if name is None:
            raise HTTPException(401, "missing or unknown API token: send Authorization: Bearer TOKEN "
                                "(`kgp api-clients add NAME` creates one)", headers={"WWW-Authenticate": "Bearer"})
        request.state.client = name
        return name

    api = APIRouter(prefix="/api", dependencies=[Depends(client)])

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(KgpError)
    async def refused(request: Request, exc: KgpError):
        status = 503 if isinstance(exc, StoreError) else 422
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": "internal error (logged on the server)"}, status_code=500)

    @app.get("/health", include_in_schema=False)
    def health() -> dict:
        return {"status": "ok"}

    @api.get("/model", summary="the model being served")
    def model() -> dict:
        return service.describe()

    # About a millisecond of numpy and faiss with no I/O: run on the event loop (a thread hop per request costs
    # more). Routes that encode text or may read the store run in the thread pool (plain def).
    @api.get("/recommendations/{user_id}", summary="a person's recommendations")
    async def recommendations(user_id: Id, k: K = 20, explain: bool = False) -> dict:
        return service.recommendations(_clean(user_id, "user_id"), k, explain)

    @api.get("/recommendations", summary="recommendations for a keyword, personalised when a user is given")
    def keyword_recommendations(q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY)],
                                user_id: Annotated[str | None, Query(max_length=MAX_ID)] = None, k: K = 20) -> dict:
        return service.keyword_recommendations(_clean(q, "q"), _clean(user_id, "user_id") if user_id else None, k)

    @api.get("/similar/{item_id}", summary="items similar to an item (the model's item space)")
    def similar(item_id: Id, k: K = 10) -> dict:
        return service.similar(_clean(item_id, "item_id"), k)

    @api.get("/search", summary="items for a keyword: text similarity plus graph links to named entities")
    def search(q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY)], k: K = 20) -> dict:
        return service.search(_clean(q, "q"), k)

    @api.post("/interactions", status_code=201, summary="record behaviour (written to the store, then acked)")
    def interactions(body: Interaction) -> dict:
        timestamp = body.timestamp_ms if body.timestamp_ms is not None else int(time.time() * 1000)
        try:
            return service.record(body.user_id, body.item_id, body.type, timestamp, body.weight, body.rating)
        except BadRequest as exc:
            raise HTTPException(422, str(exc)) from exc

    app.include_router(api)
    return app
