"""The station checks a code before it queues it: garbled reads are refused at the gate
with the reason the guard needs, and never sent."""

from __future__ import annotations

import pytest

from conftest import TEST_QR_KEYS
from pipeline.keys import parse_keys
from producers.station.check import CodeChecker
from schemas.qrcode import LAYOUTS, QrCodec, QrError

CODEC = QrCodec(parse_keys(TEST_QR_KEYS))
PERSON = "P" + "BCDEFGHIJKLNOPR"[:14]
CODE = CODEC.encode(PERSON)
FORGED = QrCodec({CODEC.signing_key_id: b"not-the-real-key-at-all"}).encode(PERSON)
GARBLED = {
    QrError.keyboard_layout: "".join(LAYOUTS["Dvorak"].get(c, c) for c in CODE),
    QrError.lowercase: CODE.lower(),
    QrError.truncated: CODE[:-7],
    QrError.too_long: CODE + "B",
    QrError.bad_check: CODE[:-1] + ("B" if CODE[-1] != "B" else "C"),
    QrError.not_ravao: "https://example.com/pay?id=12",
    QrError.wrong_kind: CODEC.encode("V" + PERSON[1:]),
}


@pytest.mark.parametrize("checker", [CodeChecker(CODEC), CodeChecker(None)], ids=["with keys", "without keys"])
@pytest.mark.parametrize("reason", list(GARBLED))
def test_it_refuses_a_garbled_read_with_its_reason(checker: CodeChecker, reason: QrError) -> None:
    result = checker.check(GARBLED[reason])
    assert not result.ok and result.reason is reason and result.message


@pytest.mark.parametrize("checker", [CodeChecker(CODEC), CodeChecker(None)], ids=["with keys", "without keys"])
def test_it_takes_a_genuine_code_typed_with_spaces_and_a_newline(checker: CodeChecker) -> None:
    result = checker.check(" ".join(CODE[i:i + 4] for i in range(0, len(CODE), 4)) + "\r\n")
    assert result.ok and result.code == CODE and result.person_id == PERSON


def test_with_the_keys_it_refuses_a_forged_code_and_without_them_leaves_it_to_the_pipeline() -> None:
    assert CodeChecker(CODEC).check(FORGED).reason is QrError.bad_signature
    assert CodeChecker(None).check(FORGED).ok


def test_with_the_keys_it_refuses_a_code_of_a_retired_key() -> None:
    retired = QrCodec({"XX": b"a-key-rotated-out-long-ago"}).encode(PERSON)
    assert CodeChecker(CODEC).check(retired).reason is QrError.unknown_key
