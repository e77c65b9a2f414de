"""`ravao alerts status`: every notification's delivery state, read from the
`notifications` topic, phones masked; and the endpoints that are disabled."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..privacy import mask_phone
from ..warehouse.base import Result
from .outbox import Outbox
from schemas.notifications import Channel, DeliveryState, Notification

COLUMNS = ["notification_id", "alert_id", "purpose", "channel", "recipient", "role", "state", "attempts",
           "next_attempt_at", "last_status", "last_error", "updated_at"]
PROBLEMS = frozenset({DeliveryState.failed, DeliveryState.disabled})


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def row(n: Notification) -> list[Any]:
    recipient = mask_phone(n.recipient) if n.channel is Channel.sms else n.recipient
    return [str(n.notification_id), str(n.alert_id), n.purpose.value, n.channel.value, recipient, n.role.value,
            n.state.value, n.attempts, _when(n.next_attempt_at), n.last_status, n.last_error, _when(n.updated_at)]


def status_result(outbox: Outbox, failed_only: bool = False) -> Result:
    chosen = [n for n in outbox.by_id.values() if not failed_only or n.state in PROBLEMS]
    chosen.sort(key=lambda n: (n.created_at, n.alert_id.hex, n.channel.value, n.notification_id.hex))
    return Result(COLUMNS, ["String"] * len(COLUMNS), [row(n) for n in chosen])


def summary(outbox: Outbox) -> str:
    counts: dict[str, int] = {}
    for n in outbox.by_id.values():
        counts[n.state.value] = counts.get(n.state.value, 0) + 1
    parts = [f"{counts[s.value]} {s.value}" for s in DeliveryState if s.value in counts]
    disabled = sorted(outbox.disabled_endpoints())
    line = "notifications: " + (", ".join(parts) or "none")
    if disabled:
        line += f"\nendpoints disabled (410 Gone): {', '.join(disabled)}"
    return line + "\n"
