"""The gateway's FastAPI application: the JSON API, the scanner pages and their files."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from pipeline.settings import Settings

from . import api, declare, enrol, pages
from .body import BodyGuard
from .errors import install_error_handlers
from .metrics import GatewayMetrics
from .service import Gateway

DESCRIPTION = """\
Scanning devices submit scans here; the gateway publishes them to Kafka (`scans.raw`) and
answers only after Kafka acknowledged them, with what the scanning screen should show.

**Authentication** (scans by devices): `Authorization: Bearer <device id>:<token>`, the id
and token printed by `ravao device add`. Self check-ins from a venue poster's page need none, but
are signed by the phone enrolled for the person's code (`/api/v1/enrolment`): a printed
card alone checks nobody in by themselves. A guard page may instead sign in with a staff
phone and a one-time code (`/api/v1/session`): its session cookie then stands for the
device (`X-Ravao-Venue` names the venue when the phone guards several).

**Health declarations** (`/api/v1/declarations`): signed by the person's enrolled phone, or
made by a guard for a person their device just scanned. Every accepted scan's answer then
carries the person's status at the scan time as a word and a colour, never the answers.

**Retries**: a 503 (or 429) carries `Retry-After`; send the same scans again with the same
`event_id`s. A scan sent twice is published twice and counted once by the pipeline.

**Errors**: every error is JSON `{"error": ..., "message": ...}`.

This document is served as `/openapi.json` only: no documentation page runs on the
gateway's origin, where the guard page keeps its device token. Open it in an OpenAPI
viewer served from another origin.
"""


def create_app(settings: Settings) -> FastAPI:
    # Here, not at the top: `pipeline.access.http` imports this package's `api` module.
    from pipeline.access.directory import AccountDirectory
    from pipeline.access.http import SignIn, install_sign_in

    from .guard_session import GuardSessions

    gateway = Gateway(settings)
    # Guards sign in as people do (phone + one-time code); the codes are the gateway's own,
    # shared with phone enrolment (separate purposes), so wrong tries count once per address.
    sign_in = SignIn(settings, AccountDirectory(), sms=gateway.sms, codes=gateway.codes)
    gateway.guards = GuardSessions(sign_in, gateway.directory, gateway.topics.devices.name)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await gateway.start()
        gateway.guards.start(gateway.bootstrap, gateway.topics)
        try:
            yield
        finally:
            await gateway.guards.stop()
            await gateway.stop()

    # No /docs or /redoc: those pages load their scripts from a CDN, on the origin whose
    # localStorage holds the guard page's device token.
    # No OpenTelemetry either: the gateway's metrics are Prometheus's (metrics.py), and
    # FastAPI asked the global OpenTelemetry providers on every request whether to trace.
    app = FastAPI(title="ravao gateway", version="1", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.gateway = gateway
    app.state.metrics = GatewayMetrics(settings.metrics_from)
    gateway.sent = app.state.metrics.sent
    install_error_handlers(app)

    async def admit(scope) -> None:
        await api.admit(gateway, scope)

    app.add_middleware(BodyGuard, limit=settings.gateway_max_body_bytes,
                       timeout=settings.gateway_body_timeout_seconds, admit=admit)
    app.state.metrics.install(app)
    app.include_router(api.router)
    app.include_router(enrol.router)
    app.include_router(declare.router)
    install_sign_in(app, sign_in, error_handlers=False)
    app.include_router(api.health_router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    return app


def app_from_settings() -> FastAPI:
    """The app on the process's settings (the environment): what each uvicorn worker of
    `ravao gateway` builds for itself (`uvicorn.run("...:app_from_settings", factory=True)`)."""
    import logging
    import multiprocessing

    from pipeline.private_files import keep_new_files_private
    from pipeline.settings import get_settings

    if multiprocessing.parent_process() is not None:  # a worker: `ravao`'s own set-up did not run here
        keep_new_files_private()
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return create_app(get_settings())
