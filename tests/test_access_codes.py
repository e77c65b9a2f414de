"""One-time codes: short-lived, single use, hashed, and guessing limited per code, per
client address and per phone. Pure: a hand-driven clock, no Kafka."""

from __future__ import annotations

import pytest

from conftest import Clock

from pipeline.access import codes as codes_module
from pipeline.access.codes import ENROL_PHONE, SIGN_IN, OneTimeCodes, Outcome
from pipeline.settings import Settings

PHONE = "0981234791"
OWNER = "10.0.0.1"
STRANGER = "203.0.113.9"



@pytest.fixture
def codes(clock: Clock) -> OneTimeCodes:
    return OneTimeCodes(Settings(), clock=clock)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_code_is_six_digits_and_signs_in_once(codes: OneTimeCodes) -> None:
    code = codes.issue(SIGN_IN, PHONE, OWNER)
    assert code is not None and len(code) == 6 and code.isdigit()
    assert codes.check(SIGN_IN, PHONE, code, OWNER).ok


def test_a_used_code_fails(codes: OneTimeCodes) -> None:
    code = codes.issue(SIGN_IN, PHONE, OWNER)
    assert codes.check(SIGN_IN, PHONE, code, OWNER).ok
    assert codes.check(SIGN_IN, PHONE, code, OWNER).outcome is Outcome.used
    assert codes.check(SIGN_IN, PHONE, code, STRANGER).outcome is Outcome.used


def test_an_expired_code_fails(codes: OneTimeCodes, clock: Clock) -> None:
    code = codes.issue(SIGN_IN, PHONE, OWNER)
    clock.now += Settings().code_ttl_seconds - 1
    code2 = codes.issue(SIGN_IN, "0900000001", OWNER)
    assert codes.check(SIGN_IN, "0900000001", code2, OWNER).ok
    clock.now += 1
    assert codes.check(SIGN_IN, PHONE, code, OWNER).outcome is Outcome.expired


def test_a_code_for_a_phone_never_sent_one_is_expired_not_a_hint(codes: OneTimeCodes) -> None:
    assert codes.check(SIGN_IN, PHONE, "123456", OWNER).outcome is Outcome.expired


def test_a_new_code_replaces_the_old_one(codes: OneTimeCodes) -> None:
    old = codes.issue(SIGN_IN, PHONE, OWNER)
    new = codes.issue(SIGN_IN, PHONE, OWNER)
    if old != new:
        assert codes.check(SIGN_IN, PHONE, old, OWNER).outcome is Outcome.wrong
    assert codes.check(SIGN_IN, PHONE, new, OWNER).ok
    assert len(codes) == 1


def test_a_sign_in_code_cannot_enrol_a_phone_nor_the_reverse(codes: OneTimeCodes) -> None:
    sign_in = codes.issue(SIGN_IN, PHONE, OWNER)
    assert codes.check(ENROL_PHONE, PHONE, sign_in, OWNER).outcome is Outcome.expired
    enrol = codes.issue(ENROL_PHONE, PHONE, OWNER)
    assert codes.check(ENROL_PHONE, PHONE, enrol, OWNER).ok
    assert codes.check(SIGN_IN, PHONE, sign_in, OWNER).ok


def test_five_wrong_tries_end_that_code_and_throttle_that_client_and_that_phone(
        codes: OneTimeCodes, clock: Clock) -> None:
    code = codes.issue(SIGN_IN, PHONE, OWNER)
    for _ in range(5):
        assert codes.check(SIGN_IN, PHONE, wrong(code), STRANGER).outcome is Outcome.wrong
    from_stranger = codes.check(SIGN_IN, PHONE, code, STRANGER)
    assert from_stranger.outcome is Outcome.throttled and from_stranger.retry_after > 0
    for_phone = codes.check(SIGN_IN, PHONE, code, OWNER)  # another address, the right code
    assert for_phone.outcome is Outcome.throttled
    assert for_phone.retry_after <= Settings().code_phone_lockout_seconds
    clock.now += Settings().code_phone_lockout_seconds
    assert codes.check(SIGN_IN, PHONE, code, OWNER).outcome is Outcome.expired  # ended, not revived


def test_a_stranger_cannot_lock_the_owner_out_for_long(codes: OneTimeCodes, clock: Clock) -> None:
    settings = Settings()
    code = codes.issue(SIGN_IN, PHONE, STRANGER)
    for _ in range(5):
        codes.check(SIGN_IN, PHONE, wrong(code), STRANGER)
    clock.now += settings.code_phone_lockout_seconds
    # The stranger's address stays throttled far longer than the phone's lock...
    assert codes.check(SIGN_IN, PHONE, "000000", STRANGER).outcome is Outcome.throttled
    assert settings.code_client_refill_seconds > settings.code_phone_lockout_seconds
    # ...while the owner asks for a new code and signs in.
    fresh = codes.issue(SIGN_IN, PHONE, OWNER)
    assert fresh is not None
    assert codes.check(SIGN_IN, PHONE, fresh, OWNER).ok


def test_one_address_guessing_many_phones_is_throttled_by_address(codes: OneTimeCodes) -> None:
    phones = [f"09000000{i:02d}" for i in range(10)]
    for phone in phones:
        codes.issue(SIGN_IN, phone, OWNER)
    outcomes = [codes.check(SIGN_IN, phone, "999999", STRANGER).outcome for phone in phones]
    assert outcomes.count(Outcome.throttled) == len(phones) - Settings().code_client_tries


def test_the_client_earns_a_try_back_with_time(clock: Clock) -> None:
    codes = OneTimeCodes(Settings(code_ttl_seconds=900), clock=clock)
    code = codes.issue(SIGN_IN, PHONE, OWNER)
    for phone in [f"09111111{i:02d}" for i in range(5)]:
        codes.issue(SIGN_IN, phone, "10.9.9.9")
        assert codes.check(SIGN_IN, phone, "999999", OWNER).outcome is Outcome.wrong
    throttled = codes.check(SIGN_IN, PHONE, code, OWNER)
    assert throttled.outcome is Outcome.throttled
    clock.now += throttled.retry_after
    assert codes.check(SIGN_IN, PHONE, code, OWNER).ok


def test_issuing_is_rate_limited_per_phone(codes: OneTimeCodes, clock: Clock) -> None:
    burst = Settings().code_issue_phone_burst
    from_one = [codes.issue(SIGN_IN, PHONE, "10.0.1.1") for _ in range(burst + 1)]
    assert all(from_one[:burst]) and from_one[burst] is None
    # From many addresses, a phone is sent a bounded number of codes all the same.
    cap = burst * codes_module.ISSUING_ADDRESSES_PER_PHONE
    sent = [codes.issue(SIGN_IN, PHONE, f"10.0.2.{i}") for i in range(cap)]
    assert sent.count(None) == burst
    wait = codes.wait_to_issue(PHONE, "10.0.3.1")
    assert wait > 0
    clock.now += wait
    assert codes.issue(SIGN_IN, PHONE, "10.0.3.1") is not None


def test_a_stranger_asking_codes_for_the_owners_phone_from_one_address_does_not_keep_the_owner_from_a_code(
        codes: OneTimeCodes, clock: Clock) -> None:
    refill = Settings().code_issue_phone_refill_seconds
    for _ in range(10):  # as fast as the phone's limit lets the stranger, for most of an hour
        clock.now += refill
        while codes.issue(SIGN_IN, PHONE, STRANGER) is not None:
            pass
    code = codes.issue(SIGN_IN, PHONE, OWNER)
    assert code is not None
    assert codes.check(SIGN_IN, PHONE, code, OWNER).ok


def test_issuing_is_rate_limited_per_client_address(codes: OneTimeCodes) -> None:
    burst = Settings().code_issue_client_burst
    sent = [codes.issue(SIGN_IN, f"0922{i:06d}", STRANGER) for i in range(burst + 1)]
    assert all(sent[:burst]) and sent[burst] is None
    assert codes.wait_to_issue("0933000000", STRANGER) > 0
    assert codes.issue(SIGN_IN, "0933000000", OWNER) is not None


def test_codes_are_kept_only_as_keyed_hashes(codes: OneTimeCodes) -> None:
    code = codes.issue(SIGN_IN, PHONE, OWNER)
    stored = codes._codes[(SIGN_IN, PHONE)]
    assert code.encode() not in stored.digest and len(stored.digest) == 32
    other = OneTimeCodes(Settings())  # another process: another key
    assert other._digest(SIGN_IN, PHONE, code) != stored.digest


def test_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    monkeypatch.setattr(codes_module, "MAX_CODES", 50)
    codes = OneTimeCodes(Settings(code_issue_client_burst=10_000, code_issue_phone_burst=10_000), clock=clock)
    for i in range(500):
        codes.issue(SIGN_IN, f"09{i:08d}", f"10.1.{i // 250}.{i % 250}")
    assert len(codes) <= 50
    last = codes.issue(SIGN_IN, PHONE, OWNER)
    assert codes.check(SIGN_IN, PHONE, last, OWNER).ok  # the newest is kept, the oldest dropped


def test_probing_for_phones_that_were_sent_a_code_costs_the_address_too(codes: OneTimeCodes) -> None:
    tries = Settings().code_client_tries
    outcomes = [codes.check(SIGN_IN, f"0944{i:06d}", "123456", STRANGER).outcome for i in range(tries + 1)]
    assert outcomes == [Outcome.expired] * tries + [Outcome.throttled]
