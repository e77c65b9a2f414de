"""The gateway's P-256 verification against OpenSSL's keys and signatures."""

from __future__ import annotations

import subprocess
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


SPKI_P256_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")


def raw_to_der(signature: bytes) -> bytes:
    def integer(value: bytes) -> bytes:
        value = value.lstrip(b"\0") or b"\0"
        if value[0] & 0x80:
            value = b"\0" + value
        return b"\x02" + bytes([len(value)]) + value

    body = integer(signature[:32]) + integer(signature[32:])
    return b"\x30" + bytes([len(body)]) + body


def test_a_simulated_phones_signature_verifies_with_openssl(tmp_path: Path) -> None:
    from producers.gateway.p256 import simulated_public_key, simulated_signature

    (tmp_path / "pub.der").write_bytes(SPKI_P256_PREFIX + simulated_public_key(987654321))
    (tmp_path / "message").write_bytes(b"ravao-checkin/1\nP")
    (tmp_path / "sig.der").write_bytes(raw_to_der(simulated_signature(987654321, b"ravao-checkin/1\nP")))
    checked = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "pub.der"), "-keyform", "DER",
                              "-signature", str(tmp_path / "sig.der"), str(tmp_path / "message")],
                             capture_output=True, text=True)
    assert checked.returncode == 0 and "Verified OK" in checked.stdout, checked.stdout + checked.stderr
