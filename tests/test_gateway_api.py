"""The gateway's API end to end: a real `ravao gateway` process on loopback, the real
broker, and what it published read back from scans.raw."""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from metrics_helpers import parsed, value
from gateway_helpers import TEXTED, Stack, published, register, start_gateway, stop_gateway, wait_published
from phone_helpers import Phone, enrol_with_a_guard
from conftest import TEST_QR_KEYS
from pipeline.kafka_io import ensure_topics
from pipeline.registry import Registry
from pipeline.settings import Settings
from pipeline.topics import topics_for
from schemas.registry import DeviceKind
from schemas.scans import ScanSource

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    home = tmp_path_factory.mktemp("gateway-api")
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"g{uuid.uuid4().hex[:10]}.",
                        topic_partitions=3, data_dir=home / "data", qr_keys=TEST_QR_KEYS)
    ensure_topics(kafka_bootstrap, topics_for(settings).all())
    return register(settings)


@pytest.fixture(scope="module")
def client(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    process, base = start_gateway(stack.settings, tmp_path_factory.mktemp("gateway-api-logs"))
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            yield http
    finally:
        assert stop_gateway(process) == 0


@pytest.fixture(scope="module")
def phones(stack: Stack, client: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> list[Phone]:
    """Each person's own phone, enrolled with a guard: a self check-in is signed by it."""
    folder = tmp_path_factory.mktemp("phones")
    enrolled = []
    for code in stack.codes[:TEXTED]:  # the last has a number on record: it enrols by SMS, not here
        phone = Phone(folder)
        enrol_with_a_guard(client, stack.bearer(stack.guard), phone, code)
        enrolled.append(phone)
    return enrolled


def signed(stack: Stack, phones: list[Phone], person: int, venue_qr: str | None = None, **fields) -> dict:
    return phones[person].checkin(stack.persons[person], stack.codes[person], stack.market,
                                  venue_qr or stack.market_code, **fields)


def scan(code: str, **fields) -> dict:
    return {"event_id": str(uuid.uuid4()), "person_qr": code, **fields}


def forged(code: str) -> str:
    """The code with one signature symbol changed and the check symbol made right again:
    well-formed, but not signed by our key."""
    from schemas.ids import ALPHABET, luhn_check_symbol

    body = code[:-2] + ALPHABET[(ALPHABET.index(code[-2]) + 1) % len(ALPHABET)]
    return body + luhn_check_symbol(body)


def ago(**delta: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(**delta)).isoformat()


def checkin(code: str, **fields) -> dict:
    return {"event_id": str(uuid.uuid4()), "venue_qr": "", "person_qr": code, "direction": "in", **fields}


def test_a_guard_scan_is_published_under_the_person_and_shows_the_masked_name(stack: Stack, client: httpx.Client) -> None:
    at = (datetime.now(timezone.utc) - timedelta(hours=3)).replace(microsecond=0)
    body = scan(stack.codes[0], scanned_at=at.astimezone(timezone(timedelta(hours=7))).isoformat())
    response = client.post("/api/v1/scans", json=body, headers=stack.bearer(stack.guard))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer == {"event_id": body["event_id"], "status": "accepted", "show": "ok", "direction": "in",
                      "name": "Nguyễn V** A*", "reason": None, "message": None,
                      "declaration": "none", "declaration_colour": "grey"}  # no declaration yet
    key, raw = wait_published(stack.settings, {body["event_id"]})[body["event_id"]]
    assert key == stack.persons[0]  # keyed by person: the worker pairs it without another hop
    assert raw.source is ScanSource.staff and raw.device_id == stack.guard[0] and raw.person_qr == stack.codes[0]
    assert raw.scanned_at == at


def test_a_privileged_venue_sees_the_full_name(stack: Stack, client: httpx.Client) -> None:
    response = client.post("/api/v1/scans", json=scan(stack.codes[1], direction="out"),
                           headers=stack.bearer(stack.hospital_guard))
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Trần Thị Bích" and response.json()["direction"] == "out"


def test_a_batch_answers_each_scan_and_publishes_only_genuine_codes(stack: Stack, client: httpx.Client) -> None:
    code = stack.codes[2]
    scans = [scan(code), scan(code[:-3]), scan(forged(code)), scan(code.lower()), scan(stack.market_code),
             scan(code, direction="out", venue_qr=stack.market_code), scan(code, venue_qr=forged(stack.market_code))]
    response = client.post("/api/v1/scans/batch", json={"scans": scans}, headers=stack.bearer(stack.station))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["refused"]) == (2, 5)
    assert [r["event_id"] for r in answer["results"]] == [s["event_id"] for s in scans]
    assert [r["reason"] for r in answer["results"]] == [None, "truncated", "bad_signature", "lowercase",
                                                         "wrong_kind", None, "bad_signature"]
    assert [r["show"] for r in answer["results"]] == ["ok", "refused", "refused", "refused", "refused", "ok", "refused"]
    assert answer["results"][0]["direction"] == "auto"  # a station in auto mode: the worker decides
    assert answer["results"][0]["name"] == "Lê H**** C****"
    accepted = {scans[0]["event_id"], scans[5]["event_id"]}
    found = wait_published(stack.settings, accepted)
    assert set(found) == accepted
    assert {k for k, _ in found.values()} == {stack.persons[2]}  # keyed by the person, not the station
    assert all(s.source is ScanSource.station for _, s in found.values())
    refused = {s["event_id"] for s in scans} - accepted
    assert not refused & {str(s.event_id) for _, s in published(stack.settings)}


def test_a_self_checkin_is_published_under_the_person_without_a_name(stack: Stack, client: httpx.Client,
                                                                    phones: list[Phone]) -> None:
    body = signed(stack, phones, 0, venue_qr=f"http://127.0.0.1:8080/s/{stack.market_code}")
    response = client.post("/api/v1/checkins", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted" and response.json()["name"] is None
    key, raw = wait_published(stack.settings, {body["event_id"]})[body["event_id"]]
    assert key == stack.persons[0]
    assert raw.source is ScanSource.self_checkin and raw.device_id is None and raw.direction.value == "in"


def test_a_printed_card_alone_does_not_check_its_owner_in(stack: Stack, client: httpx.Client,
                                                          phones: list[Phone]) -> None:
    body = {"event_id": str(uuid.uuid4()), "venue_qr": stack.market_code, "person_qr": stack.codes[0],
            "direction": "in"}
    answer = client.post("/api/v1/checkins", json=body).json()
    assert (answer["status"], answer["reason"]) == ("refused", "enrolment_required")
    assert "guard" in answer["message"] and "enrol" in answer["message"]


def test_a_self_checkin_at_a_forged_venue_is_refused_and_not_published(stack: Stack, client: httpx.Client) -> None:
    body = {"event_id": str(uuid.uuid4()), "venue_qr": forged(stack.market_code), "person_qr": stack.codes[0],
            "direction": "out"}
    response = client.post("/api/v1/checkins", json=body)
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["reason"]) == ("refused", "bad_signature")


def test_the_device_endpoint_says_who_is_logged_in(stack: Stack, client: httpx.Client) -> None:
    response = client.get("/api/v1/device", headers=stack.bearer(stack.guard))
    assert response.status_code == 200
    assert response.json() == {"device_id": stack.guard[0], "kind": "guard_phone", "mode": "entry",
                               "venue_id": stack.market, "venue_name": "Chợ Thủ Dầu Một", "privileged": False}


def test_a_code_can_be_checked(stack: Stack, client: httpx.Client) -> None:
    assert client.post("/api/v1/codes/check", json={"code": stack.codes[0], "expect": "P"}).json() == \
        {"valid": True, "kind": "P", "reason": None, "message": None}
    answer = client.post("/api/v1/codes/check", json={"code": stack.codes[0][:20], "expect": "P"}).json()
    assert (answer["valid"], answer["reason"]) == (False, "truncated")


def test_a_device_registered_after_the_gateway_started_is_let_in_at_once(stack: Stack, client: httpx.Client) -> None:
    registry = Registry(stack.settings, stack.settings.kafka_bootstrap)
    device, token = registry.add_device(venue_id=stack.market, kind=DeviceKind.reader_station)
    registry.close()
    response = client.post("/api/v1/scans", json=scan(stack.codes[0]),
                           headers={"Authorization": f"Bearer {device.device_id}:{token}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("headers, status, error", [
    ({}, 401, "missing_credentials"),
    # A bearer without a colon is not a device's: it is taken for a guard's sign-in session.
    ({"Authorization": "Bearer no-colon-here"}, 401, "not_signed_in"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "missing_credentials"),
    ({"Authorization": "Bearer DBBBBBBBBBBBBBB:some-token"}, 401, "unknown_device"),
    ("bad token", 401, "bad_token"),
    ("inactive", 403, "device_inactive"),
])
def test_devices_that_cannot_prove_who_they_are_are_refused(stack: Stack, client: httpx.Client, headers, status,
                                                            error) -> None:
    if headers == "bad token":
        headers = {"Authorization": f"Bearer {stack.guard[0]}:not-the-token"}
    elif headers == "inactive":
        headers = stack.bearer(stack.inactive)
    response = client.post("/api/v1/scans", json=scan(stack.codes[0]), headers=headers)
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert response.json()["message"]
    if error == "not_signed_in":
        assert "<device id>:<token>" in response.json()["message"]
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("body, status, error", [
    (b'{"event_id": "', 400, "malformed_json"),
    (b"\xff\xfe not even text", 400, "malformed_json"),
    (b'{"person_qr": "RV"}', 422, "invalid_request"),
    (b'[1, 2, 3]', 422, "invalid_request"),
    (json.dumps({"event_id": "not-a-uuid", "person_qr": "X"}).encode(), 422, "invalid_request"),
    (json.dumps({"event_id": str(uuid.uuid4()), "person_qr": "X", "scanned_at": "2026-01-02T07:30:00"}).encode(),
     422, "invalid_request"),  # a time without a zone
    (json.dumps({"event_id": str(uuid.uuid4()), "person_qr": "X", "colour": "red"}).encode(), 422, "invalid_request"),
])
def test_bodies_that_are_not_a_scan_get_a_json_error(stack: Stack, client: httpx.Client, body: bytes, status: int,
                                                     error: str) -> None:
    response = client.post("/api/v1/scans", content=body,
                           headers={**stack.bearer(stack.guard), "Content-Type": "application/json"})
    assert (response.status_code, response.json()["error"]) == (status, error), response.text


def test_batches_must_hold_1_to_500_scans(stack: Stack, client: httpx.Client) -> None:
    for scans in ([], [scan(stack.codes[0]) for _ in range(501)]):
        response = client.post("/api/v1/scans/batch", json={"scans": scans}, headers=stack.bearer(stack.guard))
        assert (response.status_code, response.json()["error"]) == (422, "invalid_request")


def test_an_oversized_body_gets_413_whether_or_not_it_says_its_length(stack: Stack, client: httpx.Client) -> None:
    big = json.dumps({"scans": [scan("X" * 500) for _ in range(2500)]}).encode()  # about 1.4 MB
    response = client.post("/api/v1/scans/batch", content=big,
                           headers={**stack.bearer(stack.station), "Content-Type": "application/json"})
    assert (response.status_code, response.json()["error"]) == (413, "body_too_large")

    url = urlparse(str(client.base_url))
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        connection.putrequest("POST", "/api/v1/scans/batch")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Authorization", stack.bearer(stack.station)["Authorization"])
        connection.endheaders()
        for start in range(0, len(big), 64 * 1024):
            chunk = big[start:start + 64 * 1024]
            try:
                connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break  # the gateway answered and closed before the rest was sent
        else:
            connection.send(b"0\r\n\r\n")
        reply = connection.getresponse()
        assert reply.status == 413 and json.loads(reply.read())["error"] == "body_too_large"
    finally:
        connection.close()


def test_unknown_paths_and_methods_get_a_json_error(client: httpx.Client) -> None:
    response = client.get("/api/v1/nothing-here")
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    response = client.get("/api/v1/scans")
    assert (response.status_code, response.json()["error"]) == (405, "method_not_allowed")


def test_a_device_over_its_rate_gets_429_with_retry_after(stack: Stack, client: httpx.Client) -> None:
    # The default bucket holds 1000 scans and refills 50 a second: three batches of 500 at once overflow it.
    statuses = []
    for _ in range(3):
        batch = {"scans": [scan(stack.codes[0]) for _ in range(500)]}
        response = client.post("/api/v1/scans/batch", json=batch, headers=stack.bearer(stack.spare))
        statuses.append(response.status_code)
    assert statuses[:2] == [200, 200] and statuses[2] == 429
    assert response.json()["error"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1 and response.json()["retry_after"] >= 1


def test_a_person_checking_in_too_often_gets_429(stack: Stack, client: httpx.Client, phones: list[Phone]) -> None:
    statuses = []
    for _ in range(7):
        statuses.append(client.post("/api/v1/checkins", json=signed(stack, phones, 1)).status_code)
    assert statuses[:5] == [200] * 5 and statuses[-1] == 429


def test_the_openapi_document_is_served_and_no_docs_page_runs_beside_the_guard_page(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/scans", "/api/v1/scans/batch", "/api/v1/checkins", "/api/v1/device"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["device"]["scheme"] == "bearer"
    # Swagger UI and ReDoc load scripts from a CDN: not on the origin of the device token.
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404, path


def test_the_pages_are_served_with_nothing_from_elsewhere(stack: Stack, client: httpx.Client) -> None:
    page = client.get(f"/s/{stack.market_code}")
    assert page.status_code == 200 and "Chợ Thủ Dầu Một" in page.text and "Vào" in page.text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert client.get("/s/RVBKBNOTAVENUECODE").status_code == 404
    guard = client.get("/guard")
    assert guard.status_code == 200 and "Đăng nhập" in guard.text
    for path in ("/static/vendor/jsQR.js", "/static/common.js", "/static/guard.js", "/static/checkin.js",
                 "/static/app.css"):
        assert client.get(path).status_code == 200, path
    for text in (page.text, guard.text, client.get("/static/app.css").text):
        assert "http://" not in text and "https://" not in text and "//" + "cdn" not in text


def test_a_device_sending_another_venues_code_is_refused_at_once(stack: Stack, client: httpx.Client) -> None:
    hospital_code = stack.codec.encode(stack.hospital)
    scans = [scan(stack.codes[0], venue_qr=hospital_code), scan(stack.codes[0], venue_qr=stack.market_code)]
    response = client.post("/api/v1/scans/batch", json={"scans": scans}, headers=stack.bearer(stack.station))
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["status"], r["show"], r["reason"]) for r in results] == [
        ("refused", "refused", "device_not_authorised"), ("accepted", "ok", None)]
    assert "another venue" in results[0]["message"]
    wait_published(stack.settings, {scans[1]["event_id"]})
    assert scans[0]["event_id"] not in {str(s.event_id) for _, s in published(stack.settings)}


def test_a_device_scan_dated_outside_the_accepted_window_is_refused_at_once(stack: Stack, client: httpx.Client) -> None:
    # The worker's window: RAVAO_ACCEPTED_LATENESS_HOURS (48) back, RAVAO_FUTURE_TOLERANCE_MINUTES (15) ahead.
    code = stack.codes[2]
    scans = [scan(code, scanned_at=ago(hours=72)), scan(code, scanned_at="9999-01-01T00:00:00Z"),
             scan(code, scanned_at=ago(minutes=-30)), scan(code, scanned_at=ago(hours=47)),
             scan(code, scanned_at=ago(minutes=-5))]
    response = client.post("/api/v1/scans/batch", json={"scans": scans}, headers=stack.bearer(stack.station))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [r["reason"] for r in answer["results"]] == ["too_late", "future_scan", "future_scan", None, None]
    assert (answer["accepted"], answer["refused"]) == (2, 3)
    assert all("clock" in r["message"] for r in answer["results"][:3])
    wait_published(stack.settings, {scans[3]["event_id"], scans[4]["event_id"]})
    assert not {s["event_id"] for s in scans[:3]} & {str(s.event_id) for _, s in published(stack.settings)}


def test_a_self_checkin_sent_long_ago_or_ahead_is_refused_with_a_reason(stack: Stack, client: httpx.Client,
                                                                        phones: list[Phone]) -> None:
    # The signed sending time must be within RAVAO_GATEWAY_SELF_CLOCK_SKEW_SECONDS of arrival
    # (a wrong phone clock, or a request replayed later); the scan time within the lateness.
    phone = {"X-Forwarded-For": "10.9.0.1"}
    now = datetime.now(timezone.utc)
    cases = [({"sent_at": now - timedelta(hours=40)}, "too_late"), ({"sent_at": now - timedelta(minutes=10)}, "too_late"),
             ({"sent_at": now + timedelta(minutes=10)}, "future_scan"),
             ({"scanned_at": now - timedelta(hours=49)}, "too_late"), ({"sent_at": now - timedelta(minutes=1)}, None)]
    bodies = []
    for times, reason in cases:
        bodies.append(signed(stack, phones, 0, **times))
        answer = client.post("/api/v1/checkins", json=bodies[-1], headers=phone).json()
        assert (answer["status"], answer["reason"]) == ("refused" if reason else "accepted", reason), answer
    wait_published(stack.settings, {bodies[-1]["event_id"]})
    assert not {b["event_id"] for b in bodies[:-1]} & {str(s.event_id) for _, s in published(stack.settings)}


def test_a_client_flooding_forged_codes_is_limited_without_locking_the_person_out(stack: Stack,
                                                                                  client: httpx.Client,
                                                                                  phones: list[Phone]) -> None:
    # One address sends 60 forged codes at once: its bucket (30 at once, 1 a second) empties.
    attacker = {"X-Forwarded-For": "10.66.0.1"}
    statuses = [client.post("/api/v1/checkins", json=checkin(forged(stack.codes[1]), venue_qr=stack.market_code),
                            headers=attacker).status_code for _ in range(60)]
    assert statuses[:30] == [200] * 30 and statuses.count(429) >= 20, statuses
    # Another address floods the person's genuine code (a photo of the card): refused, and
    # limited there too.
    photo = {"X-Forwarded-For": "10.66.0.2"}
    answers = [client.post("/api/v1/checkins", json=checkin(stack.codes[1], venue_qr=stack.market_code),
                           headers=photo) for _ in range(35)]
    assert {a.json()["reason"] for a in answers[:30]} == {"enrolment_required"}
    assert answers[-1].status_code == 429
    # The person, from their own phone, still checks in.
    own = client.post("/api/v1/checkins", json=signed(stack, phones, 1), headers={"X-Forwarded-For": "10.7.0.1"})
    assert (own.status_code, own.json()["status"]) == (200, "accepted"), own.text


def test_an_address_failing_to_log_in_is_limited_while_a_device_there_still_gets_in(stack: Stack,
                                                                                     client: httpx.Client) -> None:
    guesser = {"X-Forwarded-For": "10.66.1.1"}
    statuses = [client.get("/api/v1/device", headers={**guesser, "Authorization": f"Bearer {stack.guard[0]}:guess{i}"})
                .status_code for i in range(30)]
    assert statuses[:20] == [401] * 20 and statuses[-1] == 429, statuses
    limited = client.post("/api/v1/scans", json=scan(stack.codes[0]),
                          headers={**guesser, "Authorization": f"Bearer {stack.guard[0]}:guess"})
    assert (limited.status_code, limited.json()["error"]) == (429, "rate_limited") and limited.headers["Retry-After"]
    right = client.get("/api/v1/device", headers={**guesser, **stack.bearer(stack.guard)})
    assert right.status_code == 200, right.text


def test_an_invalid_request_echoes_only_a_bounded_answer(stack: Stack, client: httpx.Client) -> None:
    body = {"event_id": str(uuid.uuid4()), "person_qr": "X", "k" * 900_000: 1}
    response = client.post("/api/v1/scans", json=body, headers=stack.bearer(stack.guard))
    assert (response.status_code, response.json()["error"]) == (422, "invalid_request")
    assert len(response.content) < 2048, len(response.content)
    many = {"scans": [{"event_id": "x" * 300, "person_qr": 1, "direction": "sideways", "y" * 500: 2}] * 500}
    response = client.post("/api/v1/scans/batch", json=many, headers=stack.bearer(stack.station))
    assert response.status_code == 422 and len(response.content) < 16_384, len(response.content)


def test_a_name_shown_in_full_at_a_privileged_venue_is_audited_with_the_scan(stack: Stack, client: httpx.Client) -> None:
    from pipeline.kafka_io import read_to_end
    from pipeline.topics import topics_for
    from schemas import AuditRecord

    topic = topics_for(stack.settings).audit.name
    before = len(list(read_to_end(stack.settings.kafka_bootstrap, topic)))
    scan = {"event_id": str(uuid.uuid4()), "person_qr": stack.codes[0], "direction": "in"}
    shown = client.post("/api/v1/scans", json=scan, headers=stack.bearer(stack.hospital_guard)).json()
    assert shown["status"] == "accepted" and "*" not in shown["name"]
    masked = client.post("/api/v1/scans", json={**scan, "event_id": str(uuid.uuid4())},
                         headers=stack.bearer(stack.guard)).json()
    assert "*" in masked["name"]
    records = [AuditRecord.from_bytes(v) for _, v, _, _ in read_to_end(stack.settings.kafka_bootstrap, topic)][before:]
    assert [(r.action, r.subject, r.persons) for r in records] == [
        ("guard_screen", stack.hospital, (stack.persons[0],))]
    assert records[0].actor == f"device:{stack.hospital_guard[0]}"


def test_the_gateway_counts_requests_and_scans_and_serves_them_to_loopback_only(stack: Stack,
                                                                                client: httpx.Client) -> None:
    def scraped() -> dict:
        answer = client.get("/metrics")
        assert answer.status_code == 200, answer.text
        return parsed(answer.text)

    before = scraped()
    code = stack.codes[2]
    scans = [scan(code), scan(code[:-3]), scan(forged(code))]
    assert client.post("/api/v1/scans/batch", json={"scans": scans}, headers=stack.bearer(stack.station)).status_code == 200
    after = scraped()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("ravao_gateway_scans_total", kind="device", outcome="accepted") == 1
    assert moved("ravao_gateway_scans_total", kind="device", outcome="refused", reason="truncated") == 1
    assert moved("ravao_gateway_scans_total", kind="device", outcome="refused", reason="bad_signature") == 1
    assert moved("ravao_gateway_requests_total", route="/api/v1/scans/batch", method="POST", status="200") == 1
    assert moved("ravao_gateway_request_seconds_count", route="/api/v1/scans/batch") == 1
    # From the internet through the trusted proxy (RAVAO_GATEWAY_TRUSTED_PROXIES: loopback):
    # the client is the forwarded address, and there is nothing here for it.
    outside = client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"})
    assert outside.status_code == 404 and "ravao_" not in outside.text
