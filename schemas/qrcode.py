"""The signed QR payload codec.

Compact form (what a personal card encodes, and what a USB reader types)::

    RV B KB P<14 symbols> <15-symbol signature> <check>
    |  | |  `-- the id: kind letter (P person, V venue) + 14 symbols
    |  | `----- key id: two symbols, so keys can rotate
    |  `------- format version (B is version 1)
    `---------- magic: marks the text as a ravao code

36 symbols, all from `schemas.ids.ALPHABET`. The signature is HMAC-SHA256 over the
text before it, truncated to 64 bits. The last symbol is a Luhn mod 20 check over
everything before it: a garbled or truncated read is told apart from a forged code.
A venue poster encodes ``<public_url>/s/<compact form>``, which opens the web scanner.
People may type a code by hand from the card, grouped in fours: spaces are ignored.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from .ids import ALPHABET, ID_LENGTH, INDEX, KINDS, PERSON, VENUE, encode_int, luhn_check_symbol

MAGIC = "RV"
VERSION = "B"
KEY_ID_LENGTH = 2
SIGNATURE_LENGTH = 15  # 20**15 > 2**64: the 64-bit truncated HMAC fits exactly
SIGNATURE_BYTES = 8
HEADER_LENGTH = len(MAGIC) + len(VERSION) + KEY_ID_LENGTH
CODE_LENGTH = HEADER_LENGTH + ID_LENGTH + SIGNATURE_LENGTH + 1
URL_MARKER = "/s/"
VERIFIED_CACHE_SIZE = 100_000

# What a reader set to another layout types when it means our letters (shift held):
# the US key of each letter -> the character that layout produces.
LAYOUTS: dict[str, dict[str, str]] = {
    "Dvorak": dict(zip("BCDEFGHIJKLNOPRSTUVX", "XJE>UIDCHTNBRLPOYGKQ")),
    "Russian (ЙЦУКЕН)": dict(zip("BCDEFGHIJKLNOPRSTUVX", "ИСВУАПРШОЛДТЩЗКЫЕГМЧ")),
}


class QrError(StrEnum):
    """Why a scanned text is not a valid code. Values are stable, machine-readable."""

    empty = "empty"
    not_ravao = "not_ravao"  # some other QR code (a payment code, a web link, ...)
    lowercase = "lowercase"  # reader or keyboard in caps-lock / lower-case mode
    keyboard_layout = "keyboard_layout"  # reader typing under a layout that moves keys
    bad_characters = "bad_characters"
    unknown_version = "unknown_version"
    truncated = "truncated"
    too_long = "too_long"
    bad_check = "bad_check"  # a symbol misread or mistyped
    wrong_kind = "wrong_kind"  # a venue code where a personal code was expected, ...
    unknown_key = "unknown_key"  # signed by a key that is not (or no longer) active
    bad_signature = "bad_signature"  # altered or forged


class InvalidCode(ValueError):
    def __init__(self, reason: QrError, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class DecodedCode:
    kind: str  # "P" or "V"
    entity_id: str
    key_id: str
    text: str  # the canonical compact form


class QrCodec:
    """Signs and checks codes with a set of active keys, one of which signs new codes."""

    def __init__(self, keys: dict[str, bytes], signing_key_id: str | None = None) -> None:
        if not keys:
            raise ValueError("at least one QR key is needed")
        for key_id, secret in keys.items():
            if len(key_id) != KEY_ID_LENGTH or any(c not in INDEX for c in key_id):
                raise ValueError(
                    f"QR key id {key_id!r} must be {KEY_ID_LENGTH} letters of {ALPHABET}"
                )
            if len(secret) < 16:
                raise ValueError(f"QR key {key_id}: the secret must be at least 16 bytes")
        self._keys = dict(keys)
        # A keyed HMAC per key, copied for each code: cheaper than keying it every time.
        self._macs = {key_id: hmac.new(secret, b"ravao-qr|", hashlib.sha256) for key_id, secret in keys.items()}
        # Codes already verified, by text: a person's card and a venue's poster are read
        # again and again. Only genuine codes go in; it is bounded and per codec (per key set).
        self._verified: dict[str, DecodedCode] = {}
        self.signing_key_id = signing_key_id or list(keys)[-1]
        if self.signing_key_id not in keys:
            raise ValueError(f"signing key {self.signing_key_id!r} is not among the active keys")

    def _signature(self, key_id: str, body: str) -> str:
        mac = self._macs[key_id].copy()
        mac.update(body.encode("ascii"))
        return encode_int(int.from_bytes(mac.digest()[:SIGNATURE_BYTES], "big"), SIGNATURE_LENGTH)

    def encode(self, entity_id: str, key_id: str | None = None) -> str:
        key_id = key_id or self.signing_key_id
        if entity_id[:1] not in (PERSON, VENUE) or len(entity_id) != ID_LENGTH or any(
            c not in INDEX for c in entity_id
        ):
            raise ValueError(f"{entity_id!r} is not a person or venue id")
        body = MAGIC + VERSION + key_id + entity_id
        signed = body + self._signature(key_id, body)
        return signed + luhn_check_symbol(signed)

    def venue_url(self, venue_id: str, public_url: str) -> str:
        return public_url.rstrip("/") + URL_MARKER + self.encode(venue_id)

    def decode(self, raw: str, expect: str | None = None) -> DecodedCode:
        """The decoded code, or `InvalidCode` with the reason. ``expect`` is ``"P"`` or
        ``"V"`` to refuse the other kind."""
        cached = self._verified.get(raw)
        if cached is not None and (expect is None or cached.kind == expect):
            return cached
        text = _strip(raw)
        reason = _shape_error(text)
        if reason is not None:
            layout = _guess_layout(text)
            if layout:
                raise InvalidCode(
                    QrError.keyboard_layout,
                    f"the reader typed this code under the {layout} keyboard layout; "
                    "set the reader (or the computer) to a US/QWERTY layout",
                )
            raise InvalidCode(*reason)
        if luhn_check_symbol(text[:-1]) != text[-1]:
            layout = _guess_layout(text)
            if layout:
                raise InvalidCode(
                    QrError.keyboard_layout,
                    f"the reader typed this code under the {layout} keyboard layout; "
                    "set the reader (or the computer) to a US/QWERTY layout",
                )
            raise InvalidCode(QrError.bad_check, "the code was misread: scan it again")
        key_id = text[len(MAGIC) + len(VERSION) : HEADER_LENGTH]
        entity_id = text[HEADER_LENGTH : HEADER_LENGTH + ID_LENGTH]
        kind = entity_id[0]
        if kind not in (PERSON, VENUE):
            raise InvalidCode(QrError.not_ravao, "this is not a venue or personal code")
        if expect and kind != expect:
            raise InvalidCode(
                QrError.wrong_kind,
                f"this is a {KINDS[kind]} code; a {KINDS.get(expect, expect)} code is expected here",
            )
        if key_id not in self._keys:
            raise InvalidCode(
                QrError.unknown_key, "this code was signed with a key that is no longer active"
            )
        body = text[: HEADER_LENGTH + ID_LENGTH]
        signature = text[HEADER_LENGTH + ID_LENGTH : -1]
        if not hmac.compare_digest(signature, self._signature(key_id, body)):
            raise InvalidCode(QrError.bad_signature, "the code's signature is wrong: it is not genuine")
        decoded = DecodedCode(kind=kind, entity_id=entity_id, key_id=key_id, text=text)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[raw] = decoded
        return decoded


def claimed_id(raw: str) -> str | None:
    """The id a well-formed code names, its signature not checked: to tell whose refused
    scans they are, never to trust it. None for text that is not shaped like a code."""
    text = _strip(raw)
    if _shape_error(text) is not None:
        return None
    return text[HEADER_LENGTH : HEADER_LENGTH + ID_LENGTH]


def display_form(code: str) -> str:
    """The code in groups of four, for printing under the QR."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def _strip(raw: str) -> str:
    text = raw.strip()
    marker = text.lower().rfind(URL_MARKER)
    if "://" in text and marker >= 0:
        text = text[marker + len(URL_MARKER) :].split("?")[0].split("#")[0]
    return text.replace(" ", "")


def _shape_error(text: str) -> tuple[QrError, str] | None:
    if not text:
        return QrError.empty, "nothing was read"
    if any(c not in INDEX for c in text):
        upper = text.upper()
        if upper != text and all(c in INDEX for c in upper) and upper.startswith(MAGIC):
            return QrError.lowercase, "the reader typed lower-case letters: turn Caps Lock off"
        if not text.upper().startswith(MAGIC[0]) and not text.isascii():
            return QrError.bad_characters, "the code has characters that no ravao code has"
        if not text.upper().startswith(MAGIC):
            return QrError.not_ravao, "this is not a ravao code"
        return QrError.bad_characters, "the code has characters that no ravao code has"
    if not text.startswith(MAGIC):
        return QrError.not_ravao, "this is not a ravao code"
    if len(text) > len(MAGIC) and text[len(MAGIC)] != VERSION:
        return QrError.unknown_version, f"code format {text[len(MAGIC)]!r} is not supported"
    if len(text) < CODE_LENGTH:
        return QrError.truncated, f"only {len(text)} of {CODE_LENGTH} characters were read"
    if len(text) > CODE_LENGTH:
        return QrError.too_long, f"{len(text)} characters read, a code has {CODE_LENGTH}"
    return None


def _guess_layout(text: str) -> str | None:
    """The layout under which a reader would have typed ``text`` for a well-formed code."""
    for name, table in LAYOUTS.items():
        back = {typed: us for us, typed in table.items()}
        restored = "".join(back.get(c, c) for c in text)
        if restored != text and _shape_error(restored) is None and (
            luhn_check_symbol(restored[:-1]) == restored[-1]
        ):
            return name
    return None
