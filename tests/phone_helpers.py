"""A person's phone as the gateway meets it: a P-256 key made and used by OpenSSL (an
implementation of its own, not the gateway's), enrolment through the real API, and
check-ins signed as the check-in page signs them."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx

from producers.gateway.phone import signed_bytes
from schemas.enrolment import b64url


def der_to_raw(der: bytes) -> bytes:
    """An ECDSA signature in DER (OpenSSL's) as r || s (WebCrypto's)."""
    assert der[0] == 0x30
    at, parts = 2, []
    for _ in range(2):
        assert der[at] == 0x02
        length = der[at + 1]
        parts.append(int.from_bytes(der[at + 2: at + 2 + length], "big"))
        at += 2 + length
    return b"".join(p.to_bytes(32, "big") for p in parts)


class Phone:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.key = folder / f"{uuid.uuid4().hex}.pem"
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(self.key)],
                       check=True, capture_output=True)
        spki = subprocess.run(["openssl", "ec", "-in", str(self.key), "-pubout", "-outform", "DER"],
                              check=True, capture_output=True).stdout
        self.public_raw = spki[-65:]
        self.key_id: str | None = None

    @property
    def public_key(self) -> str:
        return b64url(self.public_raw)

    def sign(self, message: bytes) -> str:
        der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)], input=message,
                             check=True, capture_output=True).stdout
        return b64url(der_to_raw(der))

    def checkin(self, person_id: str, person_code: str, venue_id: str, venue_code: str, direction: str = "in",
                scanned_at: datetime | None = None, sent_at: datetime | None = None,
                key_id: str | None = None) -> dict:
        """A check-in as the page sends it: times in whole milliseconds, signed."""
        event_id = uuid.uuid4()
        sent_at = sent_at or datetime.now(timezone.utc)
        sent_at = sent_at.replace(microsecond=sent_at.microsecond // 1000 * 1000)
        if scanned_at is not None:
            scanned_at = scanned_at.replace(microsecond=scanned_at.microsecond // 1000 * 1000)
        body = {"event_id": str(event_id), "venue_qr": venue_code, "person_qr": person_code, "direction": direction,
                "sent_at": sent_at.isoformat(), "key_id": key_id or self.key_id,
                "signature": self.sign(signed_bytes(person_id, venue_id, event_id, direction, scanned_at, sent_at))}
        if scanned_at is not None:
            body["scanned_at"] = scanned_at.isoformat()
        return body


def attended_code(http: httpx.Client, guard_bearer: dict[str, str], person_code: str) -> str:
    """A guard checked the card against an ID: the code the gateway gives for the person."""
    response = http.post("/api/v1/enrolment/attended", json={"person_qr": person_code, "id_checked": True},
                         headers=guard_bearer)
    assert response.status_code == 200, response.text
    return response.json()["code"]


def enrol(http: httpx.Client, phone: Phone, person_code: str, code: str, **headers: str) -> dict:
    response = http.post("/api/v1/enrolment", json={"person_qr": person_code, "code": code,
                                                    "public_key": phone.public_key}, headers=headers)
    assert response.status_code == 200, response.text
    phone.key_id = response.json()["key_id"]
    return response.json()


def enrol_with_a_guard(http: httpx.Client, guard_bearer: dict[str, str], phone: Phone, person_code: str) -> dict:
    return enrol(http, phone, person_code, attended_code(http, guard_bearer, person_code))


def sms_code(log: Path, masked_phone: str, after: int = 0, timeout: float = 30) -> str:
    """The newest enrolment code the console SMS sender wrote to the gateway's log (beyond
    ``after`` bytes of it)."""
    pattern = re.compile(rf"SMS to {re.escape(masked_phone)}: \D*(\d{{6}})")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pattern.findall(log.read_bytes()[after:].decode(errors="replace"))
        if found:
            return found[-1]
        time.sleep(0.2)
    raise AssertionError(f"no SMS code in {log}")
