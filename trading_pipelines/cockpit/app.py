"""``create_app``: the cockpit's FastAPI application for one TRADING_HOME.

Every request passes the Host allow-list (400) and the client's rate limit (429) before any
route runs; a ledger that cannot be read answers 503 (its URL, which may hold a password, is
never shown); every response forbids framing and sniffing, and scripts come only from the
cockpit itself.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from trading_core.config import Paths, TradingConfig
from trading_pipelines.cockpit.api import build_api, error
from trading_pipelines.cockpit.context import Cockpit
from trading_pipelines.cockpit.pages_reports import build_report_pages
from trading_pipelines.cockpit.pages_signals import build_signal_pages
from trading_pipelines.cockpit.pages_trading import build_trading_pages
from trading_pipelines.cockpit.security import host_allowed, load_write_token

STATIC = Path(__file__).with_name("static")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
}
log = logging.getLogger("trading_pipelines.cockpit")


def _warm(cockpit: Cockpit) -> None:
    try:
        cockpit.reader.equity(max_points=2)
    except Exception as exc:  # a request will report it; the server must start anyway
        log.warning("could not pre-build the equity curve: %s", type(exc).__name__)


def create_app(
    paths: Paths, config: TradingConfig, environ: dict[str, str] | os._Environ[str] | None = None
) -> FastAPI:
    """The cockpit of ``paths.home``; the write token is read from ``environ`` (default: the
    process environment)."""
    cockpit = Cockpit.open(paths, config, load_write_token(environ))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Build the equity curve over the whole ledger now, not in the first visitor's request.
        threading.Thread(target=_warm, args=(cockpit,), name="cockpit-warm", daemon=True).start()
        yield
        cockpit.ledger.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Trading cockpit",
        version="1",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.cockpit = cockpit
    allowed = list(config.cockpit.allowed_hosts)

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if not host_allowed(request.headers.get("host"), allowed):
            response: Response = error(
                400, f"Host {request.headers.get('host')!r} is not allowed; allowed: {allowed}"
            )
        else:
            client = request.client.host if request.client else "unknown"
            wait = cockpit.limiter.acquire(client)
            if wait > 0:
                response = error(429, f"too many requests; retry in {wait:.2f} s")
                response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            else:
                response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"][1:]) or "request"
        return error(422, f"{field}: {problem['msg']}", field=field)

    @app.exception_handler(sa.exc.SQLAlchemyError)
    async def ledger_down(_request: Request, exc: sa.exc.SQLAlchemyError) -> JSONResponse:
        log.error("ledger read failed: %s", type(exc).__name__)
        return error(503, f"the ledger cannot be read right now ({type(exc).__name__})")

    app.include_router(build_api())
    app.include_router(build_trading_pages())
    app.include_router(build_signal_pages())
    app.include_router(build_report_pages())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
