"""A person's enrolled phone: the public key their check-ins are signed with.

One record per person on the compacted `registry.phone_enrolments` topic, keyed by the
person id: the newest is the person's current phone, so a new enrolment replaces the old
phone at every gateway that follows the topic. The record holds no personal data: no
phone number (the code was sent to the number on record, or read out by a guard), only
the public half of a key that never left the phone's browser.
"""

from __future__ import annotations

import base64
import hashlib
from enum import StrEnum

from pydantic import Field, field_validator

from .base import Record, Timestamp, utcnow
from .ids import DEVICE, PERSON, id_pattern

KEY_ID_CHARS = 22  # base64url of the first 128 bits of the key's SHA-256


class ConfirmedBy(StrEnum):
    sms = "sms"  # a one-time code sent by SMS to the phone number in the person's data
    guard = "guard"  # a guard checked the card against an ID and read a one-time code out


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """ValueError if ``text`` is not base64url (padding optional)."""
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def key_id(public_key: bytes) -> str:
    """The key's fingerprint, which a signed check-in names."""
    return b64url(hashlib.sha256(public_key).digest()[:16])


class PhoneEnrolment(Record):
    person_id: str = Field(pattern=id_pattern(PERSON))
    public_key: str = Field(description="P-256 public key, raw uncompressed point (65 bytes), base64url",
                            min_length=87, max_length=88)
    key_id: str = Field(description="base64url of the first 16 bytes of the raw key's SHA-256",
                        pattern=rf"^[A-Za-z0-9_-]{{{KEY_ID_CHARS}}}$")
    enrolled_at: Timestamp = Field(default_factory=utcnow)
    confirmed_by: ConfirmedBy
    guard_device_id: str | None = Field(None, pattern=id_pattern(DEVICE),
                                        description="the guard's device when a guard confirmed the card")

    @field_validator("key_id")
    @classmethod
    def _key_id_is_the_keys(cls, value: str, info) -> str:
        key = info.data.get("public_key")
        if key is not None and key_id(unb64url(key)) != value:
            raise ValueError("key_id is not the fingerprint of public_key")
        return value
