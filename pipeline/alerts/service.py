"""`ravao alerts`, the service: the job over the warehouse (the server, or the embedded
sink's door, as the ``alerts`` account), with its notifier, until SIGTERM or Ctrl-C.

The notifier runs on a thread of its own (`NotifierThread`): a slow webhook endpoint,
waited for up to RAVAO_NOTIFY_TIMEOUT_SECONDS per attempt, never delays the evaluation
of a case. The job hands it each alert version it writes or restored; the notifier tells
the job when an alert's notifications have all ended, and the job writes `notified`.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from pathlib import Path

from ..access import reads_for
from ..access.directory import AccountDirectory
from ..kafka_local import bootstrap_servers
from ..prometheus import serve as serve_metrics
from ..settings import Settings
from ..warehouse.connect import ServiceWarehouse
from .job import AlertsJob
from .metrics import AlertsMetrics
from .notify import Notifier

log = logging.getLogger(__name__)


class NotifierThread:
    """`Notifier` behind a queue, on one thread (it is not thread-safe): ``offer`` from the
    job's thread, deliveries every RAVAO_NOTIFY_POLL_SECONDS or as soon as an alert comes."""

    def __init__(self, notifier: Notifier, poll_seconds: float) -> None:
        self.notifier = notifier
        self.poll_seconds = poll_seconds
        self._offered: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self.failed: BaseException | None = None

    def start(self) -> None:
        self.notifier.restore()
        self._thread.start()

    def offer(self, alert) -> None:
        if self.failed is not None:
            raise RuntimeError("the notifier stopped") from self.failed
        self._offered.put(alert)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    alert = self._offered.get(timeout=self.poll_seconds)
                    self.notifier.offer(alert)
                    while True:
                        self.notifier.offer(self._offered.get_nowait())
                except queue.Empty:
                    pass
                self.notifier.deliver_due()
        except BaseException as exc:  # the job sees it at its next offer, and exits to be restarted
            log.exception("alerts: the notifier stopped")
            self.failed = exc

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.notifier.settings.notify_timeout_seconds + 5)
        self.notifier.close()


HEARTBEAT_EVERY = 5.0  # seconds between touches of RAVAO_ALERTS_HEARTBEAT_FILE


class Heartbeat:
    """Touches ``path`` (if set) at most every HEARTBEAT_EVERY seconds: called once per turn
    of the job's loop, so the file's age says how long ago the loop last went round (the
    container's health check, `deploy/healthcheck.py alerts`). Returns False, to sit in a
    stop condition."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._last = 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if self.path is not None and now - self._last >= HEARTBEAT_EVERY:
            self.path.touch()
            self._last = now
        return False


def serve(settings: Settings) -> None:
    bootstrap = bootstrap_servers(settings)
    warehouse = ServiceWarehouse(settings, "alerts")
    reads = reads_for(settings, warehouse)
    directory = AccountDirectory()
    metrics = AlertsMetrics()
    job = AlertsJob(settings, bootstrap, reads, directory=directory, metrics=metrics)
    notifier = NotifierThread(Notifier(settings, bootstrap, directory, job.on_settled, metrics=metrics),
                              settings.notify_poll_seconds)
    job.notifier = notifier
    stopping = []

    def stop(signum, _frame) -> None:
        log.info("alerts: stopping (signal %d)", signum)
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server = serve_metrics(metrics.registry, settings.alerts_metrics_port, settings.metrics_host)
    try:
        notifier.start()
        job.restore()
        log.info("alerts: running (auto-confirm %s, contact depth %d, clusters of %d cases within %d days, "
                 "%d webhook endpoint(s))", "on" if settings.alerts_auto_confirm else "off",
                 settings.alerts_contact_depth, settings.alerts_cluster_cases, settings.alerts_cluster_days,
                 len(notifier.notifier.endpoints))
        beat = Heartbeat(settings.alerts_heartbeat_file)
        job.run_forever(stop=lambda: beat() or bool(stopping) or notifier.failed is not None)
    finally:
        if server is not None:
            server.shutdown()
        job.close()
        reads.trail.close()
        warehouse.close()
    if notifier.failed is not None:
        raise SystemExit(1)
