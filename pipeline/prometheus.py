"""Prometheus metrics of every service, with `prometheus-client`: one registry per service
object, and where each service serves it.

    worker    its Faust web port (RAVAO_WORKER_PORT, on 127.0.0.1): /metrics
    sink      RAVAO_SINK_METRICS_PORT (0: off): /metrics, on RAVAO_METRICS_HOST
    alerts    RAVAO_ALERTS_METRICS_PORT (0: off): /metrics, on RAVAO_METRICS_HOST
    gateway   /metrics on its own app, answered only to RAVAO_METRICS_FROM (else 404)
    web       /metrics on its own app, answered only to RAVAO_METRICS_FROM (else 404)

(`pipeline.http_metrics` counts the two apps' requests and serves their /metrics.)

Each service object makes its own `CollectorRegistry` (`new_registry`), not the module's
global one: a test that builds an app or a job several times in one process registers
each metric once per registry, never twice in one. A module that adds metrics to a
service registers them on that service's registry, e.g. the web's:

    Gauge("ravao_web_feed_subscribers", "...", registry=app.state.metrics.registry)

The gateway and the web are served behind a TLS proxy; their /metrics must not reach the
internet. The address checked is the client's as uvicorn gives it: the proxy's
X-Forwarded-For client when the proxy is trusted (RAVAO_GATEWAY_TRUSTED_PROXIES), so a
request through the proxy is judged by where it came from, not by the proxy's loopback.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    start_http_server,
)


def new_registry() -> CollectorRegistry:
    """A registry with the process's own metrics (memory, CPU, open files, GC)."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The registry as Prometheus text, and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


def serve(registry: CollectorRegistry, port: int, host: str = "127.0.0.1"):
    """/metrics on its own port (sink, alerts), on a daemon thread; None when ``port`` is 0.
    Returns the server (``.shutdown()`` stops it)."""
    if not port:
        return None
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server


def networks(spec: str) -> tuple:
    """RAVAO_METRICS_FROM: comma-separated addresses or networks; ``*``: anyone."""
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    if "*" in parts:
        return (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
    try:
        return tuple(ipaddress.ip_network(part, strict=False) for part in parts)
    except ValueError as exc:
        raise ValueError(f"RAVAO_METRICS_FROM={spec!r}: give addresses or networks separated by commas, "
                         f"like 127.0.0.1,::1,10.0.0.0/8, or * ({exc})") from None


def allowed(client: str | None, allowed_networks: Iterable) -> bool:
    if not client:
        return False
    try:
        address = ipaddress.ip_address(client.strip("[]").split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in allowed_networks)
