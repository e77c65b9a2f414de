"""`ravao alerts`, the service: the job over the warehouse (the server, or the embedded
sink's door, as the ``alerts`` account), with its notifier, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal

from ..access import reads_for
from ..kafka_local import bootstrap_servers
from ..settings import Settings
from ..warehouse.connect import ServiceWarehouse
from .job import AlertsJob

log = logging.getLogger(__name__)


def serve(settings: Settings) -> None:
    bootstrap = bootstrap_servers(settings)
    warehouse = ServiceWarehouse(settings, "alerts")
    reads = reads_for(settings, warehouse)
    job = AlertsJob(settings, bootstrap, reads)
    job.notifier = make_notifier(settings, bootstrap, job)
    stopping = []

    def stop(signum, _frame) -> None:
        log.info("alerts: stopping (signal %d)", signum)
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        job.restore()
        log.info("alerts: running (auto-confirm %s, contact depth %d, clusters of %d cases within %d days)",
                 "on" if settings.alerts_auto_confirm else "off", settings.alerts_contact_depth,
                 settings.alerts_cluster_cases, settings.alerts_cluster_days)
        job.run_forever(stop=lambda: bool(stopping))
    finally:
        job.close()
        reads.trail.close()
        warehouse.close()


def make_notifier(settings: Settings, bootstrap: str, job: AlertsJob):
    """The notifier of confirmed alerts (`pipeline.alerts.notify`)."""
    try:
        from .notify import Notifier
    except ImportError:  # pragma: no cover - until the notifier lands
        return None
    from ..access.directory import AccountDirectory

    notifier = Notifier(settings, bootstrap, AccountDirectory(), job.on_settled)
    notifier.restore()
    return notifier
