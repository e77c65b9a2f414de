"""Scan events: raw (as a device sent it) and validated (as the pipeline accepted it)."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import Field, model_validator

from .base import Record, Timestamp, utcnow
from .declarations import DeclarationStatus
from .ids import DEVICE, PERSON, VENUE, id_pattern
from .registry import VenueCategory

MAX_RAW_SCAN_BYTES = 4096


class Direction(StrEnum):
    entry = "in"
    exit = "out"
    auto = "auto"  # toggles: an entry if the person is not inside this venue, else an exit


class ScanSource(StrEnum):
    self_checkin = "self"  # the person scanned the venue poster with their phone
    staff = "staff"  # a guard's phone scanned the person's code
    station = "station"  # a USB reader station at a gate


class RawScan(Record):
    """One scan as a device publishes it to ``scans.raw``.

    Both codes are the signed texts as read; the pipeline checks them. A self check-in
    carries the venue code from the poster; a staff or station scan carries the device
    id, whose venue is the scan's venue.
    """

    event_id: UUID
    source: ScanSource
    person_qr: str = Field(min_length=1, max_length=512)
    venue_qr: str | None = Field(None, max_length=512)
    device_id: str | None = Field(None, pattern=id_pattern(DEVICE))
    direction: Direction = Direction.auto
    scanned_at: Timestamp = Field(description="device clock at the scan")
    sent_at: Timestamp | None = Field(None, description="device clock when sent (for skew)")

    @model_validator(mode="after")
    def _where(self) -> "RawScan":
        if self.source is ScanSource.self_checkin and not self.venue_qr:
            raise ValueError("a self check-in carries the venue code")
        if self.source is not ScanSource.self_checkin and not self.device_id:
            raise ValueError("a staff or station scan carries the device id")
        return self


class ValidScan(Record):
    """A scan that passed validation, keyed by person on ``scans.valid`` and enriched
    with what the warehouse and the pairing need."""

    event_id: UUID
    source: ScanSource
    person_id: str = Field(pattern=id_pattern(PERSON))
    venue_id: str = Field(pattern=id_pattern(VENUE))
    device_id: str | None = Field(None, pattern=id_pattern(DEVICE))
    direction: Direction
    scanned_at: Timestamp
    received_at: Timestamp = Field(default_factory=utcnow)
    area_id: str
    area_path: tuple[str, ...]
    category: VenueCategory
    default_stay_minutes: int = Field(gt=0, description="the venue's: a visit with no exit lasts this long")
    max_stay_minutes: int = Field(gt=0, description="the venue's: an open visit past it has timed out")
    # The person's health declaration status at the scan's time (`status_at`): the word
    # only, never the answers, which stay in `declarations`.
    declaration: DeclarationStatus = DeclarationStatus.none
