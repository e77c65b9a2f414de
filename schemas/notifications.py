"""One notification of an alert to one recipient, and its delivery state
(`notifications`, compacted by notification id: the latest record is the state).

A confirmed alert is told to each recipient once: the venue's owner and staff phones and
the officers of its areas by SMS, every configured webhook endpoint by a Standard Webhook.
A retracted alert that was told sends each of them one retraction notice, a notification
of its own. The notifier (`pipeline.alerts.notify`) is the only writer.

``recipient`` is a phone in full for SMS (needed to send it; the warehouse keeps it
masked, like `accounts`) or an endpoint's name for a webhook. ``body`` is exactly what is
sent, so that a repeat after a crash carries the same bytes and the same ``webhook-id``:
it never holds personal data of the case (`pipeline.alerts.messages`).
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import Field, model_validator

from .base import Record, Timestamp, utcnow
from .ids import VENUE, id_pattern
from .registry import normalise_phone


class Channel(StrEnum):
    webhook = "webhook"
    sms = "sms"


class Purpose(StrEnum):
    alert = "alert"  # a confirmed alert
    retraction = "retraction"  # the alert was retracted after it was told


class RecipientRole(StrEnum):
    venue_owner = "venue_owner"
    venue_staff = "venue_staff"
    area_officer = "area_officer"
    endpoint = "endpoint"  # a webhook endpoint (RAVAO_WEBHOOKS)


class DeliveryState(StrEnum):
    pending = "pending"  # waiting for its next attempt (next_attempt_at)
    sending = "sending"  # an attempt began; found so after a restart, it is sent again, same id
    delivered = "delivered"  # acknowledged: a 2xx from the endpoint, or the SMS gateway accepted it
    failed = "failed"  # given up after the last attempt of the schedule (last_error says why)
    disabled = "disabled"  # not sent: its endpoint answered 410 Gone (and is disabled for good)
    cancelled = "cancelled"  # not sent: the alert was retracted first, or the endpoint was removed


ENDED = frozenset({DeliveryState.delivered, DeliveryState.failed, DeliveryState.disabled, DeliveryState.cancelled})


class Notification(Record):
    notification_id: UUID  # the webhook's `webhook-id`
    alert_id: UUID
    alert_version: int = Field(ge=1)  # the version it tells
    purpose: Purpose
    channel: Channel
    recipient: str = Field(min_length=1, max_length=100)
    role: RecipientRole
    venue_id: str = Field(pattern=id_pattern(VENUE))
    state: DeliveryState = DeliveryState.pending
    attempts: int = Field(0, ge=0)
    next_attempt_at: Timestamp | None = None  # pending: not before this time
    last_status: int | None = Field(None, ge=100, le=599)  # the endpoint's HTTP status at the last attempt
    last_error: str = Field("", max_length=300)  # what went wrong at the last attempt (never personal data)
    body: str = Field(min_length=1, max_length=8000)
    created_at: Timestamp = Field(default_factory=utcnow)
    updated_at: Timestamp = Field(default_factory=utcnow)
    delivered_at: Timestamp | None = None

    @model_validator(mode="after")
    def _check(self) -> "Notification":
        if self.channel is Channel.sms:
            if self.role is RecipientRole.endpoint:
                raise ValueError("an SMS goes to a phone, not to an endpoint")
            if normalise_phone(self.recipient) != self.recipient:
                raise ValueError("an SMS recipient is a phone written 0XXXXXXXXX")
        elif self.role is not RecipientRole.endpoint:
            raise ValueError("a webhook goes to an endpoint")
        if self.state is DeliveryState.delivered and self.delivered_at is None:
            raise ValueError("a delivered notification has delivered_at")
        return self

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    def __repr__(self) -> str:  # keep the phone out of tracebacks and logs
        return (f"Notification({self.notification_id}, {self.channel.value}, {self.role.value}, "
                f"state={self.state.value!r})")

    __str__ = __repr__
