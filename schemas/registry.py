"""The registry: areas, venues, persons (and their personal data, kept apart), devices.

Registry records travel on compacted topics keyed by their id; the newest record per
key is the current state, so an update is simply a new record with the same id.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from .base import Record, Timestamp, utcnow
from .ids import DEVICE, PERSON, VENUE, id_pattern

PHONE_RE = re.compile(r"^(?:\+84|0)(?:3|5|7|8|9)\d{8}$")


def normalise_phone(raw: str) -> str:
    """A Vietnamese mobile number as ``0XXXXXXXXX``; raises ValueError with the reason."""
    digits = re.sub(r"[\s.\-()]", "", raw)
    if not PHONE_RE.match(digits):
        raise ValueError(
            f"{raw!r} is not a Vietnamese mobile number: expected 10 digits starting with "
            "03, 05, 07, 08 or 09 (or +84 followed by 9 digits)"
        )
    return "0" + digits[3:] if digits.startswith("+84") else digits


class Area(Record):
    """One administrative unit at any tier. ``path`` lists the ids from the top tier down
    to this area, itself included, so counts can be rolled up to every ancestor."""

    area_id: str = Field(pattern=r"^[0-9]{2,6}$")
    name: str = Field(min_length=1, max_length=200)
    tier: str = Field(description="province, district, commune, ...", min_length=1)
    level: int = Field(ge=0, description="0 for the top tier")
    parent_id: str | None = None
    path: tuple[str, ...]

    @model_validator(mode="after")
    def _path_ends_with_self(self) -> "Area":
        if not self.path or self.path[-1] != self.area_id or len(self.path) != self.level + 1:
            raise ValueError("path must run from the top tier down to this area")
        if (self.parent_id is None) != (self.level == 0):
            raise ValueError("only a top-tier area has no parent")
        return self


class VenueCategory(StrEnum):
    factory = "factory"
    market = "market"
    hospital = "hospital"
    checkpoint = "checkpoint"
    school = "school"
    office = "office"
    shop = "shop"
    restaurant = "restaurant"
    other = "other"


# (default stay, maximum stay) in minutes: a visit with no exit within the maximum
# stay is closed at the default stay. A factory shift runs up to 12 hours.
STAYS: dict[VenueCategory, tuple[int, int]] = {
    VenueCategory.factory: (480, 720),
    VenueCategory.market: (60, 240),
    VenueCategory.hospital: (120, 720),
    VenueCategory.checkpoint: (15, 60),
    VenueCategory.school: (300, 600),
    VenueCategory.office: (480, 720),
    VenueCategory.shop: (30, 180),
    VenueCategory.restaurant: (60, 240),
    VenueCategory.other: (60, 360),
}
# Venues whose staff may see personal data in full.
PRIVILEGED_BY_DEFAULT = {VenueCategory.hospital, VenueCategory.checkpoint}


class Venue(Record):
    venue_id: str = Field(pattern=id_pattern(VENUE))
    name: str = Field(min_length=1, max_length=200)
    address: str = Field("", max_length=300)
    area_id: str
    area_path: tuple[str, ...]
    category: VenueCategory
    privileged: bool = False
    default_stay_minutes: int = Field(gt=0)
    max_stay_minutes: int = Field(gt=0)
    owner_phone: str
    staff_phones: tuple[str, ...] = ()
    active: bool = True
    updated_at: Timestamp = Field(default_factory=utcnow)

    @field_validator("owner_phone")
    @classmethod
    def _owner_phone(cls, value: str) -> str:
        return normalise_phone(value)

    @field_validator("staff_phones")
    @classmethod
    def _staff_phones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(normalise_phone(p) for p in value)

    @model_validator(mode="after")
    def _stays(self) -> "Venue":
        if self.default_stay_minutes > self.max_stay_minutes:
            raise ValueError("the default stay cannot exceed the maximum stay")
        if not self.area_path or self.area_path[-1] != self.area_id:
            raise ValueError("area_path must end with area_id")
        return self


class Person(Record):
    """A registered person, as the pipeline sees them: an id and a home area, no
    personal data. The personal data lives in `PersonalData` on its own topic."""

    person_id: str = Field(pattern=id_pattern(PERSON))
    home_area_id: str | None = None
    active: bool = True
    updated_at: Timestamp = Field(default_factory=utcnow)


class PersonalData(Record):
    """Name, phone and ID number of a person. Read only by the tracing role; masked for
    everyone else; never logged."""

    person_id: str = Field(pattern=id_pattern(PERSON))
    full_name: str = Field(min_length=1, max_length=200)
    phone: str | None = None
    id_number: str | None = Field(None, pattern=r"^[0-9]{9}$|^[0-9]{12}$")
    birth_year: int | None = Field(None, ge=1900, le=2100)
    updated_at: Timestamp = Field(default_factory=utcnow)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalise_phone(value)

    def __repr__(self) -> str:  # keep personal data out of tracebacks and logs
        return f"PersonalData(person_id={self.person_id!r}, <masked>)"

    __str__ = __repr__


class DeviceKind(StrEnum):
    guard_phone = "guard_phone"
    reader_station = "reader_station"


class GateMode(StrEnum):
    entry = "entry"
    exit = "exit"
    auto = "auto"


class Device(Record):
    """A guard's phone or a reader station, bound to one venue. The token it presents
    to the gateway is stored only as a SHA-256 hash."""

    device_id: str = Field(pattern=id_pattern(DEVICE))
    venue_id: str = Field(pattern=id_pattern(VENUE))
    kind: DeviceKind
    mode: GateMode = GateMode.auto
    phone: str | None = None
    label: str = Field("", max_length=100)
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    active: bool = True
    updated_at: Timestamp = Field(default_factory=utcnow)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalise_phone(value)
