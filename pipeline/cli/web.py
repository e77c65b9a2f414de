"""`ravao web`: the read API (and the dashboards) for signed-in people."""

from __future__ import annotations

import typer

from ..kafka_local import bootstrap_servers
from ..settings import get_settings


def web(
    host: str = typer.Option(None, help="Address to listen on (default RAVAO_WEB_HOST)"),
    port: int = typer.Option(None, help="Port to listen on (default RAVAO_WEB_PORT)"),
    loglevel: str = typer.Option("info", help="debug, info, warning or error"),
) -> None:
    """Run the web application: sign-in with a phone and a one-time code
    (/api/v1/session), and the read API (/api/v1/areas/..., /venues/..., /trace/...,
    /audit), each answer scoped and masked for the signed-in account by the one
    authorization layer. Reads the warehouse as the `web` service account: through the
    running sink's door in the embedded default, or RAVAO_CLICKHOUSE_URL. Administrators
    have the operations page (/ops). Prometheus metrics at /metrics, answered only to
    RAVAO_METRICS_FROM (loopback by default). Serve it behind a TLS proxy.

    Example: ravao web --port 8090
    """
    import uvicorn

    from dashboards.web import create_app

    settings = get_settings()
    bootstrap_servers(settings)  # fail now, with the fix, when no broker is reachable
    uvicorn.run(create_app(settings), host=host or settings.web_host,
                port=settings.web_port if port is None else port, log_level=loglevel,
                access_log=loglevel == "debug", timeout_graceful_shutdown=8, proxy_headers=True,
                forwarded_allow_ips=settings.gateway_trusted_proxies)
