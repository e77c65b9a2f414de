"""Dead letters: what the pipeline refused, with (a bounded prefix of) the raw bytes and why."""

from __future__ import annotations

import base64
from enum import StrEnum
from typing import Any

from pydantic import Field

from .base import Record, Timestamp, utcnow
from .scans import MAX_RAW_SCAN_BYTES

# The most bytes of a refused message a dead letter carries: every byte of anything that
# may be a scan, the first this many of an oversized message. The broker takes messages
# of about 1 MiB while a producer refuses records over its request limit: a dead letter
# that carried a large message whole (as base64, a third larger) could not be sent.
MAX_DEAD_LETTER_RAW_BYTES = MAX_RAW_SCAN_BYTES
MAX_DEAD_LETTER_RAW_BASE64 = 4 * -(-MAX_DEAD_LETTER_RAW_BYTES // 3)
MAX_DEAD_LETTER_MESSAGE = 1000  # characters


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
    message: str = Field(max_length=MAX_DEAD_LETTER_MESSAGE, description="for a human; never personal data")
    raw_base64: str = Field(
        max_length=MAX_DEAD_LETTER_RAW_BASE64,
        description=f"the message value as received; only its first {MAX_DEAD_LETTER_RAW_BYTES} bytes when "
        "raw_truncated")
    raw_length: int | None = Field(
        None, ge=0, description="the value's length in bytes (absent from dead letters written before it was "
        "kept, whose raw_base64 is the whole value)")
    raw_truncated: bool = Field(False, description="raw_base64 holds only the first bytes of the value")
    source_topic: str
    source_partition: int = Field(ge=0)
    source_offset: int = Field(ge=0)
    source_index: int = Field(0, ge=0, description="its place among the records of an envelope (schemas.envelopes); "
                              "0 for a message of one record")
    event_id: str | None = None
    rejected_at: Timestamp = Field(default_factory=utcnow)


def raw_fields(raw: bytes | None) -> dict[str, Any]:
    """What a dead letter keeps of ``raw``: a bounded prefix, the whole length, and
    whether the prefix is all of it."""
    value = raw or b""
    kept = value[:MAX_DEAD_LETTER_RAW_BYTES]
    return {"raw_base64": base64.b64encode(kept).decode("ascii"), "raw_length": len(value),
            "raw_truncated": len(kept) < len(value)}
