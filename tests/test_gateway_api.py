"""The gateway's API end to end: a real `ravao gateway` process on loopback, the real
broker, and what it published read back from scans.raw."""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from gateway_helpers import Stack, published, register, start_gateway, stop_gateway, wait_published
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


def scan(code: str, **fields) -> dict:
    return {"event_id": str(uuid.uuid4()), "person_qr": code, **fields}


def forged(code: str) -> str:
    """The code with one signature symbol changed and the check symbol made right again:
    well-formed, but not signed by our key."""
    from schemas.ids import ALPHABET, luhn_check_symbol

    body = code[:-2] + ALPHABET[(ALPHABET.index(code[-2]) + 1) % len(ALPHABET)]
    return body + luhn_check_symbol(body)


def test_a_guard_scan_is_published_under_the_person_and_shows_the_masked_name(stack: Stack, client: httpx.Client) -> None:
    body = scan(stack.codes[0], scanned_at="2026-01-02T07:30:00+07:00")
    response = client.post("/api/v1/scans", json=body, headers=stack.bearer(stack.guard))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer == {"event_id": body["event_id"], "status": "accepted", "show": "ok", "direction": "in",
                      "name": "Nguyễn V** A*", "reason": None, "message": None}
    key, raw = wait_published(stack.settings, {body["event_id"]})[body["event_id"]]
    assert key == stack.persons[0]  # keyed by person: the worker pairs it without another hop
    assert raw.source is ScanSource.staff and raw.device_id == stack.guard[0] and raw.person_qr == stack.codes[0]
    assert raw.scanned_at == datetime(2026, 1, 2, 0, 30, tzinfo=timezone.utc)


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


def test_a_self_checkin_is_published_under_the_person_without_a_name(stack: Stack, client: httpx.Client) -> None:
    body = {"event_id": str(uuid.uuid4()), "venue_qr": f"http://127.0.0.1:8080/s/{stack.market_code}",
            "person_qr": stack.codes[0], "direction": "in"}
    response = client.post("/api/v1/checkins", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted" and response.json()["name"] is None
    key, raw = wait_published(stack.settings, {body["event_id"]})[body["event_id"]]
    assert key == stack.persons[0]
    assert raw.source is ScanSource.self_checkin and raw.device_id is None and raw.direction.value == "in"


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
    ({"Authorization": "Bearer no-colon-here"}, 401, "missing_credentials"),
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


def test_a_person_checking_in_too_often_gets_429(stack: Stack, client: httpx.Client) -> None:
    statuses = []
    for _ in range(7):
        body = {"event_id": str(uuid.uuid4()), "venue_qr": stack.market_code, "person_qr": stack.codes[1],
                "direction": "in"}
        statuses.append(client.post("/api/v1/checkins", json=body).status_code)
    assert statuses[:5] == [200] * 5 and statuses[-1] == 429


def test_the_openapi_document_and_the_docs_page_are_served(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/scans", "/api/v1/scans/batch", "/api/v1/checkins", "/api/v1/device"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["device"]["scheme"] == "bearer"
    assert client.get("/docs").status_code == 200


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
