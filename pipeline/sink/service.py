"""`ravao sink` as one process: open the warehouse (waiting while it is down), bring it
up to date, serve reads (embedded engine only), consume until told to stop."""

from __future__ import annotations

import logging
import signal
import time

from ..kafka_local import bootstrap_servers
from ..prometheus import serve
from ..settings import Settings
from ..warehouse import Warehouse, WarehouseUnavailable, open_warehouse
from ..warehouse.migrations import migrate
from ..warehouse.tier_counts import days_to_rebuild, repair
from .metrics import SinkMetrics
from .sink import Sink

log = logging.getLogger(__name__)


def open_when_up(settings: Settings, stopping: list[bool]) -> Warehouse | None:
    """The migrated warehouse; while it is down, retry with doubling waits (None if told
    to stop meanwhile)."""
    delay = 0.5
    while not stopping:
        try:
            warehouse = open_warehouse(settings)
        except WarehouseUnavailable as exc:
            log.warning("warehouse unavailable, nothing consumed yet; retrying in %.1fs: %s", delay, exc)
        else:
            try:
                applied = migrate(warehouse, settings.retention_days)
                if applied:
                    log.info("applied migrations: %s", ", ".join(applied))
                return warehouse
            except WarehouseUnavailable as exc:
                warehouse.close()
                log.warning("warehouse unavailable while migrating; retrying in %.1fs: %s", delay, exc)
        time.sleep(delay)
        delay = min(delay * 2, settings.sink_retry_max_seconds)
    return None


def run_sink(settings: Settings, *, group: str | None = None, replay: bool = False,
             until_caught_up: bool = False) -> dict[str, int]:
    """Run until SIGTERM/SIGINT (or, with ``until_caught_up``, until the end offsets seen
    at start are written); returns the rows written per table."""
    bootstrap = bootstrap_servers(settings)
    metrics = SinkMetrics()
    server = serve(metrics.registry, settings.sink_metrics_port, settings.metrics_host)
    stopping: list[bool] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    warehouse = open_when_up(settings, stopping)
    if warehouse is None:
        log.info("stopped before the warehouse came up")
        if server is not None:
            server.shutdown()
        return {}
    endpoint = None
    try:
        if warehouse.exclusive:
            rebuilt = repair(warehouse)
            if rebuilt:
                log.warning("rebuilt the tier counts of %s from the raw scans", ", ".join(map(str, rebuilt)))
            from .endpoint import Endpoint

            endpoint = Endpoint(warehouse, settings.data_dir, settings.sink_port)
            endpoint.start()
        else:
            # Other sinks may be inserting: report, never rebuild behind their back.
            off = days_to_rebuild(warehouse)
            if off:
                log.error("tier counts of %s disagree with the raw scans; stop every sink and run "
                          "`ravao warehouse check --repair`", ", ".join(map(str, off)))
        sink = Sink(settings, warehouse, bootstrap, group=group, replay=replay, until_caught_up=until_caught_up,
                    metrics=metrics)
        sink.install_signal_handlers()
        if stopping:
            return {}
        sink.run()
        return sink.totals
    finally:
        if endpoint is not None:
            endpoint.stop()
        if server is not None:
            server.shutdown()
        warehouse.close()
