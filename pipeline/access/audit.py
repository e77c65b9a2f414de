"""The audit trail: every read of personal data in full is written down before it runs.

    trail = AuditTrail.for_warehouse(settings, warehouse)
    trail.record(caller, action="trace_with_names", subject=person, purpose=case_id,
                 persons=[...], detail={...})       # raises AuditUnavailable: no row, no read

Where the row goes: a process that holds the warehouse itself (the CLI with no sink
running) inserts it into ``audit_log``; every other process (the web, the alerting job,
the CLI through the sink or a server) publishes an `AuditRecord` to the ``audit`` topic
and waits until the broker has kept it; the sink lands it in ``audit_log``. The reader
never writes to the warehouse, so its door stays read-only. Masked reads are not audited.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from schemas import AuditRecord

from ..settings import Settings
from .caller import Caller

log = logging.getLogger(__name__)
AUDIT_COLUMNS = ["audit_id", "at", "actor", "action", "subject", "purpose", "persons", "detail", "rows"]
DELIVERY_TIMEOUT_SECONDS = 15.0


class AuditUnavailable(RuntimeError):
    """The audit row could not be written, so nothing personal is read."""


class AuditTrail:
    def __init__(self, write) -> None:
        self._write = write

    @classmethod
    def for_warehouse(cls, settings: Settings, warehouse) -> "AuditTrail":
        if getattr(warehouse, "exclusive", False):
            return cls(_InWarehouse(warehouse))
        return cls(_OnKafka(settings))

    def record(self, caller: Caller, *, action: str, subject: str = "", purpose: str = "",
               persons: Iterable[str] = (), detail: Mapping[str, Any] | None = None) -> AuditRecord:
        record = audit_record(caller, action=action, subject=subject, purpose=purpose, persons=persons,
                              detail=detail)
        try:
            self._write(record)
        except Exception as exc:
            log.error("an audit record could not be written (%s): the read it was for is refused",
                      type(exc).__name__)
            raise AuditUnavailable("the audit trail cannot be written right now, so nothing personal is read; "
                                   "check that Kafka (or the warehouse) is up, then try again") from None
        return record

    def close(self) -> None:
        close = getattr(self._write, "close", None)
        if close:
            close()


def audit_record(caller: Caller, *, action: str, subject: str = "", purpose: str = "",
                 persons: Iterable[str] = (), detail: Mapping[str, Any] | None = None) -> AuditRecord:
    """The record of one read in full, for whoever sends it (`AuditTrail`, or the gateway
    beside the scan whose answer shows a name in full)."""
    people = tuple(sorted(set(persons)))
    # The account in full (its phone, for a person): the trail must tell apart two readers
    # whose masked phones agree. The trail is itself personal data, for admins only.
    return AuditRecord(audit_id=uuid.uuid4(), actor=(caller.phone or caller.actor)[:100], action=action,
                       subject=subject, purpose=purpose[:200], persons=people,
                       detail=json.dumps(dict(detail or {}), sort_keys=True, default=str)[:8000], rows=len(people))


class _InWarehouse:
    def __init__(self, warehouse) -> None:
        self.warehouse = warehouse

    def __call__(self, record: AuditRecord) -> None:
        row = [str(record.audit_id), record.at, record.actor, record.action, record.subject, record.purpose,
               list(record.persons), record.detail, record.rows]
        self.warehouse.insert("audit_log", AUDIT_COLUMNS, [row], token=f"audit-{record.audit_id}")


class _OnKafka:
    """One producer shared by the process's threads. Each record waits for its own
    delivery report: with a shared producer, another thread's ``flush`` may serve this
    record's report, so "the queue is empty" does not say "this record was kept"."""

    def __init__(self, settings: Settings) -> None:
        from ..topics import topics_for

        self.settings = settings
        self.topic = topics_for(settings).audit.name
        self._producer = None
        self._lock = threading.Lock()

    def _shared_producer(self):
        from ..kafka_io import reliable_producer
        from ..kafka_local import bootstrap_servers

        with self._lock:
            if self._producer is None:
                self._producer = reliable_producer(bootstrap_servers(self.settings), **{
                    "message.timeout.ms": int(DELIVERY_TIMEOUT_SECONDS * 1000)})
            return self._producer

    def __call__(self, record: AuditRecord) -> None:
        producer = self._shared_producer()
        delivered = threading.Event()
        outcome: list[str | None] = []

        def on_delivery(err, _msg) -> None:
            outcome.append(None if err is None else str(err))
            delivered.set()

        producer.produce(self.topic, key=str(record.audit_id).encode(), value=record.to_bytes(),
                         on_delivery=on_delivery)
        deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS + 5
        while not delivered.is_set():
            if time.monotonic() > deadline:
                raise TimeoutError("the broker did not acknowledge the audit record")
            producer.poll(0.1)
        if outcome[0] is not None:
            raise RuntimeError(f"the broker refused the audit record: {outcome[0]}")

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(5)
