"""A self check-in is signed by the person's enrolled phone: what is signed, and the check.

A printed card is a photograph away from anyone: its code alone checks nobody in by
themselves (it is for attended scans, by a guard or a station). The check-in page holds a
P-256 key that cannot leave the browser (WebCrypto, non-extractable, in IndexedDB), made
when the phone was enrolled (`schemas.enrolment`), and signs every check-in with it.

What is signed: these lines, joined by ``\\n``, in UTF-8 (times in whole milliseconds since
1970 UTC, as JavaScript's ``Date.getTime()``; an absent scan time is the empty line)::

    ravao-checkin/1
    <person id>
    <venue id>
    <event id, lower-case>
    <direction: in, out or auto>
    <scanned_at>
    <sent_at>

Why the signed times let the gateway take a queued check-in's time further than the few
minutes of RAVAO_GATEWAY_SELF_CLOCK_SKEW_SECONDS: an unsigned check-in could come from
anyone holding the code, so its time was only believed close to its arrival. A signed one
comes from the enrolled phone alone, so it is that phone's word, like a guard phone's or a
station's: its scan time is taken within the worker's own window (RAVAO_ACCEPTED_LATENESS_HOURS
back, RAVAO_FUTURE_TOLERANCE_MINUTES ahead, the rule the worker applies again at arrival),
never before the key was enrolled. ``sent_at`` must be within the clock skew of arrival:
it proves the phone's clock is right now (the page corrects it from the gateway's Date
header when it is not) and keeps a captured request from being replayed later; within
that skew a replay repeats the same event id, which the pipeline counts once.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from uuid import UUID

from schemas.enrolment import unb64url

from .directory import EnrolledKey
from .p256 import BadKey, verify

PREFIX = "ravao-checkin/1"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Why a self check-in's phone is refused (ScanAnswer.reason); the page offers enrolment.
ENROLMENT_REQUIRED = "enrolment_required"  # no phone enrolled for this person, or nothing signed
NOT_ENROLLED_PHONE = "phone_not_enrolled"  # signed by a key that is not the person's current one
BAD_PHONE_SIGNATURE = "bad_phone_signature"  # the current key's id, but not its signature
PHONE_REASONS = (ENROLMENT_REQUIRED, NOT_ENROLLED_PHONE, BAD_PHONE_SIGNATURE)


def millis(at: datetime | None) -> str:
    return "" if at is None else str((at - EPOCH) // timedelta(milliseconds=1))


def signed_bytes(person_id: str, venue_id: str, event_id: UUID, direction: str, scanned_at: datetime | None,
                 sent_at: datetime | None) -> bytes:
    return "\n".join((PREFIX, person_id, venue_id, str(event_id), direction, millis(scanned_at),
                      millis(sent_at))).encode()


def phone_refusal(person_id: str, venue_id: str, event_id: UUID, direction: str, scanned_at: datetime | None,
                  sent_at: datetime | None, key_id: str | None, signature: str | None,
                  enrolled: Callable[[str], EnrolledKey | None]) -> tuple[str, str] | None:
    """(reason, message) if the check-in is not signed by the person's enrolled phone; None if it is."""
    message = signed_bytes(person_id, venue_id, event_id, direction, scanned_at, sent_at)
    return key_refusal(person_id, message, key_id, signature, sent_at, enrolled)


def key_refusal(person_id: str, message: bytes, key_id: str | None, signature: str | None,
                sent_at: datetime | None, enrolled: Callable[[str], EnrolledKey | None]) -> tuple[str, str] | None:
    """(reason, message) if ``message`` is not signed by the person's enrolled phone; None if
    it is. A self check-in's lines, or a health declaration's (`declarations.signed_bytes`)."""
    current = enrolled(person_id)
    if not key_id or not signature or sent_at is None:
        return ENROLMENT_REQUIRED, ("a self check-in is signed by the phone enrolled for this code: enrol this "
                                    "phone on the check-in page (a printed card alone is scanned by a guard)")
    if current is None:
        return ENROLMENT_REQUIRED, ("no phone is enrolled for this code: enrol this phone on the check-in page "
                                    "(a code is sent to the phone number on record, or a guard gives one)")
    if key_id != current.key_id:
        return NOT_ENROLLED_PHONE, ("this is not the phone enrolled for this code (another phone was enrolled "
                                    "since): enrol this phone again to check in with it")
    try:
        raw = unb64url(signature)
        good = verify(current.public_key, message, raw)
    except (ValueError, binascii.Error, BadKey):
        good = False
    if not good:
        return BAD_PHONE_SIGNATURE, ("the signature is not the enrolled phone's: reload the check-in page, or "
                                     "enrol this phone again")
    return None
