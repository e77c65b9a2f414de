"""The guard page signs in as people do: a venue's staff phone and a one-time code give it a
guard session, whose scans the gateway publishes under a device of that venue that the
worker's validation accepts. A real `ravao gateway`, the real broker."""

from __future__ import annotations

import time
from contextlib import closing
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from conftest import TEST_QR_KEYS
from gateway_helpers import Stack, register, start_gateway, stop_gateway, wait_published
from phone_helpers import sms_code
from pipeline.access.caller import Role
from pipeline.kafka_io import ensure_topics, produce_all, read_to_end, reliable_producer
from pipeline.privacy import mask_phone
from pipeline.registry import Registry
from pipeline.registry_cache import RegistryCache
from pipeline.settings import Settings
from pipeline.topics import topics_for
from pipeline.validate import Position, validate
from schemas.accounts import Account
from schemas.registry import Device, Venue
from schemas.scans import ScanSource, ValidScan

pytestmark = pytest.mark.kafka

STAFF = "0912345678"  # a staff phone of the market
LEAVER = "0933456123"  # a staff phone of the market (removed in a test) and of the hospital
DISABLED = "0944567234"  # a staff phone of the market whose account is disabled in a test
OFFICER = "0977654321"  # an area officer: an account, but no venue's staff
STRANGER = "0388765432"  # no account at all


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    home = tmp_path_factory.mktemp("guard-sign-in")
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"s{uuid.uuid4().hex[:10]}.",
                        topic_partitions=3, data_dir=home / "data", qr_keys=TEST_QR_KEYS)
    ensure_topics(kafka_bootstrap, topics_for(settings).all())
    stack = register(settings)
    registry = Registry(settings, kafka_bootstrap)
    for phone in (STAFF, LEAVER, DISABLED):
        registry.add_staff_phone(stack.market, phone)
    registry.add_staff_phone(stack.hospital, LEAVER)
    registry.put_account(Account(phone=OFFICER, role=Role.area_officer, area_id="718", added_by="test"))
    registry.close()
    return stack


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("guard-sign-in-logs")


@pytest.fixture(scope="module")
def base(stack: Stack, logs: Path) -> Iterator[str]:
    process, url = start_gateway(stack.settings, logs)
    try:
        yield url
    finally:
        assert stop_gateway(process) == 0


def signed_in(base: str, logs: Path, phone: str, **headers: str) -> httpx.Client:
    """A client holding the session cookie of ``phone``, signed in with the code it was sent."""
    http = httpx.Client(base_url=base, timeout=60, headers=headers)
    log = logs / "gateway.log"
    offset = log.stat().st_size
    assert http.post("/api/v1/session/code", json={"phone": phone}).status_code == 202
    response = http.post("/api/v1/session", json={"phone": phone, "code": sms_code(log, mask_phone(phone), offset)})
    assert response.status_code == 200, response.text
    return http


def registry_as_the_worker_reads_it(stack: Stack) -> RegistryCache:
    topics = topics_for(stack.settings)
    cache = RegistryCache()
    for topic, apply in ((topics.venues, cache.apply_venue), (topics.devices, cache.apply_device),
                         (topics.persons, cache.apply_person)):
        for key, value, _, _ in read_to_end(stack.settings.kafka_bootstrap, topic.name):
            apply(key, value)
    return cache


def test_a_guard_signs_in_with_phone_and_code_and_scans(stack: Stack, base: str, logs: Path) -> None:
    with closing(signed_in(base, logs, STAFF)) as guard:
        device = guard.get("/api/v1/device")
        assert device.status_code == 200, device.text
        assert (device.json()["venue_id"], device.json()["kind"]) == (stack.market, "guard_phone")
        scan = {"event_id": str(uuid.uuid4()), "person_qr": stack.codes[0], "direction": "in"}
        answer = guard.post("/api/v1/scans", json=scan)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "accepted" and answer.json()["name"] == "Nguyễn V** A*"
    # A second session of that phone scans as the same device.
    with closing(signed_in(base, logs, STAFF)) as again:
        assert again.get("/api/v1/device").json()["device_id"] == device.json()["device_id"]

    key, raw = wait_published(stack.settings, {scan["event_id"]})[scan["event_id"]]
    assert key == stack.persons[0] and raw.source is ScanSource.staff and raw.device_id == device.json()["device_id"]
    devices = [Device.from_bytes(v) for _, v, _, _ in read_to_end(stack.settings.kafka_bootstrap,
                                                                   topics_for(stack.settings).devices.name)]
    mine = [d for d in devices if d.device_id == raw.device_id]
    assert len(mine) == 1 and mine[0].venue_id == stack.market and mine[0].phone == STAFF
    # The worker's validation accepts the scan: its device is bound to the venue.
    verdict = validate(raw.to_bytes(), codec=stack.codec, registry=registry_as_the_worker_reads_it(stack),
                       now=datetime.now(timezone.utc), position=Position("scans.raw", 0, 0))
    assert isinstance(verdict, ValidScan), verdict
    assert verdict.venue_id == stack.market


def test_a_phone_that_is_not_staff_cannot_get_a_guard_session(stack: Stack, base: str, logs: Path) -> None:
    log = logs / "gateway.log"
    with httpx.Client(base_url=base, timeout=60) as http:
        offset = log.stat().st_size
        assert http.post("/api/v1/session/code", json={"phone": STRANGER}).status_code == 202  # the same answer
        time.sleep(1)
        assert mask_phone(STRANGER) not in log.read_bytes()[offset:].decode()  # but no code was sent
        guess = http.post("/api/v1/session", json={"phone": STRANGER, "code": "123456"})
        assert guess.status_code == 401
        scan = {"event_id": str(uuid.uuid4()), "person_qr": stack.codes[0], "direction": "in"}
        assert http.post("/api/v1/scans", json=scan).json()["error"] == "missing_credentials"

    with closing(signed_in(base, logs, OFFICER)) as officer:  # an account, but no venue's staff
        refused = officer.get("/api/v1/device")
        assert (refused.status_code, refused.json()["error"]) == (403, "not_staff")
        scan = {"event_id": str(uuid.uuid4()), "person_qr": stack.codes[0], "direction": "in"}
        assert officer.post("/api/v1/scans", json=scan).status_code == 403


def wait_status(http: httpx.Client, status: int, timeout: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = http.get("/api/v1/device")
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


def test_a_phone_removed_from_the_staff_or_disabled_loses_its_guard_session_at_once(
        stack: Stack, base: str, logs: Path) -> None:
    # The leaver guards two venues: the page names the market.
    leaver = signed_in(base, logs, LEAVER, **{"X-Ravao-Venue": stack.market, "X-Forwarded-For": "10.30.0.1"})
    disabled = signed_in(base, logs, DISABLED, **{"X-Forwarded-For": "10.30.0.2"})
    try:
        assert leaver.get("/api/v1/device").json()["venue_id"] == stack.market
        assert disabled.get("/api/v1/device").status_code == 200

        topics = topics_for(stack.settings)
        venues = {k: Venue.from_bytes(v)
                  for k, v, _, _ in read_to_end(stack.settings.kafka_bootstrap, topics.venues.name)}
        market = venues[stack.market.encode()]
        smaller = market.model_copy(update={"staff_phones": tuple(p for p in market.staff_phones if p != LEAVER)})
        producer = reliable_producer(stack.settings.kafka_bootstrap)
        produce_all(producer, topics.venues.name, [(stack.market.encode(), smaller.to_bytes())])
        off = Account(phone=DISABLED, role=Role.venue_staff, venue_id=stack.market, active=False, added_by="test")
        produce_all(producer, topics.accounts.name, [(DISABLED.encode(), off.to_bytes())])

        gone = wait_status(leaver, 403)
        assert (gone.status_code, gone.json()["error"]) == (403, "not_staff")
        scan = {"event_id": str(uuid.uuid4()), "person_qr": stack.codes[1], "direction": "in"}
        assert leaver.post("/api/v1/scans", json=scan).status_code == 403
        hospital = leaver.get("/api/v1/device", headers={"X-Ravao-Venue": stack.hospital})
        assert hospital.json()["venue_id"] == stack.hospital  # still a guard there
        ended = wait_status(disabled, 401)
        assert (ended.status_code, ended.json()["error"]) == (401, "not_signed_in")
        assert disabled.post("/api/v1/scans", json=scan).status_code == 401
    finally:
        leaver.close()
        disabled.close()


def test_the_gateway_log_names_no_phone_in_full(stack: Stack, base: str, logs: Path) -> None:
    with closing(signed_in(base, logs, STAFF)) as guard:
        assert guard.get("/api/v1/device").status_code == 200
    written = (logs / "gateway.log").read_text()
    assert mask_phone(STAFF) in written  # the console SMS, masked
    assert not [p for p in (STAFF, LEAVER, DISABLED, OFFICER, STRANGER) if p in written]
