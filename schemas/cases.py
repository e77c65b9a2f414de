"""Cases registered by health officials, and the alerts they raise for venues."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from pydantic import Field

from .base import Record, Timestamp, utcnow
from .ids import CASE, PERSON, VENUE, id_pattern


class CaseStatus(StrEnum):
    confirmed = "confirmed"
    suspected = "suspected"
    cleared = "cleared"


class Case(Record):
    case_id: str = Field(pattern=id_pattern(CASE))
    person_id: str = Field(pattern=id_pattern(PERSON))
    status: CaseStatus
    onset: date
    registered_at: Timestamp = Field(default_factory=utcnow)
    registered_by: str = Field(min_length=1, max_length=100)


class Alert(Record):
    """A venue flagged because a case was present there in the tracing window."""

    alert_id: UUID
    case_id: str = Field(pattern=id_pattern(CASE))
    venue_id: str = Field(pattern=id_pattern(VENUE))
    first_presence: Timestamp
    last_presence: Timestamp
    visits: int = Field(ge=1)
    created_at: Timestamp = Field(default_factory=utcnow)
