"""`ravao gateway`: the HTTP gateway and the web scanner pages."""

from __future__ import annotations

import logging

import typer

from ..kafka_local import bootstrap_servers
from ..keys import load_codec
from ..settings import get_settings

log = logging.getLogger(__name__)


def gateway(
    host: str = typer.Option(None, help="Address to listen on (default RAVAO_GATEWAY_HOST)"),
    port: int = typer.Option(None, help="Port to listen on (default RAVAO_GATEWAY_PORT)"),
    workers: int = typer.Option(None, min=1, help="Processes to serve on, one port (default RAVAO_GATEWAY_WORKERS, "
                                "1); each keeps its own codes and guard sessions: see the README"),
    loglevel: str = typer.Option("info", help="debug, info, warning or error"),
) -> None:
    """Run the HTTP gateway: devices post scans (Authorization: Bearer DEVICE_ID:TOKEN),
    the gateway publishes them to Kafka and answers once Kafka acknowledged them. Also
    serves the self check-in page of each venue poster (/s/CODE), the guard page
    (/guard) and the OpenAPI document (/openapi.json). Serve it behind a TLS proxy.
    Prometheus metrics at /metrics, answered only to RAVAO_METRICS_FROM (loopback by
    default; the proxy's X-Forwarded-For client when the proxy is trusted).

    With --workers N, N processes share the port (uvicorn workers): device scans and self
    check-ins are served by any of them, but one-time codes, guard sessions and rate
    limits live in each process's memory, so guard sign-in and phone enrolment need one
    process, or gateways on separate ports behind sticky routing.

    Example: ravao gateway --port 8080 --workers 2
    """
    import uvicorn

    settings = get_settings()
    bootstrap_servers(settings)  # fail now, with the fix, when no broker is reachable
    load_codec(settings)
    processes = workers or settings.gateway_workers
    if processes > 1:
        log.warning("serving on %d processes: each keeps its own one-time codes, guard sessions, recent guard scans "
                    "and rate limits; a guard's sign-in or a phone's enrolment may land on another process (see the "
                    "README on several gateway processes)", processes)
    # Connections are capped (503 beyond; per process), idle keep-alive ones closed after
    # 5 s, request heads must arrive within RAVAO_GATEWAY_HEAD_TIMEOUT_SECONDS
    # (head_timeout.py), and on SIGTERM requests in flight get 8 s (every service stops
    # within 10 s); bodies have their own time limit in the app (producers/gateway/body.py).
    # Client addresses come from X-Forwarded-For only when the TLS proxy in front is
    # trusted. The app and the protocol are named, not passed: each worker process builds
    # its own from the same environment (one process, too, for one way of starting).
    uvicorn.run("producers.gateway.app:app_from_settings", factory=True, workers=processes,
                host=host or settings.gateway_host, port=settings.gateway_port if port is None else port,
                log_level=loglevel, access_log=loglevel == "debug", timeout_graceful_shutdown=8,
                limit_concurrency=settings.gateway_max_connections, timeout_keep_alive=5,
                proxy_headers=True, forwarded_allow_ips=settings.gateway_trusted_proxies,
                http="producers.gateway.head_timeout:SettingsHeadTimeoutProtocol")
