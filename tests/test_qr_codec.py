"""The signed QR codec: round trips, and every way a code goes wrong has its own reason."""

from __future__ import annotations

import random

import pytest

from schemas.ids import ALPHABET, new_id, luhn_check_symbol
from schemas.qrcode import CODE_LENGTH, LAYOUTS, InvalidCode, QrCodec, QrError, display_form

KEYS = {"KB": b"first-key-0123456789", "KC": b"second-key-0123456789", "XX": b"third-key-0123456789"}


@pytest.fixture
def codec() -> QrCodec:
    return QrCodec(KEYS, signing_key_id="KC")


def reason_of(codec: QrCodec, text: str, expect: str | None = None) -> QrError:
    with pytest.raises(InvalidCode) as caught:
        codec.decode(text, expect=expect)
    return caught.value.reason


def test_it_round_trips_thousands_of_random_ids_under_every_active_key(codec: QrCodec) -> None:
    for key_id in KEYS:
        for _ in range(1500):
            entity_id = new_id(random.choice("PV"))
            code = codec.encode(entity_id, key_id=key_id)
            assert len(code) == CODE_LENGTH
            assert set(code) <= set(ALPHABET)
            decoded = codec.decode(code)
            assert (decoded.entity_id, decoded.key_id, decoded.kind) == (entity_id, key_id, entity_id[0])


def test_codes_signed_under_a_key_id_are_checked_with_that_key(codec: QrCodec) -> None:
    entity_id = new_id("P")
    assert codec.encode(entity_id, "KB") != codec.encode(entity_id, "KC")
    assert codec.encode(entity_id).startswith("RVBKC")  # the signing key by default


def test_a_poster_url_and_a_hand_typed_grouped_code_both_decode(codec: QrCodec) -> None:
    venue_id = new_id("V")
    assert codec.decode(codec.venue_url(venue_id, "https://ravao.example.vn/")).entity_id == venue_id
    person_id = new_id("P")
    assert codec.decode("  " + display_form(codec.encode(person_id)) + "\n").entity_id == person_id


def tamper(code: str, position: int) -> str:
    """Change one symbol of the id and fix the check symbol, as a forger would."""
    swapped = ALPHABET[(ALPHABET.index(code[position]) + 1) % len(ALPHABET)]
    body = code[:position] + swapped + code[position + 1 : -1]
    return body + luhn_check_symbol(body)


def test_every_failure_has_its_own_reason(codec: QrCodec) -> None:
    person_id = new_id("P")
    code = codec.encode(person_id)
    retired = QrCodec({"BB": b"retired-key-0123456789"}).encode(person_id)
    russian = "".join(LAYOUTS["Russian (ЙЦУКЕН)"][c] for c in code)
    dvorak = "".join(LAYOUTS["Dvorak"][c] for c in code)
    misread = code[:10] + ALPHABET[(ALPHABET.index(code[10]) + 3) % len(ALPHABET)] + code[11:]
    cases = {
        "tampered": (tamper(code, 8), QrError.bad_signature),
        "truncated": (code[:-4], QrError.truncated),
        "re-keyed": (retired, QrError.unknown_key),
        "lower-cased": (code.lower(), QrError.lowercase),
        "russian layout": (russian, QrError.keyboard_layout),
        "dvorak layout": (dvorak, QrError.keyboard_layout),
        "misread symbol": (misread, QrError.bad_check),
        "too long": (code + "B", QrError.too_long),
        "other QR": ("00020101021138570010A000000727", QrError.not_ravao),
        "empty": ("   ", QrError.empty),
        "future version": ("RVC" + code[3:], QrError.unknown_version),
    }
    reasons = {name: reason_of(codec, text) for name, (text, _) in cases.items()}
    assert reasons == {name: expected for name, (_, expected) in cases.items()}
    acceptance = ["tampered", "truncated", "re-keyed", "lower-cased", "russian layout"]
    assert len({reasons[name] for name in acceptance}) == len(acceptance)


def test_a_venue_code_is_refused_where_a_personal_code_is_expected(codec: QrCodec) -> None:
    assert reason_of(codec, codec.encode(new_id("V")), expect="P") is QrError.wrong_kind


def test_any_single_misread_symbol_is_caught_before_the_signature(codec: QrCodec) -> None:
    code = codec.encode(new_id("P"))
    for position in range(len(code)):
        for symbol in ALPHABET:
            if symbol == code[position]:
                continue
            garbled = code[:position] + symbol + code[position + 1 :]
            assert reason_of(codec, garbled) in {QrError.bad_check, QrError.not_ravao, QrError.unknown_version,
                                                  QrError.keyboard_layout}


def test_forged_codes_never_pass(codec: QrCodec) -> None:
    rng = random.Random(7)
    for _ in range(2000):
        code = codec.encode(new_id("P"))
        position = rng.randrange(6, CODE_LENGTH - 1)  # past the kind letter
        assert reason_of(codec, tamper(code, position)) is QrError.bad_signature


def test_key_ids_and_secrets_are_checked() -> None:
    with pytest.raises(ValueError, match="letters"):
        QrCodec({"K1": b"x" * 32})
    with pytest.raises(ValueError, match="16 bytes"):
        QrCodec({"KB": b"short"})
    with pytest.raises(ValueError, match="signing key"):
        QrCodec({"KB": b"x" * 32}, signing_key_id="KC")
