"""The FastAPI app: ``POST /api/v1/features`` plus health, readiness, metrics and docs.

A request is checked in the order that costs least first — token, body size and form,
feature names — before any download or decoding; the blocking work (fetch, decode, analyse)
runs in a worker thread so the event loop keeps answering, and at most ``max_concurrent``
analyses are admitted at once: the next is shed with 503 rather than queued behind them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from PIL import Image
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from rosto import __version__, detection, models
from rosto.config import Settings
from rosto.errors import RetryLater, RostoError
from rosto.features import resolve
from rosto.fetch import Timeouts, fetch
from rosto.imageio import open_image, pixels
from rosto.pipeline import analyze
from rosto.server import openapi
from rosto.server.auth import authorize
from rosto.server.form import ImageRequest, read_request
from rosto.server.memory import Lanes, tune_malloc
from rosto.server.metrics import Metrics
from rosto.server.web import add_pages
from rosto.tokens import TokenStore

# uvicorn's configured logger: our lines reach the server log in every worker process.
logger = logging.getLogger("uvicorn.error")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


class Admission:
    """Counts analyses in progress; the one over the limit is refused, not queued.

    Only the event loop thread touches the counter, so it needs no lock.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.active = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.active >= self.limit:
            raise RetryLater(
                f"the server is busy ({self.active} analyses in progress): retry in a second",
                code="overloaded",
                status=503,
                retry_after=1,
            )
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1


class Readiness:
    """Ready once the face detector has run once (its model loaded) in this process."""

    def __init__(self) -> None:
        self.ready = False
        self.error: str | None = None

    def warm_up(self) -> None:
        try:
            detection.detect(np.zeros((64, 64, 3), np.uint8))
        except Exception as exc:
            logger.exception("Rosto warm-up failed: this process will not report ready")
            self.error = str(exc)
        else:
            self.ready = True
            logger.info("Rosto models ready: %s", ", ".join(models.loaded()))


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app for ``settings`` (default: from ``ROSTO_*``, as uvicorn's workers get them)."""
    settings = Settings.from_env() if settings is None else settings
    models.set_threads(settings.model_threads)
    # Without ONNX Runtime's arenas each session frees what a run allocated: under mixed load
    # (4 threads in process, group photos and a 24 MP JPEG) median RSS 364 → 199 MB, peak
    # 510 → 341 MB; the soak's median 268 MB (README, Reliability).
    models.set_memory_arena(False)
    store = TokenStore(settings.db_url)
    admission = Admission(settings.max_concurrent)
    tune_malloc()
    lanes = Lanes(os.cpu_count() or 1)
    metrics = Metrics(lambda: admission.active)
    readiness = Readiness()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=readiness.warm_up, name="rosto-warm-up", daemon=True).start()
        yield
        store.engine.dispose()

    app = FastAPI(
        title="Rosto",
        version=__version__,
        description="Self-hosted face attribute analysis answering the Rosto.io API.",
        lifespan=lifespan,
        docs_url=None,  # served by add_pages from local files, not from a CDN
        redoc_url=None,
    )
    _install_error_handlers(app, metrics)
    openapi.install(app)
    add_pages(app)

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start, status = time.perf_counter(), 500
        try:
            response = await call_next(request)
        except Exception:
            # Answered here rather than by an exception handler: one that lets the error
            # propagate makes uvicorn drop the client's keep-alive connection after the 500.
            logger.exception("internal error on %s %s", request.method, request.url.path)
            response = respond_error(
                RostoError(
                    "internal error: the server failed on this request; its log has the details",
                    code="internal_error",
                    status=500,
                ),
                metrics,
            )
        try:
            status = response.status_code
            return response
        finally:
            path = getattr(request.scope.get("route"), "path", "unmatched")
            metrics.requests.labels(path, str(status)).inc()
            metrics.latency.labels(path).observe(time.perf_counter() - start)

    @app.post(
        "/api/v1/features",
        summary="Analyse the faces of an image",
        openapi_extra=openapi.FEATURES_OPERATION,
        responses=openapi.FEATURES_RESPONSES,
    )
    async def features(request: Request) -> JSONResponse:
        header = request.headers.get("authorization")
        token = await run_in_threadpool(authorize, store, header, settings.rate_limit)
        body = await read_request(request)
        names = resolve(body.features, settings.disabled)
        with admission.slot():
            faces, timings = await run_in_threadpool(_analyze, body, names, settings, lanes)
        metrics.observe_analysis(len(faces), timings)
        await run_in_threadpool(store.record_use, token.id)
        return JSONResponse({"faces": faces})

    @app.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the face detector is loaded")
    async def readyz() -> dict:
        if not readiness.ready:
            reason = readiness.error or "the models are still loading"
            raise RostoError(f"not ready: {reason}", code="not_ready", status=503)
        return {"status": "ready", "models": models.loaded()}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app


def _analyze(
    body: ImageRequest, names: list[str], settings: Settings, lanes: Lanes
) -> tuple[list[dict], dict[str, float]]:
    """Fetch (for a URL), decode and analyse: the blocking part of a request.

    The image's header is read first: its size says which lanes it needs (memory.py).
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    data = body.source
    if isinstance(data, str):
        data = fetch(
            data,
            allow_private=settings.allow_private_urls,
            timeouts=Timeouts.within(settings.fetch_timeout),
        )
        timings["fetch"] = time.perf_counter() - start
        start = time.perf_counter()
    im = open_image(data, settings.max_pixels)
    del data
    with lanes.hold(im.width * im.height):
        faces = _decode_and_analyze(im, names, timings)
    return faces, timings


def _decode_and_analyze(im: Image.Image, names: list[str], timings: dict[str, float]) -> list:
    """Its own function so that the pixels are freed when it returns, inside the lanes."""
    start = time.perf_counter()
    image = pixels(im)
    timings["decode"] = time.perf_counter() - start
    return analyze(image, names, timings)


def respond_error(err: RostoError, metrics: Metrics) -> JSONResponse:
    """API.md's JSON for ``err``, counted by code, with its Retry-After/WWW-Authenticate."""
    metrics.errors.labels(err.code).inc()
    headers = {}
    if isinstance(err, RetryLater):
        headers["Retry-After"] = str(err.retry_after)
    if err.status == 401:
        headers["WWW-Authenticate"] = 'Token realm="rosto"'
    return JSONResponse(err.to_json(), status_code=err.status, headers=headers)


def _install_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    """Every error leaves as API.md's JSON, counted by code; never a page or a traceback."""

    @app.exception_handler(RostoError)
    async def rosto_error(_request: Request, err: RostoError) -> JSONResponse:
        if err.status >= 500:
            logger.error("%s: %s", err.code, err.message)
        return respond_error(err, metrics)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = {
            404: f"there is no {request.url.path}: the API is POST /api/v1/features",
            405: f"{request.method} is not allowed on {request.url.path}",
        }.get(exc.status_code, str(exc.detail))
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        response = respond_error(RostoError(message, code=code, status=exc.status_code), metrics)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return respond_error(
            RostoError(f"invalid request: {problems}", code="invalid_request", status=422),
            metrics,
        )
