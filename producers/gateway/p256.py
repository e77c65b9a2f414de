"""ECDSA over NIST P-256 with SHA-256: the verification of a phone's signature, by the
`cryptography` package.

A browser signs with WebCrypto (`{name: "ECDSA", hash: "SHA-256"}` on a `P-256` key): the
public key is exported raw (65 bytes, ``04 || x || y``) and a signature is ``r || s``,
32 bytes each (IEEE P1363, not DER).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # the order of the curve's group
RAW_KEY_BYTES = 65
SIGNATURE_BYTES = 64


class BadKey(ValueError):
    """Not a P-256 public key in raw uncompressed form."""


def parse_public_key(raw: bytes) -> ec.EllipticCurvePublicKey:
    """The key of a raw public key; BadKey unless it is a point of the curve."""
    if len(raw) != RAW_KEY_BYTES or raw[0] != 4:
        raise BadKey("a public key is 65 bytes: 04, then x and y (WebCrypto's raw export of a P-256 key)")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise BadKey("the public key is not a point of the P-256 curve") from None


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True if ``signature`` (r || s) is ``public_key``'s signature of ``message``; BadKey
    if the key is not a P-256 point."""
    key = parse_public_key(public_key)
    if len(signature) != SIGNATURE_BYTES:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < N and 0 < s < N):
        return False
    try:
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def simulated_public_key(secret: int) -> bytes:
    """The raw public key of ``secret``. For simulated phones (`producers.simulator`) only:
    a real phone's key never leaves its browser."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return ec.derive_private_key(secret, ec.SECP256R1()).public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint)


def simulated_signature(secret: int, message: bytes) -> bytes:
    """r || s by ``secret``. For simulated phones only (a real phone signs in its browser,
    with WebCrypto)."""
    der = ec.derive_private_key(secret, ec.SECP256R1()).sign(message, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")
