"""The web application: sign-in (`pipeline.access.http`), the read API (`api`), and the
pages (`home`, `venue`, ...).

`create_app(settings)` opens the warehouse for reading as the ``web`` service account
(through the embedded sink's door, or a server) and follows the account directory. Tests
hand it a warehouse of their own.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager, suppress

from confluent_kafka import KafkaException
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from producers.gateway.errors import STATUS_ERRORS, error_response

from pipeline.access.audit import AuditUnavailable
from pipeline.access.directory import AccountDirectory
from pipeline.access.http import SignIn, install_sign_in, session_token
from pipeline.access.policy import Denied
from pipeline.settings import Settings
from pipeline.warehouse.base import WarehouseError, WarehouseUnavailable
from pipeline.warehouse.queries import QueryInputError

from pipeline.alerts.cases import CaseError, UnknownCase
from pipeline.kafka_io import DeliveryFailed
from pipeline.kafka_local import KafkaSetupError

from pipeline.http_metrics import HttpMetrics

from . import alert_page, api, cases_api, home, ops, site, tiers, tracing, venue, words
from .venue_feed import VenueFeed

SERVICE_ACCOUNT = "web"


HEADINGS = {403: "Not allowed", 404: "Not found", 503: "Not available right now"}


def install_error_handlers(app: FastAPI) -> None:
    """One answer per failure: JSON under /api/, the error page elsewhere."""
    def answer(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status, headers=headers)
        page = site.render(request, "error.html", _signed_in(request), status=status,
                           heading=words.translator(site.language(request))(HEADINGS.get(status, "Cannot do this")),
                           message=message)
        page.headers.update(headers or {})
        return page

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/"):  # as the gateway answers it
            return error_response(exc.status_code, STATUS_ERRORS.get(exc.status_code, "http_error"),
                                  str(exc.detail), headers=getattr(exc, "headers", None))
        return answer(request, exc.status_code, "no such page" if exc.status_code == 404 else str(exc.detail))

    @app.exception_handler(site.SignInNeeded)
    async def sign_in_first(_request: Request, exc: site.SignInNeeded) -> Response:
        return RedirectResponse(site.sign_in_url(exc.path), 303)

    @app.exception_handler(Denied)
    async def denied(request: Request, exc: Denied) -> Response:
        return answer(request, 403, str(exc))

    @app.exception_handler(UnknownCase)
    async def unknown_case(request: Request, exc: UnknownCase) -> Response:
        return answer(request, 404, str(exc))

    @app.exception_handler(CaseError)
    async def case_refused(request: Request, exc: CaseError) -> Response:
        return answer(request, 422, str(exc))

    @app.exception_handler(LookupError)
    async def not_found(request: Request, exc: LookupError) -> Response:
        return answer(request, 404, str(exc).strip("'\""))

    @app.exception_handler(QueryInputError)
    async def bad_input(request: Request, exc: QueryInputError) -> Response:
        return answer(request, 422, str(exc))

    @app.exception_handler(AuditUnavailable)
    async def no_audit(request: Request, exc: AuditUnavailable) -> Response:
        return answer(request, 503, str(exc), {"Retry-After": "10"})

    @app.exception_handler(WarehouseUnavailable)
    async def warehouse_down(request: Request, exc: WarehouseUnavailable) -> Response:
        return answer(request, 503, "the warehouse cannot be reached right now; try again shortly",
                      {"Retry-After": "10"})

    @app.exception_handler(KafkaSetupError)
    @app.exception_handler(DeliveryFailed)
    @app.exception_handler(KafkaException)  # the broker does not answer a read (the cases, before a change)
    async def broker_down(request: Request, exc: Exception) -> Response:
        if request.method in ("GET", "HEAD"):
            return answer(request, 503, "the broker does not answer, so the cases cannot be read right now: try "
                          "again shortly", {"Retry-After": "10"})
        return answer(request, 503, "the broker did not take the change; nothing was registered: try again shortly",
                      {"Retry-After": "10"})

    @app.exception_handler(WarehouseError)
    async def refused(request: Request, exc: WarehouseError) -> Response:
        return answer(request, 400, str(exc))


def _signed_in(request: Request):
    """The caller of an error page, if signed in (for the page's links); never raises."""
    try:
        return request.app.state.sign_in.sessions.resolve(session_token(request))
    except Exception:  # noqa: BLE001 - an error page must still render
        return None


def install_security_headers(app: FastAPI) -> None:
    """Every answer: the strict content security policy (a page that needs its own, such
    as the alert page's nonce, sets it first), no sniffing, no framing, no referrer."""
    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in site.SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def create_app(settings: Settings, *, warehouse=None, sign_in: SignIn | None = None,
               live_feed: bool | None = None) -> FastAPI:
    """``warehouse`` and ``sign_in`` (with a directory already filled) are for tests;
    without them the app opens the warehouse as ``web`` and follows the account topics.
    ``live_feed``: follow `visits` for the venues' live feed (`venue_feed`); by default
    when the app follows the account topics too. It is followed in the background, so
    that a slow or absent broker does not hold the app's start."""
    from pipeline.access import reads_for
    from pipeline.kafka_local import bootstrap_servers
    from pipeline.topics import topics_for

    owned_warehouse, follow = warehouse is None, sign_in is None
    sign_in = sign_in or SignIn(settings, AccountDirectory())
    live_feed = follow if live_feed is None else live_feed

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        nonlocal warehouse
        feed = app.state.venue_feed = VenueFeed(lambda: bootstrap_servers(settings), topics_for(settings).visits.name)
        if follow:
            await sign_in.start(bootstrap_servers(settings), topics_for(settings))
        if warehouse is None:
            from pipeline.warehouse.connect import ServiceWarehouse

            warehouse = ServiceWarehouse(settings, SERVICE_ACCOUNT)
        app.state.reads = reads_for(settings, warehouse, owners=sign_in.directory)
        app.state.settings = settings
        from pipeline.alerts.cases import CaseBook

        app.state.cases = CaseBook(settings)
        feed_task = asyncio.create_task(feed.run(), name="venue-feed") if live_feed else None
        try:
            yield
        finally:
            if feed_task is not None:
                feed_task.cancel()
                with suppress(asyncio.CancelledError):
                    await feed_task
            app.state.reads.trail.close()
            app.state.cases.close()
            if owned_warehouse:
                warehouse.close()
            await sign_in.stop()

    app = FastAPI(title="ravao web", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    # The web's registry: requests here; a page's own metrics register on app.state.metrics.registry.
    app.state.metrics = HttpMetrics("web", settings.metrics_from)
    app.state.metrics.install(app)
    install_sign_in(app, sign_in)  # the router, and the error answers both share
    install_error_handlers(app)
    install_security_headers(app)
    app.mount("/static", StaticFiles(directory=site.HERE / "static"), name="static")
    app.include_router(home.router)
    app.include_router(api.router)
    app.include_router(cases_api.router)
    app.include_router(alert_page.router)
    app.include_router(tiers.router)
    app.include_router(venue.router)
    app.include_router(ops.router)
    app.include_router(tracing.router)
    return app
