"""A person's phone: a self check-in counts only when the phone enrolled for the code signed
it. A real `ravao gateway` on loopback, the real broker; the phones are OpenSSL keys."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from conftest import TEST_QR_KEYS
from gateway_helpers import OWNER, TEXTED, Stack, published, register, start_gateway, stop_gateway, wait_published
from phone_helpers import Phone, attended_code, enrol, enrol_with_a_guard, sms_code
from pipeline.kafka_io import ensure_topics, produce_all, read_to_end, reliable_producer
from pipeline.privacy import mask_phone
from pipeline.registry import Registry
from pipeline.settings import Settings
from pipeline.topics import topics_for
from schemas.enrolment import ConfirmedBy, PhoneEnrolment, b64url, key_id
from schemas.scans import ScanSource

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    home = tmp_path_factory.mktemp("phone")
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"e{uuid.uuid4().hex[:10]}.",
                        topic_partitions=3, data_dir=home / "data", qr_keys=TEST_QR_KEYS)
    ensure_topics(kafka_bootstrap, topics_for(settings).all())
    return register(settings)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("phone-logs")


@pytest.fixture(scope="module")
def client(stack: Stack, logs: Path) -> Iterator[httpx.Client]:
    process, base = start_gateway(stack.settings, logs)
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            yield http
    finally:
        assert stop_gateway(process) == 0


@pytest.fixture
def phones(tmp_path: Path):
    return lambda: Phone(tmp_path / "phones")


def at_market(stack: Stack, phone: Phone, person: int, **fields) -> dict:
    return phone.checkin(stack.persons[person], stack.codes[person], stack.market, stack.market_code, **fields)


def answer(client: httpx.Client, body: dict, address: str = "10.20.0.1") -> dict:
    response = client.post("/api/v1/checkins", json=body, headers={"X-Forwarded-For": address})
    assert response.status_code == 200, response.text
    return response.json()


def published_ids(stack: Stack) -> set[str]:
    return {str(s.event_id) for _, s in published(stack.settings)}


def test_a_copied_personal_code_from_a_phone_that_did_not_enrol_it_is_refused(stack: Stack, client: httpx.Client,
                                                                              phones) -> None:
    owner, stranger = phones(), phones()
    enrol_with_a_guard(client, stack.bearer(stack.guard), owner, stack.codes[0])

    unsigned = {"event_id": str(uuid.uuid4()), "venue_qr": stack.market_code, "person_qr": stack.codes[0],
                "direction": "in"}
    own_key = at_market(stack, stranger, 0, key_id=key_id(stranger.public_raw))
    owners_key_id = at_market(stack, stranger, 0, key_id=owner.key_id)  # names the owner's key, cannot sign with it
    refused = [(unsigned, "enrolment_required"), (own_key, "phone_not_enrolled"),
               (owners_key_id, "bad_phone_signature")]
    for body, reason in refused:
        got = answer(client, body)
        assert (got["status"], got["reason"]) == ("refused", reason), got
        assert "enrol" in got["message"]

    accepted = at_market(stack, owner, 0)
    assert answer(client, accepted)["status"] == "accepted"
    wait_published(stack.settings, {accepted["event_id"]})
    assert not {b["event_id"] for b, _ in refused} & published_ids(stack)


def test_a_person_never_enrolled_is_told_to_enrol(stack: Stack, client: httpx.Client, phones) -> None:
    phone = phones()
    got = answer(client, at_market(stack, phone, 1, key_id=key_id(phone.public_raw)))
    assert (got["status"], got["reason"]) == ("refused", "enrolment_required")


def test_the_enrolled_phone_checks_in_including_what_it_queued_offline_within_the_accepted_window(
        stack: Stack, client: httpx.Client, phones) -> None:
    # This phone was enrolled a day ago (through some gateway): the record is on the topic.
    phone = phones()
    phone.key_id = key_id(phone.public_raw)
    now = datetime.now(timezone.utc)
    earlier = PhoneEnrolment(person_id=stack.persons[2], public_key=b64url(phone.public_raw), key_id=phone.key_id,
                             enrolled_at=now - timedelta(hours=30), confirmed_by=ConfirmedBy.sms)
    produce_all(reliable_producer(stack.settings.kafka_bootstrap), topics_for(stack.settings).phone_enrolments.name,
                [(stack.persons[2].encode(), earlier.to_bytes())])

    fresh = at_market(stack, phone, 2)
    queued = at_market(stack, phone, 2, scanned_at=now - timedelta(hours=3))  # kept offline, sent now
    late = at_market(stack, phone, 2, scanned_at=now - timedelta(hours=20), direction="out")
    for body in (fresh, queued, late):
        assert answer(client, body, "10.20.2.1")["status"] == "accepted"
    found = wait_published(stack.settings, {fresh["event_id"], queued["event_id"], late["event_id"]})
    assert found[queued["event_id"]][1].scanned_at == datetime.fromisoformat(queued["scanned_at"])
    assert found[late["event_id"]][1].scanned_at == datetime.fromisoformat(late["scanned_at"])
    assert all(k == stack.persons[2] and s.source is ScanSource.self_checkin for k, s in found.values())

    # Beyond the worker's lateness (48 h), before the phone was enrolled, or sent long ago
    # (a phone clock an hour off, or a request replayed): refused, with the reason.
    beyond = at_market(stack, phone, 2, scanned_at=now - timedelta(hours=49))
    before_enrolment = at_market(stack, phone, 2, scanned_at=now - timedelta(hours=31))
    stale = at_market(stack, phone, 2, sent_at=now - timedelta(hours=1))
    ahead = at_market(stack, phone, 2, sent_at=now + timedelta(minutes=10))
    for body, reason in ((beyond, "too_late"), (before_enrolment, "too_late"), (stale, "too_late"),
                         (ahead, "future_scan")):
        got = answer(client, body, "10.20.2.2")
        assert (got["status"], got["reason"]) == ("refused", reason), got
    assert "before this phone was enrolled" in answer(client, at_market(stack, phone, 2, scanned_at=now - timedelta(
        hours=31)), "10.20.2.2")["message"]
    assert not {beyond["event_id"], before_enrolment["event_id"], stale["event_id"]} & published_ids(stack)


def test_after_a_new_enrolment_the_old_phones_checkins_are_refused(stack: Stack, client: httpx.Client,
                                                                    phones) -> None:
    old, new = phones(), phones()
    enrol_with_a_guard(client, stack.bearer(stack.guard), old, stack.codes[1])
    assert answer(client, at_market(stack, old, 1), "10.20.1.1")["status"] == "accepted"
    enrol_with_a_guard(client, stack.bearer(stack.hospital_guard), new, stack.codes[1])

    got = answer(client, at_market(stack, old, 1), "10.20.1.1")
    assert (got["status"], got["reason"]) == ("refused", "phone_not_enrolled")
    assert answer(client, at_market(stack, new, 1, direction="out"), "10.20.1.2")["status"] == "accepted"
    topic = topics_for(stack.settings).phone_enrolments.name
    records = [PhoneEnrolment.from_bytes(v) for k, v, _, _ in read_to_end(stack.settings.kafka_bootstrap, topic)
               if k == stack.persons[1].encode()]
    assert [r.key_id for r in records][-2:] == [old.key_id, new.key_id]
    assert records[-1].confirmed_by is ConfirmedBy.guard and records[-1].guard_device_id == stack.hospital_guard[0]


def test_a_person_enrols_with_a_code_sent_to_the_number_on_record(stack: Stack, client: httpx.Client, logs: Path,
                                                                  phones) -> None:
    log = logs / "gateway.log"
    offset = log.stat().st_size
    sent = client.post("/api/v1/enrolment/code", json={"person_qr": stack.codes[TEXTED]},
                       headers={"X-Forwarded-For": "10.20.3.1"})
    assert sent.status_code == 200, sent.text
    assert sent.json()["sent_to"] == mask_phone(OWNER) and OWNER not in sent.text
    code = sms_code(log, mask_phone(OWNER), offset)
    assert OWNER not in log.read_text()  # the log names the phone masked only

    phone = phones()
    other_code = f"{(int(code) + 1) % 10**6:06d}"
    wrong = client.post("/api/v1/enrolment", json={"person_qr": stack.codes[TEXTED], "code": other_code,
                                                   "public_key": phone.public_key})
    assert (wrong.status_code, wrong.json()["error"]) == (401, "wrong_code")
    enrolled = enrol(client, phone, stack.codes[TEXTED], code)
    assert enrolled["confirmed_by"] == "sms"
    again = client.post("/api/v1/enrolment", json={"person_qr": stack.codes[TEXTED], "code": code,
                                                   "public_key": phone.public_key})
    assert (again.status_code, again.json()["error"]) == (401, "code_used")
    assert answer(client, at_market(stack, phone, TEXTED), "10.20.3.2")["status"] == "accepted"


def test_a_person_without_a_number_on_record_enrols_with_a_guard_who_checked_their_id(
        stack: Stack, client: httpx.Client, phones) -> None:
    registry = Registry(stack.settings, stack.settings.kafka_bootstrap)
    person = registry.add_person(full_name="Phạm Thị Dung")
    registry.close()
    code = stack.codec.encode(person.person_id)

    misread = client.post("/api/v1/enrolment/code", json={"person_qr": code[:-1] + ("B" if code[-1] != "B" else "C")},
                          headers={"X-Forwarded-For": "10.20.4.1"})
    assert (misread.status_code, misread.json()["error"]) == (404, "bad_check")
    no_number = client.post("/api/v1/enrolment/code", json={"person_qr": code},
                            headers={"X-Forwarded-For": "10.20.4.1"})
    assert (no_number.status_code, no_number.json()["error"]) == (409, "no_phone_on_record")
    assert "guard" in no_number.json()["message"]

    unchecked = client.post("/api/v1/enrolment/attended", json={"person_qr": code, "id_checked": False},
                            headers=stack.bearer(stack.guard))
    assert (unchecked.status_code, unchecked.json()["error"]) == (422, "invalid_request")  # only true is taken
    station = client.post("/api/v1/enrolment/attended", json={"person_qr": code, "id_checked": True},
                          headers=stack.bearer(stack.station))
    assert (station.status_code, station.json()["error"]) == (403, "not_a_guard")
    nobody = client.post("/api/v1/enrolment/attended", json={"person_qr": code, "id_checked": True})
    assert nobody.status_code == 401

    given = client.post("/api/v1/enrolment/attended", json={"person_qr": code, "id_checked": True},
                        headers=stack.bearer(stack.guard))
    assert given.status_code == 200 and given.json()["name"] == "Phạm T** D***"  # to compare with the ID
    phone = phones()
    enrol(client, phone, code, given.json()["code"])
    body = phone.checkin(person.person_id, code, stack.market, stack.market_code)
    assert answer(client, body, "10.20.4.2")["status"] == "accepted"


def test_a_guard_code_enrols_only_the_person_it_was_given_for(stack: Stack, client: httpx.Client, phones) -> None:
    code = attended_code(client, stack.bearer(stack.guard), stack.codes[2])
    other = client.post("/api/v1/enrolment", json={"person_qr": stack.codes[1], "code": code,
                                                   "public_key": phones().public_key},
                        headers={"X-Forwarded-For": "10.20.6.1"})
    assert other.status_code == 401 and other.json()["error"] in {"wrong_code", "code_expired"}


def test_enrolment_requests_of_one_address_are_limited(stack: Stack, client: httpx.Client) -> None:
    statuses = [client.post("/api/v1/enrolment/code", json={"person_qr": stack.codes[TEXTED]},
                            headers={"X-Forwarded-For": "10.20.5.1"}).status_code for _ in range(12)]
    assert statuses.count(429) >= 2 and 200 in statuses, statuses


def test_a_guard_cannot_enrol_a_phone_for_someone_with_a_number_on_record(stack: Stack, client: httpx.Client) -> None:
    """Else a guard of any venue, with a photo of anyone's card, would enrol a phone of their
    own in that person's place."""
    given = client.post("/api/v1/enrolment/attended", json={"person_qr": stack.codes[TEXTED], "id_checked": True},
                        headers=stack.bearer(stack.guard))
    assert (given.status_code, given.json()["error"]) == (409, "phone_on_record")
    assert "code" not in given.json() and OWNER not in given.text
