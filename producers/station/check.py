"""Is a line the reader typed a personal code worth sending? Decided at the gate, so a
guard hears at once that a card was misread and scans it again.

With the QR keys (RAVAO_QR_KEYS on a trusted station computer) every check the
pipeline makes on a code is made here too, signature included. Without them the
station checks what needs no secret: the format, the alphabet, the layout the reader
typed under, the length, the check symbol and the kind; the worker checks the signature.
"""

from __future__ import annotations

from typing import NamedTuple

from schemas.ids import ID_LENGTH, PERSON
from schemas.qrcode import HEADER_LENGTH, InvalidCode, QrCodec, QrError

# A codec whose only key can never verify a real code: with it, `QrCodec.decode` runs
# every check before the signature, and the two reasons below mean "the signature was
# not checkable here", not "forged".
_NO_KEYS = QrCodec({"BB": b"station-without-the-qr-keys"})
_SIGNATURE_REASONS = {QrError.unknown_key, QrError.bad_signature}


class CodeCheck(NamedTuple):
    ok: bool
    code: str | None  # the canonical code to send (spaces removed), when ok
    person_id: str | None
    reason: QrError | None  # why it was refused
    message: str  # what the guard reads


class CodeChecker:
    def __init__(self, codec: QrCodec | None = None) -> None:
        self.codec = codec
        self.verifies_signatures = codec is not None

    def check(self, line: str) -> CodeCheck:
        text = line.strip()
        try:
            decoded = (self.codec or _NO_KEYS).decode(text, expect=PERSON)
        except InvalidCode as exc:
            if self.codec is None and exc.reason in _SIGNATURE_REASONS:
                code = text.replace(" ", "")
                person_id = code[HEADER_LENGTH : HEADER_LENGTH + ID_LENGTH]
                return CodeCheck(True, code, person_id, None, "ok (signature checked by the pipeline)")
            return CodeCheck(False, None, None, exc.reason, exc.message)
        return CodeCheck(True, decoded.text, decoded.entity_id, None, "ok")
