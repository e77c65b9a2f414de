"""ECDSA over NIST P-256 with SHA-256: the verification of a phone's signature.

A browser signs with WebCrypto (`{name: "ECDSA", hash: "SHA-256"}` on a `P-256` key): the
public key is exported raw (65 bytes, ``04 || x || y``) and a signature is ``r || s``,
32 bytes each (IEEE P1363, not DER).

The `cryptography` package is the right home for this and is used when it is installed;
it is not in this environment yet, so verification falls back to the curve arithmetic
below (FIPS 186-4 §6.4, SEC 1 §4.1.4). Only verification is done here, on public inputs
(key, message, signature): nothing secret passes through it, so its timing reveals
nothing. The tests check it against OpenSSL's own signatures and keys.
"""

from __future__ import annotations

import hashlib
import secrets

# The curve y² = x³ - 3x + b over GF(p), with a base point G of prime order n (cofactor 1).
P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
     0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)

RAW_KEY_BYTES = 65
SIGNATURE_BYTES = 64


class BadKey(ValueError):
    """Not a P-256 public key in raw uncompressed form."""


def parse_public_key(raw: bytes) -> tuple[int, int]:
    """The point of a raw public key; BadKey unless it is a point of the curve."""
    if len(raw) != RAW_KEY_BYTES or raw[0] != 4:
        raise BadKey("a public key is 65 bytes: 04, then x and y (WebCrypto's raw export of a P-256 key)")
    x, y = int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:], "big")
    if not (0 <= x < P and 0 <= y < P) or (y * y - (x * x * x - 3 * x + B)) % P:
        raise BadKey("the public key is not a point of the P-256 curve")
    return x, y


# --- points in Jacobian coordinates (X, Y, Z): x = X/Z², y = Y/Z³; Z = 0 is infinity --------
INFINITY = (1, 1, 0)


def _double(point: tuple[int, int, int]) -> tuple[int, int, int]:
    x, y, z = point
    if z == 0 or y == 0:
        return INFINITY
    yy = y * y % P
    s = 4 * x * yy % P
    zz = z * z % P
    m = 3 * (x - zz) * (x + zz) % P  # a = -3
    x3 = (m * m - 2 * s) % P
    return x3, (m * (s - x3) - 8 * yy * yy) % P, 2 * y * z % P


def _add(p1: tuple[int, int, int], p2: tuple[int, int, int]) -> tuple[int, int, int]:
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    if z1 == 0:
        return p2
    if z2 == 0:
        return p1
    z1z1, z2z2 = z1 * z1 % P, z2 * z2 % P
    u1, u2 = x1 * z2z2 % P, x2 * z1z1 % P
    s1, s2 = y1 * z2 * z2z2 % P, y2 * z1 * z1z1 % P
    if u1 == u2:
        return _double(p1) if s1 == s2 else INFINITY
    h, r = (u2 - u1) % P, (s2 - s1) % P
    hh = h * h % P
    hhh = h * hh % P
    v = u1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    return x3, (r * (v - x3) - s1 * hhh) % P, h * z1 * z2 % P


def _combine(u1: int, u2: int, q: tuple[int, int]) -> tuple[int, int, int]:
    """u1·G + u2·Q, both at once (Shamir's trick)."""
    g, qq = (G[0], G[1], 1), (q[0], q[1], 1)
    both = _add(g, qq)
    result = INFINITY
    for bit in range(max(u1.bit_length(), u2.bit_length()) - 1, -1, -1):
        result = _double(result)
        pick = ((u1 >> bit) & 1, (u2 >> bit) & 1)
        if pick == (1, 1):
            result = _add(result, both)
        elif pick == (1, 0):
            result = _add(result, g)
        elif pick == (0, 1):
            result = _add(result, qq)
    return result


def _verify_here(public_key: bytes, message: bytes, signature: bytes) -> bool:
    q = parse_public_key(public_key)
    if len(signature) != SIGNATURE_BYTES:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < N and 0 < s < N):
        return False
    e = int.from_bytes(hashlib.sha256(message).digest(), "big")  # 256 bits: no truncation for P-256
    w = pow(s, -1, N)
    x, _, z = _combine(e * w % N, r * w % N, q)
    if z == 0:
        return False
    return (x * pow(z * z, -1, P) % P) % N == r


def _affine(point: tuple[int, int, int]) -> tuple[int, int]:
    x, y, z = point
    inverse = pow(z, -1, P)
    return x * inverse * inverse % P, y * inverse * inverse * inverse % P


def _multiply(k: int, point: tuple[int, int]) -> tuple[int, int, int]:
    result, addend = INFINITY, (point[0], point[1], 1)
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _double(addend)
        k >>= 1
    return result


def simulated_public_key(secret: int) -> bytes:
    """The raw public key of ``secret``. For simulated phones (`producers.simulator`) only."""
    x, y = _affine(_multiply(secret, G))
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def simulated_signature(secret: int, message: bytes) -> bytes:
    """r || s by ``secret``. For simulated phones only: not constant-time, so never for a
    real key (a real phone signs in its browser, with WebCrypto)."""
    e = int.from_bytes(hashlib.sha256(message).digest(), "big")
    while True:
        k = secrets.randbelow(N - 1) + 1
        r = _affine(_multiply(k, G))[0] % N
        s = pow(k, -1, N) * (e + r * secret) % N
        if r and s:
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _verify_with_cryptography(public_key: bytes, message: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    parse_public_key(public_key)  # the same refusals, with the same messages
    if len(signature) != SIGNATURE_BYTES:
        return False
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


try:
    import cryptography  # noqa: F401

    verify = _verify_with_cryptography
except ImportError:  # not installed here yet: the arithmetic above
    verify = _verify_here

verify.__doc__ = """True if ``signature`` (r || s) is ``public_key``'s signature of ``message``;
BadKey if the key is not a P-256 point."""
