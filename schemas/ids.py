"""Identifiers and the alphabet they, and every QR payload, are written in.

The alphabet is the 20 upper-case Latin letters that sit on the same key in the QWERTY,
QWERTZ and AZERTY layouts: no A, Q, W, Z (swapped on AZERTY), no Y (swapped on QWERTZ),
no M (moved on AZERTY), and no digits (shifted on AZERTY). A keyboard-emulating USB
reader therefore types our codes correctly under any of those layouts.
"""

from __future__ import annotations

import secrets

ALPHABET = "BCDEFGHIJKLNOPRSTUVX"
BASE = len(ALPHABET)
INDEX = {c: i for i, c in enumerate(ALPHABET)}

PERSON = "P"
VENUE = "V"
DEVICE = "D"
CASE = "C"
KINDS = {PERSON: "person", VENUE: "venue", DEVICE: "device", CASE: "case"}

# 14 random symbols: 20**14 = 1.6e18, so ten million ids collide with odds of ~3e-5.
ID_BODY_LENGTH = 14
ID_LENGTH = 1 + ID_BODY_LENGTH


def id_pattern(kind: str) -> str:
    return rf"^{kind}[{ALPHABET}]{{{ID_BODY_LENGTH}}}$"


def new_id(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown id kind {kind!r}")
    return kind + "".join(secrets.choice(ALPHABET) for _ in range(ID_BODY_LENGTH))


def encode_int(value: int, width: int) -> str:
    """``value`` in base 20 over ALPHABET, left-padded to exactly ``width`` symbols."""
    if value < 0 or value >= BASE**width:
        raise ValueError(f"{value} does not fit in {width} symbols")
    out = []
    for _ in range(width):
        value, digit = divmod(value, BASE)
        out.append(ALPHABET[digit])
    return "".join(reversed(out))


def luhn_check_symbol(text: str) -> str:
    """Luhn mod N check symbol: catches any single wrong symbol and most swaps of two
    neighbours, the usual errors of a misread or hand-typed code."""
    factor, total = 2, 0
    for char in reversed(text):
        addend = factor * INDEX[char]
        total += addend // BASE + addend % BASE
        factor = 1 if factor == 2 else 2
    return ALPHABET[(BASE - total % BASE) % BASE]
