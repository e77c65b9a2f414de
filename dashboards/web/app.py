"""The web application: sign-in (`pipeline.access.http`) and the read API (`api`).

`create_app(settings)` opens the warehouse for reading as the ``web`` service account
(through the embedded sink's door, or a server) and follows the account directory. Tests
hand it a warehouse of their own.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pipeline.access.audit import AuditUnavailable
from pipeline.access.directory import AccountDirectory
from pipeline.access.http import SignIn, install_sign_in
from pipeline.access.policy import Denied
from pipeline.access.reads import Reads
from pipeline.settings import Settings
from pipeline.warehouse.base import WarehouseError, WarehouseUnavailable
from pipeline.warehouse.queries import QueryInputError

from pipeline.alerts.cases import CaseError, UnknownCase
from pipeline.kafka_io import DeliveryFailed
from pipeline.kafka_local import KafkaSetupError

from . import alert_page, api, cases_api

SERVICE_ACCOUNT = "web"


def install_error_handlers(app: FastAPI) -> None:
    def answer(status: int, message: str, headers: dict | None = None) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.exception_handler(Denied)
    async def denied(_request: Request, exc: Denied) -> JSONResponse:
        return answer(403, str(exc))

    @app.exception_handler(UnknownCase)
    async def unknown_case(_request: Request, exc: UnknownCase) -> JSONResponse:
        return answer(404, str(exc))

    @app.exception_handler(CaseError)
    async def case_refused(_request: Request, exc: CaseError) -> JSONResponse:
        return answer(422, str(exc))

    @app.exception_handler(LookupError)
    async def not_found(_request: Request, exc: LookupError) -> JSONResponse:
        return answer(404, str(exc).strip("'\""))

    @app.exception_handler(QueryInputError)
    async def bad_input(_request: Request, exc: QueryInputError) -> JSONResponse:
        return answer(422, str(exc))

    @app.exception_handler(AuditUnavailable)
    async def no_audit(_request: Request, exc: AuditUnavailable) -> JSONResponse:
        return answer(503, str(exc), {"Retry-After": "10"})

    @app.exception_handler(WarehouseUnavailable)
    async def warehouse_down(_request: Request, exc: WarehouseUnavailable) -> JSONResponse:
        return answer(503, "the warehouse cannot be reached right now; try again shortly", {"Retry-After": "10"})

    @app.exception_handler(KafkaSetupError)
    @app.exception_handler(DeliveryFailed)
    async def broker_down(_request: Request, exc: Exception) -> JSONResponse:
        return answer(503, "the broker did not take the change; nothing was registered: try again shortly",
                      {"Retry-After": "10"})

    @app.exception_handler(WarehouseError)
    async def refused(_request: Request, exc: WarehouseError) -> JSONResponse:
        return answer(400, str(exc))


def create_app(settings: Settings, *, warehouse=None, sign_in: SignIn | None = None) -> FastAPI:
    """``warehouse`` and ``sign_in`` (with a directory already filled) are for tests;
    without them the app opens the warehouse as ``web`` and follows the account topics."""
    from pipeline.access import reads_for

    owned_warehouse, follow = warehouse is None, sign_in is None
    sign_in = sign_in or SignIn(settings, AccountDirectory())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        nonlocal warehouse
        if follow:
            from pipeline.kafka_local import bootstrap_servers
            from pipeline.topics import topics_for

            await sign_in.start(bootstrap_servers(settings), topics_for(settings))
        if warehouse is None:
            from pipeline.warehouse.connect import ServiceWarehouse

            warehouse = ServiceWarehouse(settings, SERVICE_ACCOUNT)
        app.state.reads = reads_for(settings, warehouse)
        app.state.settings = settings
        from pipeline.alerts.cases import CaseBook

        app.state.cases = CaseBook(settings)
        try:
            yield
        finally:
            app.state.reads.trail.close()
            app.state.cases.close()
            if owned_warehouse:
                warehouse.close()
            await sign_in.stop()

    app = FastAPI(title="ravao web", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    install_sign_in(app, sign_in)  # the router, and the error answers both share
    install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(cases_api.router)
    app.include_router(alert_page.router)
    return app
