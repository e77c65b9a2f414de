"""Dead letters: what the pipeline refused, with the raw bytes and why."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from .base import Record, Timestamp, utcnow


class RejectReason(StrEnum):
    """Machine-readable reasons on ``scans.dlq``. Stable: dashboards group by them."""

    undecodable = "undecodable"  # not UTF-8 JSON, or not a scan
    oversized = "oversized"
    unknown_schema_version = "unknown_schema_version"
    bad_code = "bad_code"  # malformed, garbled or truncated QR text
    bad_signature = "bad_signature"
    expired_key = "expired_key"  # signed with a key that is no longer active
    unknown_venue = "unknown_venue"
    inactive_venue = "inactive_venue"
    unknown_person = "unknown_person"
    unknown_device = "unknown_device"
    device_not_authorised = "device_not_authorised"
    future_scan = "future_scan"
    too_late = "too_late"
    internal_error = "internal_error"  # the validator failed: a bug, logged; kept for replay


class DeadLetter(Record):
    reason: RejectReason
    message: str = Field(max_length=1000, description="for a human; never personal data")
    raw_base64: str = Field(description="the message value exactly as received")
    source_topic: str
    source_partition: int = Field(ge=0)
    source_offset: int = Field(ge=0)
    event_id: str | None = None
    rejected_at: Timestamp = Field(default_factory=utcnow)
