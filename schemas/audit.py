"""Who read personal data in full: one record per read, written before the read.

The authorization layer (`pipeline.access.audit`) writes an `AuditRecord` to the `audit`
topic, waits for the broker to keep it, and only then reads; the sink lands it in
``audit_log``. The record names the people read by id, never by name or phone.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field

from .base import Record, Timestamp, utcnow
from .ids import PERSON, id_pattern


class AuditRecord(Record):
    audit_id: UUID  # the same read written twice (a retry) is one row
    at: Timestamp = Field(default_factory=utcnow)
    actor: str = Field(min_length=1, max_length=100, description="the account: a phone in full, or admin:NAME / service:NAME")
    action: str = Field(min_length=1, max_length=60, description="what was read: trace_with_names, venue_feed, ...")
    subject: str = Field("", max_length=100, description="what it was about: a person id, a venue id")
    purpose: str = Field("", max_length=200, description="why: the case id a tracer works on, or the role's own use")
    persons: tuple[Annotated[str, Field(pattern=id_pattern(PERSON))], ...] = Field(
        (), max_length=100_000, description="the people whose data was read, by id")
    detail: str = Field("{}", max_length=8000, description="the query and its values, as JSON")
    rows: int = Field(0, ge=0)
