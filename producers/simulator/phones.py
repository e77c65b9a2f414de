"""Simulated people's enrolled phones, for traffic sent through the gateway.

A self check-in counts only when the person's enrolled phone signed it
(`producers.gateway.phone`). A simulated person who checks in by themselves has a phone
whose key is derived from their id (a made-up phone, never a real key), enrolled long
before any simulated day: `publish_registry` publishes the enrolments, `GatewayTarget`
signs each check-in as the check-in page would.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from functools import lru_cache

from producers.gateway.p256 import N, simulated_public_key, simulated_signature
from producers.gateway.phone import signed_bytes
from schemas.enrolment import ConfirmedBy, PhoneEnrolment, b64url, key_id

from .scanning import SentScan

ENROLLED_AT = datetime(2020, 1, 1, tzinfo=timezone.utc)  # before any simulated day


def _secret(person_id: str) -> int:
    return int.from_bytes(hashlib.sha256(b"ravao-simulated-phone|" + person_id.encode()).digest(), "big") % (N - 1) + 1


@lru_cache(maxsize=100_000)
def public_key(person_id: str) -> bytes:
    return simulated_public_key(_secret(person_id))


def enrolment(person_id: str) -> PhoneEnrolment:
    raw = public_key(person_id)
    return PhoneEnrolment(person_id=person_id, public_key=b64url(raw), key_id=key_id(raw), enrolled_at=ENROLLED_AT,
                          confirmed_by=ConfirmedBy.sms)


def signed_checkin(scan: SentScan, sent_at: datetime) -> dict:
    """The JSON of a self check-in, signed by the person's simulated phone. A forged code's
    check-in names its claimed person: the gateway refuses the code before the signature."""
    sent_at = sent_at.replace(microsecond=sent_at.microsecond // 1000 * 1000)
    scanned_at = scan.scanned_at.replace(microsecond=scan.scanned_at.microsecond // 1000 * 1000)
    message = signed_bytes(scan.person_id, scan.venue_id, scan.event_id, scan.direction.value, scanned_at, sent_at)
    return {"event_id": str(scan.event_id), "venue_qr": scan.venue_qr, "person_qr": scan.person_qr,
            "direction": scan.direction.value, "scanned_at": scanned_at.isoformat(), "sent_at": sent_at.isoformat(),
            "key_id": key_id(public_key(scan.person_id)),
            "signature": b64url(simulated_signature(_secret(scan.person_id), message))}
