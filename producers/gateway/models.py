"""What the gateway's API takes and answers. These models are the OpenAPI schema at /openapi.json.

A device sends the codes it read; the gateway adds who sent them (the authenticated
device) and publishes a `schemas.scans.RawScan`. Every answer tells the scanning screen
what to show.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from schemas.declarations import DeclarationStatus, Symptom
from schemas.scans import Direction

MAX_BATCH = 500
MAX_CODE_CHARS = 512  # as RawScan: a code or a poster URL


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _text_only(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not RFC3339.match(value):
        raise ValueError("a time is an RFC 3339 text with a zone, e.g. 2026-01-02T07:30:00+07:00")
    return value


# As documented: an RFC 3339 text with a zone (pydantic alone would also take seconds since 1970).
Time = Annotated[AwareDatetime, BeforeValidator(_text_only)]


class Strict(BaseModel):
    # Texts are kept as sent: the codec ignores the spaces around a code (and says "empty"
    # for nothing but spaces), so that the OpenAPI's minLength means what it says.
    model_config = ConfigDict(extra="forbid")


class ScanIn(Strict):
    """One scan by a guard phone or a reader station (the device is the one authenticated)."""

    event_id: UUID = Field(description="Made by the device, once per scan; a resend keeps it, so the "
                           "pipeline counts the scan once")
    person_qr: str = Field(min_length=1, max_length=MAX_CODE_CHARS, description="The personal code as read")
    venue_qr: str | None = Field(None, max_length=MAX_CODE_CHARS,
                                 description="A venue code, if the device read one; it must be its own venue's")
    direction: Direction = Field(Direction.auto, description="in, out, or auto (the device's mode decides; "
                                 "a device in auto mode leaves it to the pipeline)")
    scanned_at: Time | None = Field(None, description="The device clock at the scan, with a zone; "
                                             "default: when the gateway received it")
    sent_at: Time | None = Field(None, description="The device clock when sent (to measure skew)")


class BatchIn(Strict):
    scans: list[ScanIn] = Field(min_length=1, max_length=MAX_BATCH,
                                description=f"1 to {MAX_BATCH} scans, in the order they were read")


class SelfCheckIn(Strict):
    """A person checking in or out at a venue with their own phone (the poster's page),
    signed by the phone enrolled for the person's code."""

    event_id: UUID = Field(description="Made by the page, once per tap; a resend keeps it")
    venue_qr: str = Field(min_length=1, max_length=MAX_CODE_CHARS, description="The venue code (or poster URL)")
    person_qr: str = Field(min_length=1, max_length=MAX_CODE_CHARS, description="The person's own code")
    direction: Direction = Field(description="in or out (the button tapped); auto toggles")
    scanned_at: Time | None = Field(None, description="The phone's clock at the tap (a check-in kept while "
                                    "offline: when it was tapped); default: when received. Taken back to "
                                    "RAVAO_ACCEPTED_LATENESS_HOURS, never before the phone was enrolled")
    sent_at: Time | None = Field(None, description="The phone's clock when sent; further from the arrival than "
                                 "RAVAO_GATEWAY_SELF_CLOCK_SKEW_SECONDS: refused (too_late, future_scan). Required "
                                 "(signed)")
    key_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{22}$",
                               description="The enrolled phone's key id, as the enrolment answered. Required")
    signature: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{86}$",
                                  description="ECDSA P-256 / SHA-256 signature (r || s, base64url) by the enrolled "
                                  "phone's key of the check-in's signed lines (`producers.gateway.phone`). "
                                  "Without it: refused (enrolment_required)")


class EnrolCodeIn(Strict):
    """Send a phone-enrolment code to the phone number on record for this personal code."""

    person_qr: str = Field(min_length=1, max_length=MAX_CODE_CHARS, description="The person's own code")


class EnrolCodeAnswer(BaseModel):
    sent_to: str = Field(description="the phone number on record, masked (098****791)")
    expires_in_seconds: int


class EnrolIn(Strict):
    """Enrol this phone: the one-time code (by SMS, or read out by a guard) and the public key
    of a key pair the page made and cannot export."""

    person_qr: str = Field(min_length=1, max_length=MAX_CODE_CHARS, description="The person's own code")
    code: str = Field(pattern=r"^\s*[0-9]{6}\s*$", description="The six-digit one-time code")
    public_key: str = Field(pattern=r"^[A-Za-z0-9_-]{87}$",
                            description="ECDSA P-256 public key, raw (65 bytes: 04 || x || y), base64url")


class EnrolAnswer(BaseModel):
    person_id: str = Field(description="the id in the personal code: the first of a check-in's signed lines")
    key_id: str = Field(description="name it in every signed check-in")
    enrolled_at: datetime
    confirmed_by: str = Field(description="sms or guard")


class AttendedEnrolIn(Strict):
    """A guard checked the person's card against an ID: give the person an enrolment code."""

    person_qr: str = Field(min_length=1, max_length=MAX_CODE_CHARS, description="The personal code as read")
    id_checked: Literal[True] = Field(description="true: the guard compared the card with the person's ID "
                                      "document (nothing else is taken)")


class AttendedEnrolAnswer(BaseModel):
    code: str = Field(description="show it to the person (or read it out); they type it on their own phone")
    expires_in_seconds: int
    name: str | None = Field(None, description="the card's name to compare with the ID, masked (in full at "
                             "privileged venues)")


class CodeCheckIn(Strict):
    code: str = Field(min_length=1, max_length=MAX_CODE_CHARS)
    expect: str | None = Field(None, pattern="^[PV]$", description="P: a personal code is expected; V: a venue code")


class Status(StrEnum):
    accepted = "accepted"  # published and acknowledged by Kafka; the pipeline validates it
    refused = "refused"  # refused here (the code is not genuine or not readable); not published


class ScanAnswer(BaseModel):
    """What the scanning screen shows for one scan."""

    event_id: UUID
    status: Status
    show: str = Field(description="ok (green) or refused (red)")
    direction: Direction | None = Field(None, description="what was recorded: in, out, or auto (the pipeline "
                                        "decides from the person's last scan)")
    name: str | None = Field(None, description="the person's name, masked (in full at privileged venues); "
                             "staff and station scans only, when known")
    reason: str | None = Field(None, description="why it was refused, for good: a QR code error (truncated, "
                               "bad_check, bad_signature, lowercase, keyboard_layout, wrong_kind, ...), "
                               "device_not_authorised (another venue's code), too_late or future_scan (the scan "
                               "time is outside the accepted window); a self check-in: enrolment_required, "
                               "phone_not_enrolled or bad_phone_signature (not signed by the phone enrolled for "
                               "the code: enrol this phone)")
    message: str | None = Field(None, description="the reason for a human, in English")
    declaration: DeclarationStatus | None = Field(None, description="accepted scans: the person's health "
                                                  "declaration status at the scan time (none, ok, exposed, "
                                                  "symptoms), never the answers")
    declaration_colour: str | None = Field(None, description="what the screen shows it in: grey (none), green "
                                           "(ok), amber (exposed), red (symptoms)")


class DeclarationIn(Strict):
    """A health declaration (khai báo y tế): by the person from the check-in page, signed by
    their enrolled phone (key_id, signature, sent_at); or by a guard on the person's behalf
    (a device token or guard session, no signature) right after scanning their code."""

    declaration_id: UUID = Field(description="Made by the page, once per declaration; a resend keeps it")
    person_qr: str = Field(min_length=1, max_length=MAX_CODE_CHARS, description="The person's own code")
    declared_on: date = Field(description="The day it is for (the person's local day): today, give or take one")
    symptoms: list[Symptom] = Field(default_factory=list, max_length=len(Symptom),
                                    description="Ticked from the fixed list (none: an empty list)")
    contact_with_case: bool = Field(False, description="Close contact with a case")
    travel: str = Field("", max_length=200, description="Where the person came from, in their words (\"\": "
                        "no travel)")
    sent_at: Time | None = Field(None, description="Self: the phone's clock when sent; further from the arrival "
                                 "than RAVAO_GATEWAY_SELF_CLOCK_SKEW_SECONDS: refused (too_late, future_scan)")
    key_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{22}$",
                               description="Self: the enrolled phone's key id")
    signature: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{86}$",
                                  description="Self: ECDSA P-256 / SHA-256 signature (r || s, base64url) by the "
                                  "enrolled phone's key of the declaration's signed lines "
                                  "(`producers.gateway.declarations`). Without it, the request needs a guard's "
                                  "device token or session")


class DeclarationAnswer(BaseModel):
    declaration_id: UUID
    declared_by: str = Field(description="self (the person's phone) or guard")
    status: DeclarationStatus = Field(description="the person's status from now on: ok, exposed or symptoms")
    colour: str = Field(description="green, amber or red")


class BatchAnswer(BaseModel):
    accepted: int
    refused: int
    results: list[ScanAnswer] = Field(description="one per scan, in the order sent")


class DeviceAnswer(BaseModel):
    device_id: str
    kind: str
    mode: str = Field(description="entry, exit or auto")
    venue_id: str
    venue_name: str | None
    privileged: bool


class CodeAnswer(BaseModel):
    valid: bool
    kind: str | None = None
    reason: str | None = None
    message: str | None = None


class Health(BaseModel):
    ready: bool
    registry_loaded: bool
    kafka: str = Field(description="ok, starting, or failed (restart the gateway)")
    kafka_last_error: str | None = Field(None, description="the producer's last error, if any (it retries)")
    venues: int
    devices: int


class ErrorBody(BaseModel):
    """Every error the gateway answers has this body."""

    error: str = Field(description="machine-readable: malformed_json, invalid_request, body_too_large, body_timeout, "
                       "missing_credentials, unknown_device, bad_token, device_inactive, rate_limited, "
                       "no_phone_on_record, phone_on_record, wrong_code, code_expired, code_used, not_staff, not_a_guard, "
                       "not_signed_in, enrolment_required, phone_not_enrolled, bad_phone_signature, "
                       "not_scanned_here, device_not_authorised, too_late, future_scan, not_today, "
                       "bad_public_key, sms_unavailable, venue_required, a code's reason (bad_check, ...), "
                       "kafka_unavailable, not_ready, not_found, method_not_allowed, internal_error")
    message: str = Field(description="what happened and what to do, in English")
    retry_after: float | None = Field(None, description="seconds; also in the Retry-After header")
    details: list[dict] | None = None


def received(value: datetime | None, now: datetime) -> datetime:
    return value if value is not None else now
