"""The sender thread: moves the queue to the gateway, oldest first, one batch at a time.

A batch goes when it is full, or when its oldest read has waited ``batch_seconds``. One
request at a time, in queue order, so the gateway publishes a station's scans in read
order (the first copy of each; a resend after a lost answer may repeat some). While the
gateway cannot be reached it waits 0.5 s, 1 s, 2 s, ... up to ``retry_max`` (with some
jitter, so stations do not come back all at once) and tries again; the reader thread
keeps queueing meanwhile, with each scan's own read time.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from pipeline.settings import default

from .gateway_client import BatchAnswer, BatchRefused, GatewayClient, OperatorNeeded, RetryLater
from .outbox import Outbox, Queued

log = logging.getLogger(__name__)

FIRST_RETRY = 0.5


class Sender:
    def __init__(self, outbox: Outbox, client: GatewayClient, *, batch_size: int = default("station_batch_size"),
                 batch_seconds: float = default("station_batch_seconds"),
                 retry_max: float = default("station_retry_max_seconds"),
                 on_status: Callable[[str], None] | None = None,
                 on_accepted: Callable[[list[tuple[Queued, tuple[str, str]]]], None] | None = None) -> None:
        self.outbox = outbox
        self.client = client
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.retry_max = retry_max
        self.on_status = on_status or (lambda message: log.warning("%s", message))
        # Told each accepted scan's declaration status and colour (the station shows them).
        self.on_accepted = on_accepted
        self.sent = 0
        self.refused = 0
        self._limit = batch_size  # lowered after a 413, or to isolate a bad scan
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="station-sender", daemon=True)
        self._failures = 0
        self._status: str | None = None

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """A scan was queued."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def wait_until_empty(self, timeout: float | None = None) -> bool:
        """Block until the queue is empty (True) or ``timeout`` passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.outbox.count():
            self._idle.clear()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._idle.wait(1.0 if remaining is None else min(1.0, remaining))
        return True

    # --- the loop ---------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # noqa: BLE001 - a bug must not stop sending; logged, retried
                log.exception("the station's sender failed; it tries again")
                self._back_off(None)

    def _step(self) -> None:
        batch = self.outbox.oldest(self._limit)
        if not batch:
            self._idle.set()
            self._wake.wait(1.0)
            self._wake.clear()
            return
        wait = batch[0].queued_at + self.batch_seconds - time.time()
        if len(batch) < self._limit and wait > 0:
            self._wake.wait(wait)  # more reads may fill the batch
            self._wake.clear()
            return
        self._send(batch)

    def _send(self, batch: list[Queued]) -> None:
        sent_at = datetime.now(timezone.utc).isoformat()
        items = [dict(json.loads(q.body), sent_at=sent_at) for q in batch]
        try:
            answer = self.client.send(items)
        except RetryLater as exc:
            self._report(f"{exc}; {self.outbox.count()} scan(s) kept in the queue, retrying")
            self._back_off(exc.retry_after)
            return
        except OperatorNeeded as exc:
            self._report(f"{exc}. Sending is paused; {self.outbox.count()} scan(s) kept in the queue "
                         f"(retried every {self.retry_max:.0f}s)")
            self._sleep(self.retry_max)
            return
        except BatchRefused as exc:
            self._split(batch, exc)
            return
        self._settle(batch, answer)

    def _settle(self, batch: list[Queued], answer: BatchAnswer) -> None:
        self.outbox.acknowledge(answer.acknowledged)
        if self.on_accepted is not None and answer.declarations:
            self.on_accepted([(q, answer.declarations[q.event_id]) for q in batch if q.event_id in answer.declarations])
        if answer.refused:
            self.outbox.refuse(answer.refused)
            for event_id, reason in answer.refused.items():
                log.warning("the gateway refused scan %s (%s); kept in the station's refused table",
                            event_id, reason)
        self.sent += len(answer.acknowledged)
        self.refused += len(answer.refused)
        answered = len(answer.acknowledged) + len(answer.refused)
        if answered < len(batch):
            self._report(f"the gateway answered for {answered} of {len(batch)} scans; the rest are sent again")
            self._back_off(None)
            return
        if self._status is not None:
            self._report(None)
        self._failures = 0
        self._limit = min(self.batch_size, self._limit * 2)

    def _split(self, batch: list[Queued], exc: BatchRefused) -> None:
        if len(batch) > 1:
            self._limit = max(1, len(batch) // 2)
            log.warning("%s; sending smaller batches (%d)", exc, self._limit)
            return
        if exc.status == 413:
            self._report(f"{exc}: even one scan is too large for the gateway; it stays queued")
            self._sleep(self.retry_max)
            return
        self.outbox.refuse({batch[0].event_id: f"http_{exc.status}"})
        self.refused += 1
        log.error("%s; scan %s moved to the station's refused table", exc, batch[0].event_id)

    # --- waiting ------------------------------------------------------------------------
    def _back_off(self, retry_after: float | None) -> None:
        self._failures += 1
        delay = min(self.retry_max, FIRST_RETRY * 2 ** min(self._failures - 1, 16))
        delay *= random.uniform(0.8, 1.2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_max))
        self._sleep(delay)

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _report(self, status: str | None) -> None:
        """Tell the operator when the sending state changes (not on every retry)."""
        if status == self._status:
            return
        previous, self._status = self._status, status
        if status is None:
            self.on_status(f"the gateway takes scans again; {self.outbox.count()} left in the queue")
        elif previous is None or status.split(";")[0] != previous.split(";")[0]:
            self.on_status(status)
