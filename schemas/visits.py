"""A visit: a person's stay at a venue, from entry to exit, either of them inferred."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import Field, model_validator

from .base import Record, Timestamp, utcnow
from .ids import PERSON, VENUE, id_pattern
from .registry import VenueCategory


class EntryHow(StrEnum):
    scan = "scan"
    inferred = "inferred"  # an exit came with no entry before it


class ExitHow(StrEnum):
    scan = "scan"
    next_scan = "next_scan"  # the person scanned in elsewhere first
    timeout = "timeout"  # no exit within the venue's maximum stay: default stay applied
    open = "open"  # still inside (t_out is the provisional default-stay end)


class Visit(Record):
    """Keyed by person on ``visits``. A visit keeps its ``visit_id`` while late events
    revise it; each revision has a higher ``version`` and the latest one wins."""

    visit_id: UUID
    version: int = Field(ge=1)
    person_id: str = Field(pattern=id_pattern(PERSON))
    venue_id: str = Field(pattern=id_pattern(VENUE))
    area_id: str
    area_path: tuple[str, ...]
    category: VenueCategory
    t_in: Timestamp
    t_out: Timestamp
    entry_how: EntryHow
    exit_how: ExitHow
    entry_event_id: UUID | None = None
    exit_event_id: UUID | None = None
    deleted: bool = Field(False, description="a revision that withdraws the visit entirely")
    updated_at: Timestamp = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _ordered(self) -> "Visit":
        if self.t_out < self.t_in:
            raise ValueError("a visit cannot end before it starts")
        return self
