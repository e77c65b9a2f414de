"""The notifications' delivery state, kept on the compacted `notifications` topic.

    outbox = Outbox(bootstrap, topic)
    outbox.restore()                 # the latest record of every notification
    outbox.put(notification)         # published and acknowledged by the broker, then kept

A state counts only once the broker has acknowledged it (acks=all, idempotent producer):
`put` raises `DeliveryFailed` otherwise and changes nothing here, so what this process
believes is always what a restarted one will read back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from uuid import UUID

from ..kafka_io import produce_all, read_to_end, reliable_producer, while_leaders_settle
from schemas.notifications import Channel, DeliveryState, Notification, Purpose

log = logging.getLogger("ravao.alerts.notify")
Slot = tuple[UUID, Purpose, Channel, str]  # alert, purpose, channel, recipient: one notification each


class Outbox:
    def __init__(self, bootstrap: str, topic: str, ack_timeout: float = 30.0) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.ack_timeout = ack_timeout
        self.by_id: dict[UUID, Notification] = {}
        self.by_slot: dict[Slot, UUID] = {}
        self.by_alert: dict[UUID, set[UUID]] = {}
        self._producer = reliable_producer(bootstrap)

    def restore(self, tries: int = 20) -> int:
        """Read the topic to its end; returns how many notifications it holds. A topic
        just created (or a broker just restarted) may have no leader for a moment."""
        return while_leaders_settle(self._read, tries)

    def _read(self) -> int:
        self.by_id.clear()
        self.by_slot.clear()
        self.by_alert.clear()
        skipped = 0
        for key, value, _partition, _offset in read_to_end(self.bootstrap, self.topic):
            # A record this process did not write (another tool, a bad hand-made one) is
            # skipped, never a crash: a notifier that cannot restore would loop on it.
            try:
                if value is None:
                    if key is not None:
                        self._forget(UUID(key.decode()))
                    continue
                self._keep(Notification.from_bytes(value))
            except ValueError:  # pydantic's ValidationError, a bad UUID or UTF-8 key
                skipped += 1
        if skipped:
            log.warning("notifications: %d record(s) on %s that are not notifications were skipped", skipped,
                        self.topic)
        return len(self.by_id)

    def put(self, notification: Notification) -> Notification:
        produce_all(self._producer, self.topic, [(str(notification.notification_id).encode(), notification.to_bytes())],
                    timeout=self.ack_timeout)
        self._keep(notification)
        return notification

    def slot(self, alert_id: UUID, purpose: Purpose, channel: Channel, recipient: str) -> Notification | None:
        found = self.by_slot.get((alert_id, purpose, channel, recipient))
        return None if found is None else self.by_id[found]

    def of_alert(self, alert_id: UUID, purpose: Purpose | None = None) -> list[Notification]:
        found = (self.by_id[i] for i in self.by_alert.get(alert_id, ()))
        return [n for n in found if purpose is None or n.purpose is purpose]

    def open(self) -> Iterator[Notification]:
        return (n for n in list(self.by_id.values()) if not n.ended)

    def disabled_endpoints(self) -> set[str]:
        """Endpoints that answered 410: their notifications end `disabled`, and stay so."""
        return {n.recipient for n in self.by_id.values()
                if n.channel is Channel.webhook and n.state is DeliveryState.disabled and n.last_status == 410}

    def close(self) -> None:
        self._producer.flush(self.ack_timeout)

    def _keep(self, notification: Notification) -> None:
        self.by_id[notification.notification_id] = notification
        self.by_slot[(notification.alert_id, notification.purpose, notification.channel,
                      notification.recipient)] = notification.notification_id
        self.by_alert.setdefault(notification.alert_id, set()).add(notification.notification_id)

    def _forget(self, notification_id: UUID) -> None:
        gone = self.by_id.pop(notification_id, None)
        if gone is not None:
            self.by_slot.pop((gone.alert_id, gone.purpose, gone.channel, gone.recipient), None)
            self.by_alert.get(gone.alert_id, set()).discard(notification_id)
