"""The gateway's FastAPI application: the JSON API, the scanner pages and their files."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from pipeline.settings import Settings

from . import api, pages
from .errors import BodyLimit, install_error_handlers
from .service import Gateway

DESCRIPTION = """\
Scanning devices submit scans here; the gateway publishes them to Kafka (`scans.raw`) and
answers only after Kafka acknowledged them, with what the scanning screen should show.

**Authentication** (scans by devices): `Authorization: Bearer <device id>:<token>`, the id
and token printed by `ravao device add`. Self check-ins from a venue poster's page need
none.

**Retries**: a 503 (or 429) carries `Retry-After`; send the same scans again with the same
`event_id`s. A scan sent twice is published twice and counted once by the pipeline.

**Errors**: every error is JSON `{"error": ..., "message": ...}`.
"""


def create_app(settings: Settings) -> FastAPI:
    gateway = Gateway(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app = FastAPI(title="ravao gateway", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.gateway = gateway
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=settings.gateway_max_body_bytes)
    app.include_router(api.router)
    app.include_router(api.health_router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    return app
