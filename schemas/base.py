"""What every record that crosses a process boundary has in common."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import ClassVar, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, StrictInt


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Record(BaseModel):
    """A versioned, immutable record serialised as JSON on Kafka.

    ``schema_version`` is written with every record; a reader refuses versions it does
    not know (the validator sends them to the dead-letter topic) instead of guessing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    SCHEMA_VERSION: ClassVar[int] = 1
    # Strict: "1", 1.0 or true is not a version this reader knows (it would guess).
    schema_version: StrictInt = 1

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Self:
        return cls.model_validate_json(data)


Timestamp = AwareDatetime
