"""People's accounts (`accounts`, compacted, keyed by phone): a role given by
`ravao user add`, beyond the venue accounts the registry already gives (a venue's owner
phone and staff phones are accounts with nothing else to do).

One record per phone, the newest wins; ``active = false`` disables the phone entirely,
its venue grants included, and ends its sessions.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from pipeline.access.caller import Grant, Role

from .base import Record, Timestamp, utcnow
from .ids import VENUE, id_pattern
from .registry import normalise_phone


class Account(Record):
    phone: str
    role: Role
    venue_id: str | None = Field(None, pattern=id_pattern(VENUE), description="venue_staff, venue_owner")
    area_id: str | None = Field(None, pattern=r"^[0-9]{2,6}$", description="area_officer")
    active: bool = True
    added_by: str = Field(min_length=1, max_length=100, description="the actor who wrote this record")
    updated_at: Timestamp = Field(default_factory=utcnow)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalise_phone(value)

    @model_validator(mode="after")
    def _scope_fits_the_role(self) -> "Account":
        self.grant()  # raises ValueError saying what the role needs
        return self

    def grant(self) -> Grant:
        return Grant(self.role, venue_id=self.venue_id, area_id=self.area_id)

    def __repr__(self) -> str:  # keep the phone out of tracebacks and logs
        return f"Account(<masked>, role={self.role.value!r}, active={self.active!r})"

    __str__ = __repr__
