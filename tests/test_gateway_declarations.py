"""Health declarations at the gateway: a real `ravao gateway` on loopback, the real broker.
A person declares from their enrolled phone (signed as a self check-in is), a guard for a
person their device just scanned; every accepted scan's answer then carries the person's
status at the scan time, a word and a colour, and the answers go nowhere but `declarations`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from conftest import TEST_QR_KEYS
from gateway_helpers import TEXTED, Stack, register, start_gateway, stop_gateway
from phone_helpers import Phone, enrol_with_a_guard
from pipeline.kafka_io import ensure_topics, produce_all, read_to_end, reliable_producer
from pipeline.recent_declarations import PER_PERSON, RecentDeclarations
from pipeline.settings import Settings
from pipeline.topics import topics_for
from producers.gateway.declarations import signed_bytes
from schemas.declarations import Declaration, DeclarationStatus, DeclaredBy, Symptom
from schemas.ids import new_id

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    home = tmp_path_factory.mktemp("declarations")
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"h{uuid.uuid4().hex[:10]}.",
                        topic_partitions=3, data_dir=home / "data", qr_keys=TEST_QR_KEYS)
    ensure_topics(kafka_bootstrap, topics_for(settings).all())
    return register(settings)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("declarations-logs")


@pytest.fixture(scope="module")
def client(stack: Stack, logs: Path) -> Iterator[httpx.Client]:
    # At info, as it runs in production: what it logs there must hold no answer either.
    process, base = start_gateway(stack.settings, logs, loglevel="info")
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            yield http
    finally:
        assert stop_gateway(process) == 0


@pytest.fixture(scope="module")
def phones(stack: Stack, client: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> list[Phone]:
    folder = tmp_path_factory.mktemp("phones")
    enrolled = []
    for code in stack.codes[:TEXTED]:
        phone = Phone(folder)
        enrol_with_a_guard(client, stack.bearer(stack.guard), phone, code)
        enrolled.append(phone)
    return enrolled


def signed_declaration(stack: Stack, phone: Phone, person: int, symptoms: list[str] = (), contact: bool = False,
                       travel: str = "", sent_at: datetime | None = None, key_id: str | None = None,
                       signed_symptoms: list[str] | None = None) -> dict:
    """A declaration as the check-in page sends it, signed by ``phone`` (``signed_symptoms``:
    what was signed, when a test changes the answers after signing)."""
    declaration_id, today = uuid.uuid4(), datetime.now(timezone.utc).date()
    sent_at = (sent_at or datetime.now(timezone.utc)).replace(microsecond=0)
    lines = signed_bytes(stack.persons[person], declaration_id, today,
                         [Symptom(s) for s in (symptoms if signed_symptoms is None else signed_symptoms)],
                         contact, travel, sent_at)
    return {"declaration_id": str(declaration_id), "person_qr": stack.codes[person], "declared_on": today.isoformat(),
            "symptoms": list(symptoms), "contact_with_case": contact, "travel": travel,
            "sent_at": sent_at.isoformat(), "key_id": key_id or phone.key_id, "signature": phone.sign(lines)}


def scan(client: httpx.Client, stack: Stack, person: int, device: tuple[str, str], **fields) -> dict:
    body = {"event_id": str(uuid.uuid4()), "person_qr": stack.codes[person], **fields}
    response = client.post("/api/v1/scans", json=body, headers=stack.bearer(device))
    assert response.status_code == 200, response.text
    return response.json()


def declared(stack: Stack) -> list[tuple[bytes, Declaration]]:
    topic = topics_for(stack.settings).declarations.name
    return [(k, Declaration.from_bytes(v)) for k, v, _, _ in read_to_end(stack.settings.kafka_bootstrap, topic)]


def publish_declaration(stack: Stack, declaration: Declaration) -> None:
    """As `ravao person declare` does: straight onto the topic."""
    produce_all(reliable_producer(stack.settings.kafka_bootstrap), topics_for(stack.settings).declarations.name,
                [(declaration.person_id.encode(), declaration.to_bytes())])


def wait_for_status(client: httpx.Client, stack: Stack, person: int, status: str, timeout: float = 30,
                    **fields) -> dict:
    """The scan answer once it shows ``status`` (the gateway tails the topic)."""
    deadline = datetime.now(timezone.utc) + timedelta(seconds=timeout)
    while True:
        answer = scan(client, stack, person, stack.station, **fields)
        if answer["declaration"] == status or datetime.now(timezone.utc) > deadline:
            return answer


def test_a_declaration_shows_on_the_next_scans_answer_as_a_word_and_a_colour(
        stack: Stack, client: httpx.Client, phones: list[Phone], logs: Path) -> None:
    before = scan(client, stack, 0, stack.guard)
    assert (before["declaration"], before["declaration_colour"]) == ("none", "grey")

    body = signed_declaration(stack, phones[0], 0, symptoms=["cough", "fever"], travel="Đà Nẵng")
    response = client.post("/api/v1/declarations", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"declaration_id": body["declaration_id"], "declared_by": "self",
                               "status": "symptoms", "colour": "red"}

    after = scan(client, stack, 0, stack.guard)
    assert (after["declaration"], after["declaration_colour"]) == ("symptoms", "red")
    checkin = phones[0].checkin(stack.persons[0], stack.codes[0], stack.market, stack.market_code)
    self_answer = client.post("/api/v1/checkins", json=checkin).json()
    assert (self_answer["status"], self_answer["declaration"]) == ("accepted", "symptoms")
    # A scan dated before the declaration shows what was true then.
    earlier = scan(client, stack, 0, stack.guard, scanned_at=(datetime.now(timezone.utc) - timedelta(minutes=5))
                   .isoformat())
    assert earlier["declaration"] == "none"

    [(key, record)] = [(k, d) for k, d in declared(stack) if str(d.declaration_id) == body["declaration_id"]]
    assert key == stack.persons[0].encode()
    assert record.declared_by is DeclaredBy.self and record.device_id is None
    assert record.symptoms == [Symptom.fever, Symptom.cough] and record.travel == "Đà Nẵng"

    # Another gateway, started now, reads what was declared before it started.
    process, base = start_gateway(stack.settings, logs, name="second")
    try:
        with httpx.Client(base_url=base, timeout=60) as second:
            assert scan(second, stack, 0, stack.station)["declaration"] == "symptoms"
    finally:
        assert stop_gateway(process) == 0


def test_a_declaration_older_than_the_current_days_shows_none(stack: Stack, client: httpx.Client, logs: Path) -> None:
    now = datetime.now(timezone.utc)
    made = now - timedelta(hours=30)
    publish_declaration(stack, Declaration(person_id=stack.persons[1], declared_on=made.date(), declared_at=made,
                                           contact_with_case=True, declared_by=DeclaredBy.cli))
    # A scan dated six hours after it (within the accepted lateness): exposed, amber.
    then = wait_for_status(client, stack, 1, "exposed", scanned_at=(made + timedelta(hours=6)).isoformat())
    assert (then["declaration"], then["declaration_colour"]) == ("exposed", "amber")
    # Now it is 30 hours old, past RAVAO_DECLARATION_CURRENT_DAYS=1: none.
    assert scan(client, stack, 1, stack.station)["declaration"] == "none"

    process, base = start_gateway(stack.settings, logs, name="two-days", RAVAO_DECLARATION_CURRENT_DAYS="2")
    try:
        with httpx.Client(base_url=base, timeout=60) as two_days:
            assert scan(two_days, stack, 1, stack.station)["declaration"] == "exposed"
    finally:
        assert stop_gateway(process) == 0


def test_a_declaration_not_signed_by_the_enrolled_phone_is_refused_and_not_published(
        stack: Stack, client: httpx.Client, phones: list[Phone], tmp_path: Path) -> None:
    stranger = Phone(tmp_path)
    own_key = signed_declaration(stack, stranger, 1, symptoms=["fever"], key_id="A" * 22)
    owners_key_id = signed_declaration(stack, stranger, 1, symptoms=["fever"], key_id=phones[1].key_id)
    altered = signed_declaration(stack, phones[1], 1, symptoms=["fever"], signed_symptoms=[])  # changed after signing
    unsigned = {k: v for k, v in signed_declaration(stack, phones[1], 1).items()
                if k not in {"key_id", "signature", "sent_at"}}  # and no guard credentials
    stale = signed_declaration(stack, phones[1], 1, sent_at=datetime.now(timezone.utc) - timedelta(hours=1))
    expected = [(own_key, 403, "phone_not_enrolled"), (owners_key_id, 403, "bad_phone_signature"),
                (altered, 403, "bad_phone_signature"), (unsigned, 401, "missing_credentials"),
                (stale, 400, "too_late")]
    for body, status, error in expected:
        response = client.post("/api/v1/declarations", json=body, headers={"X-Forwarded-For": "10.30.0.1"})
        assert (response.status_code, response.json()["error"]) == (status, error), response.text
    refused = {b["declaration_id"] for b, _, _ in expected}
    assert not refused & {str(d.declaration_id) for _, d in declared(stack)}


def test_a_guard_declares_for_a_person_their_device_just_scanned_and_no_other_device_can(
        stack: Stack, client: httpx.Client) -> None:
    body = {"declaration_id": str(uuid.uuid4()), "person_qr": stack.codes[2],
            "declared_on": datetime.now(timezone.utc).date().isoformat(), "contact_with_case": True}
    # Not scanned by this device yet; another venue's device; a deactivated one; a wrong token.
    for device, status, error in ((stack.guard, 403, "not_scanned_here"), (stack.hospital_guard, 403, "not_scanned_here"),
                                  (stack.inactive, 403, "device_inactive"), ((stack.guard[0], "wrong"), 401, "bad_token")):
        response = client.post("/api/v1/declarations", json=body, headers=stack.bearer(device))
        assert (response.status_code, response.json()["error"]) == (status, error), response.text

    assert scan(client, stack, 2, stack.guard)["declaration"] == "none"
    other_venue = client.post("/api/v1/declarations", json=body, headers=stack.bearer(stack.hospital_guard))
    assert (other_venue.status_code, other_venue.json()["error"]) == (403, "not_scanned_here")
    response = client.post("/api/v1/declarations", json=body, headers=stack.bearer(stack.guard))
    assert response.status_code == 200, response.text
    assert response.json() == {"declaration_id": body["declaration_id"], "declared_by": "guard", "status": "exposed",
                               "colour": "amber"}
    assert scan(client, stack, 2, stack.station)["declaration_colour"] == "amber"
    [record] = [d for _, d in declared(stack) if str(d.declaration_id) == body["declaration_id"]]
    assert record.declared_by is DeclaredBy.guard and record.device_id == stack.guard[0]


def test_a_declaration_that_does_not_match_the_record_gets_a_bounded_422(stack: Stack, client: httpx.Client,
                                                                          phones: list[Phone]) -> None:
    secret = "X" * 100_000
    cases = [{**signed_declaration(stack, phones[0], 0), "symptoms": [secret]},
             {**signed_declaration(stack, phones[0], 0), "travel": secret},
             {**signed_declaration(stack, phones[0], 0), secret: 1},
             {**signed_declaration(stack, phones[0], 0), "symptoms": ["fever"] * 9}]
    for body in cases:
        response = client.post("/api/v1/declarations", json=body, headers={"X-Forwarded-For": "10.30.1.1"})
        assert (response.status_code, response.json()["error"]) == (422, "invalid_request"), response.text[:300]
        assert len(response.content) < 8_000 and "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX" \
            not in response.text
    last_week = {**signed_declaration(stack, phones[0], 0),
                 "declared_on": (date.today() - timedelta(days=7)).isoformat()}
    response = client.post("/api/v1/declarations", json=last_week, headers={"X-Forwarded-For": "10.30.1.1"})
    assert (response.status_code, response.json()["error"]) == (422, "not_today")


def test_declarations_are_rate_limited_per_address_before_the_body_is_read(stack: Stack, client: httpx.Client) -> None:
    statuses = [client.post("/api/v1/declarations", content=b"{}", headers={"X-Forwarded-For": "10.30.2.1",
                                                                             "Content-Type": "application/json"})
                .status_code for _ in range(60)]
    assert 429 in statuses and statuses[0] == 422, statuses


def test_the_answers_appear_nowhere_but_on_the_declarations_topic(stack: Stack, client: httpx.Client,
                                                                  phones: list[Phone], logs: Path,
                                                                  tmp_path: Path) -> None:
    travel = f"Vũng Tàu secret-{uuid.uuid4().hex}"
    rare = ["shortness_of_breath", "loss_of_taste_or_smell", "muscle_pain", "diarrhoea"]
    answers: list[str] = []
    # Genuine, by the person and by a guard; forged; malformed: each carrying the answers.
    genuine = signed_declaration(stack, phones[2], 2, symptoms=rare, travel=travel, contact=True)
    answers.append(client.post("/api/v1/declarations", json=genuine).text)
    answers.append(json.dumps(scan(client, stack, 2, stack.guard)))
    by_guard = {"declaration_id": str(uuid.uuid4()), "person_qr": stack.codes[2], "symptoms": rare, "travel": travel,
                "declared_on": datetime.now(timezone.utc).date().isoformat()}
    answers.append(client.post("/api/v1/declarations", json=by_guard, headers=stack.bearer(stack.guard)).text)
    forged = signed_declaration(stack, Phone(tmp_path), 2, symptoms=rare, travel=travel, key_id=phones[2].key_id)
    answers.append(client.post("/api/v1/declarations", json=forged).text)
    answers.append(client.post("/api/v1/declarations", json={**genuine, "travel": travel * 10}).text)
    answers.append(client.post("/api/v1/declarations", json={**genuine, "symptoms": [travel]}).text)
    answers.append(client.post("/api/v1/declarations", json={**genuine, "declared_on": travel}).text)
    # The answers as a personal code, as a scan's fields: refused or not, never kept.
    answers.append(client.post("/api/v1/scans", json={"event_id": str(uuid.uuid4()), "person_qr": travel},
                               headers=stack.bearer(stack.guard)).text)
    assert json.loads(answers[0])["status"] == "symptoms" and json.loads(answers[2])["status"] == "symptoms", answers[:3]
    for answer in [json.dumps(scan(client, stack, 2, stack.station)) for _ in range(2)]:
        answers.append(answer)
        assert json.loads(answer)["declaration"] == "symptoms"

    assert [d.travel for _, d in declared(stack) if d.travel == travel]  # the topic has them
    leaks = [travel, "Vũng Tàu", *rare]
    for text in answers[1:2] + answers[-2:]:  # the scans' answers
        assert not [w for w in leaks if w in text], text
    for text in answers:
        assert travel not in text and "Vũng Tàu" not in text
    log = "".join(p.read_text(errors="replace") for p in logs.glob("*.log"))
    assert not [w for w in leaks if w in log]
    topics = topics_for(stack.settings)
    for spec in topics.all():
        if spec.name == topics.declarations.name:
            continue
        for key, value, _, _ in read_to_end(stack.settings.kafka_bootstrap, spec.name):
            blob = (key or b"") + (value or b"")
            assert not [w for w in leaks if w.encode() in blob], (spec.name, blob[:200])


def test_the_gateway_keeps_a_few_statuses_per_person_and_forgets_those_no_scan_can_ask(clock) -> None:
    book = RecentDeclarations(current_days=1, lateness=timedelta(hours=48),
                              clock=lambda: datetime.fromtimestamp(clock(), timezone.utc))
    person = new_id("P")
    start = datetime.fromtimestamp(clock(), timezone.utc)
    began = clock.now
    for day in range(10):  # one a day, each on its day (one dated ahead is not kept)
        clock.now = began + day * 86400
        at = start + timedelta(days=day)
        book.add(Declaration(person_id=person, declared_on=at.date(), declared_at=at,
                             symptoms=[Symptom.fever] if day % 2 else [], travel="never kept"))
    clock.now = began
    assert len(book._by_person[person]) == PER_PERSON  # the last few only, as ints: no answers held
    assert all(isinstance(p, int) for p in book._by_person[person])
    last = start + timedelta(days=9)
    assert book.status(person, last + timedelta(hours=1)) is DeclarationStatus.symptoms
    assert book.status(person, last - timedelta(hours=1)) is DeclarationStatus.ok  # the day before's
    assert book.status(person, last + timedelta(days=1)) is DeclarationStatus.none
    clock.now += 9 * 86400 + 48 * 3600 + 86400 - 1
    book.prune()
    assert len(book) == 1
    clock.now += 2
    book.prune()
    assert len(book) == 0 and book.status(person, last) is DeclarationStatus.none


def test_a_declaration_made_within_the_same_second_as_the_one_before_it_replaces_it(clock) -> None:
    book = RecentDeclarations(current_days=1, lateness=timedelta(hours=48),
                              clock=lambda: datetime.fromtimestamp(clock(), timezone.utc))
    person = new_id("P")
    start = datetime.fromtimestamp(clock(), timezone.utc)
    book.add(Declaration(person_id=person, declared_on=start.date(), declared_at=start + timedelta(milliseconds=100),
                         contact_with_case=True))
    book.add(Declaration(person_id=person, declared_on=start.date(), declared_at=start + timedelta(milliseconds=600),
                         symptoms=[Symptom.cough]))
    assert book.status(person, start + timedelta(seconds=1)) is DeclarationStatus.symptoms
    assert book.status(person, start + timedelta(milliseconds=300)) is DeclarationStatus.exposed
    # Two in the very same millisecond: the graver status.
    book.add(Declaration(person_id=person, declared_on=start.date(), declared_at=start + timedelta(seconds=2)))
    book.add(Declaration(person_id=person, declared_on=start.date(), declared_at=start + timedelta(seconds=2),
                         contact_with_case=True))
    assert book.status(person, start + timedelta(seconds=3)) is DeclarationStatus.exposed


def test_a_captured_self_declaration_sent_again_cannot_override_a_later_one(
        stack: Stack, client: httpx.Client, phones: list[Phone]) -> None:
    # Someone who captured the person's 'ok' declaration replays it, within the clock skew,
    # after the person declared symptoms: the person must not then look 'ok'.
    healthy = signed_declaration(stack, phones[1], 1, sent_at=datetime.now(timezone.utc) - timedelta(seconds=2))
    ill = signed_declaration(stack, phones[1], 1, symptoms=["fever"])
    for body in (healthy, ill, healthy):
        response = client.post("/api/v1/declarations", json=body, headers={"X-Forwarded-For": "10.30.0.9"})
        assert response.status_code == 200, response.text
    assert scan(client, stack, 1, stack.station)["declaration"] == "symptoms"
    # And the warehouse's side, from the topic as the worker reads it, agrees.
    memory = RecentDeclarations(1, timedelta(hours=1))
    for _, record in declared(stack):
        memory.add(record)
    assert memory.status(stack.persons[1], datetime.now(timezone.utc)) is DeclarationStatus.symptoms


def test_a_guard_cannot_declare_for_a_person_whose_scan_it_sends_is_hours_old(
        stack: Stack, client: httpx.Client) -> None:
    # "Scanned in the last 15 minutes" is the scan's time, not its upload's: a backlog of
    # yesterday's scans (or one back-dated on purpose) opens no declaration for anyone in it.
    hours_ago = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat()
    body = {"declaration_id": str(uuid.uuid4()), "person_qr": stack.codes[3],
            "declared_on": datetime.now(timezone.utc).date().isoformat()}
    response = client.post("/api/v1/scans/batch", headers=stack.bearer(stack.spare), json={"scans": [
        {"event_id": str(uuid.uuid4()), "person_qr": stack.codes[3], "scanned_at": hours_ago}]})
    assert response.json()["accepted"] == 1, response.text
    scan(client, stack, 3, stack.guard, scanned_at=hours_ago)
    for device in (stack.spare, stack.guard):
        response = client.post("/api/v1/declarations", json=body, headers=stack.bearer(device))
        assert (response.status_code, response.json()["error"]) == (403, "not_scanned_here"), response.text
    scan(client, stack, 3, stack.guard)  # now: the guard may
    response = client.post("/api/v1/declarations", json=body, headers=stack.bearer(stack.guard))
    assert response.status_code == 200, response.text
