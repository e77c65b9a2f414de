"""The gateway's P-256 verification against OpenSSL's keys and signatures."""

from __future__ import annotations

from pathlib import Path

import pytest

from phone_helpers import Phone
from producers.gateway.p256 import N, BadKey, parse_public_key, verify
from schemas.enrolment import unb64url


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory) -> Phone:
    return Phone(tmp_path_factory.mktemp("keys"))


def test_an_openssl_signature_verifies_and_any_change_does_not(phone: Phone, tmp_path: Path) -> None:
    message = b"ravao-checkin/1\nPEXBBBBBBBBBBBB\nVEXBBBBBBBBBBBB"
    for _ in range(5):  # random nonces: several signatures of one message
        signature = unb64url(phone.sign(message))
        assert verify(phone.public_raw, message, signature)
        assert not verify(phone.public_raw, message + b"x", signature)
        flipped = bytes([signature[0] ^ 1]) + signature[1:]
        assert not verify(phone.public_raw, message, flipped)
    other = Phone(tmp_path)
    assert not verify(other.public_raw, message, unb64url(phone.sign(message)))


def test_signatures_outside_the_group_order_and_of_the_wrong_length_are_refused(phone: Phone) -> None:
    signature = unb64url(phone.sign(b"m"))
    r = signature[:32]
    assert not verify(phone.public_raw, b"m", r + N.to_bytes(32, "big"))
    assert not verify(phone.public_raw, b"m", bytes(32) + signature[32:])
    assert not verify(phone.public_raw, b"m", signature[:-1])


@pytest.mark.parametrize("raw, why", [(b"\x04" + bytes(64), "not a point"), (b"\x02" + bytes(32), "65 bytes"),
                                      (b"", "65 bytes")])
def test_a_public_key_that_is_not_a_curve_point_is_refused(raw: bytes, why: str) -> None:
    with pytest.raises(BadKey, match=why):
        parse_public_key(raw)
