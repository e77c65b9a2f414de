"""Sign-in over HTTP, through the real router in a real FastAPI app (TestClient): the
code goes to the console log in the embedded default, the answer never tells whether a
phone has an account, and a session is a cookie that sign-out, expiry and a disabled
account end."""

from __future__ import annotations

import logging
import re

import pytest

from conftest import Clock
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from pipeline.access.caller import Caller, Role
from pipeline.access.codes import OneTimeCodes
from pipeline.access.directory import AccountDirectory
from pipeline.access.http import COOKIE, SignIn, current_caller, install_sign_in
from pipeline.access.sessions import Sessions
from pipeline.settings import Settings
from schemas import Account, Venue, VenueCategory

OWNER, STAFF, NOBODY = "0981234791", "0912345678", "0907777777"
VENUE_ID = "VEXBBBBBBBBBBBB"



@pytest.fixture
def directory() -> AccountDirectory:
    directory = AccountDirectory()
    venue = Venue(venue_id=VENUE_ID, name="Chợ", area_id="25741", area_path=("74", "718", "25741"),
                  category=VenueCategory.market, default_stay_minutes=60, max_stay_minutes=240,
                  owner_phone=OWNER, staff_phones=(STAFF,))
    directory.apply_venue(VENUE_ID.encode(), venue.to_bytes())
    return directory


@pytest.fixture
def app(directory: AccountDirectory, clock: Clock) -> FastAPI:
    settings = Settings(session_cookie_secure=False)
    app = FastAPI()
    install_sign_in(app, SignIn(settings, directory, codes=OneTimeCodes(settings, clock=clock),
                                sessions=Sessions(directory, settings, clock=clock)))

    @app.get("/mine")
    def mine(caller: Caller = Depends(current_caller)) -> dict:
        return {"actor": caller.actor, "venues": sorted(caller.venues())}

    return app


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


def code_from_console(caplog: pytest.LogCaptureFixture) -> str:
    found = re.findall(r"SMS to \S+: ravao: (\d{6}) ", caplog.text)
    assert found, caplog.text
    return found[-1]


def sign_in(client: TestClient, caplog: pytest.LogCaptureFixture, phone: str) -> dict:
    with caplog.at_level(logging.INFO, logger="ravao.sms"):
        assert client.post("/api/v1/session/code", json={"phone": phone}).status_code == 202
    answer = client.post("/api/v1/session", json={"phone": phone, "code": code_from_console(caplog)})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_venue_owner_signs_in_with_the_code_from_the_console(client: TestClient,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    session = sign_in(client, caplog, "+84981234791")
    assert session["actor"] == "098****791"
    assert session["grants"] == [{"role": "venue_owner", "venue_id": VENUE_ID, "area_id": None}]
    assert OWNER not in caplog.text  # the console shows the phone masked
    assert client.get("/api/v1/session").json()["grants"] == session["grants"]
    assert client.get("/mine").json() == {"actor": "098****791", "venues": [VENUE_ID]}


def test_the_cookie_is_http_only_and_same_site_strict(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ravao.sms"):
        client.post("/api/v1/session/code", json={"phone": OWNER})
    answer = client.post("/api/v1/session", json={"phone": OWNER, "code": code_from_console(caplog)})
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith(f"{COOKIE}=") and "httponly" in cookie and "samesite=strict" in cookie
    assert "secure" not in cookie  # plain http on loopback, as the settings say


def test_the_cookie_is_secure_by_default_off_loopback() -> None:
    assert Settings(public_url="https://ravao.example.org").cookie_secure
    assert not Settings(public_url="http://127.0.0.1:8080").cookie_secure
    assert Settings(public_url="http://127.0.0.1:8080", session_cookie_secure=True).cookie_secure


def test_asking_for_a_code_answers_the_same_whether_the_phone_has_an_account(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ravao.sms"):
        known = client.post("/api/v1/session/code", json={"phone": OWNER})
        unknown = client.post("/api/v1/session/code", json={"phone": NOBODY})
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.status_code == 202
    assert caplog.text.count("SMS to ") == 1  # only the account's phone is sent a code


def test_a_bearer_token_works_like_the_cookie(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    sign_in(client, caplog, OWNER)
    token = client.cookies[COOKIE]
    client.cookies.clear()
    assert client.get("/mine").status_code == 401
    assert client.get("/mine", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_without_a_session_it_is_401(client: TestClient) -> None:
    for answer in (client.get("/api/v1/session"), client.get("/mine"),
                   client.get("/mine", headers={"Authorization": "Bearer forged"})):
        assert answer.status_code == 401 and answer.json()["error"] == "not_signed_in"


def test_sign_out_ends_the_session(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    sign_in(client, caplog, OWNER)
    token = client.cookies[COOKIE]
    assert client.delete("/api/v1/session").status_code == 204
    assert client.get("/mine", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_an_expired_session_is_refused(client: TestClient, caplog: pytest.LogCaptureFixture, clock: Clock) -> None:
    sign_in(client, caplog, OWNER)
    clock.now += Settings().session_idle_seconds
    assert client.get("/mine").status_code == 401


def test_a_disabled_user_is_refused_at_once(client: TestClient, caplog: pytest.LogCaptureFixture,
                                            directory: AccountDirectory) -> None:
    sign_in(client, caplog, STAFF)
    assert client.get("/mine").status_code == 200
    disabled = Account(phone=STAFF, role=Role.venue_staff, venue_id=VENUE_ID, active=False, added_by="admin:ops")
    directory.apply_account(STAFF.encode(), disabled.to_bytes())
    assert client.get("/mine").status_code == 401
    with caplog.at_level(logging.INFO, logger="ravao.sms"):
        assert client.post("/api/v1/session/code", json={"phone": STAFF}).status_code == 202
    assert caplog.text.count("SMS to ") == 1  # the first sign-in's only: none for a disabled phone


def test_a_used_code_fails(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ravao.sms"):
        client.post("/api/v1/session/code", json={"phone": OWNER})
    code = code_from_console(caplog)
    assert client.post("/api/v1/session", json={"phone": OWNER, "code": code}).status_code == 200
    again = client.post("/api/v1/session", json={"phone": OWNER, "code": code})
    assert again.status_code == 401 and again.json()["error"] == "code_used"


def test_an_expired_code_fails(client: TestClient, caplog: pytest.LogCaptureFixture, clock: Clock) -> None:
    with caplog.at_level(logging.INFO, logger="ravao.sms"):
        client.post("/api/v1/session/code", json={"phone": OWNER})
    clock.now += Settings().code_ttl_seconds
    late = client.post("/api/v1/session", json={"phone": OWNER, "code": code_from_console(caplog)})
    assert late.status_code == 401 and late.json()["error"] == "code_expired"


def test_five_wrong_codes_end_it_and_the_sixth_try_waits(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ravao.sms"):
        client.post("/api/v1/session/code", json={"phone": OWNER})
    code = code_from_console(caplog)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert client.post("/api/v1/session", json={"phone": OWNER, "code": wrong}).json()["error"] == "wrong_code"
    throttled = client.post("/api/v1/session", json={"phone": OWNER, "code": code})
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0


def test_asking_for_codes_too_often_is_429_with_retry_after(client: TestClient) -> None:
    answers = [client.post("/api/v1/session/code", json={"phone": NOBODY}) for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0


def test_not_a_phone_is_422_without_echoing_it(client: TestClient) -> None:
    answer = client.post("/api/v1/session/code", json={"phone": "12-secret-34"})
    assert answer.status_code == 422 and "secret" not in answer.text


def test_a_stranger_is_throttled_by_address_and_the_owner_signs_in_soon_after(
        app: FastAPI, caplog: pytest.LogCaptureFixture, clock: Clock) -> None:
    owner = TestClient(app, client=("10.0.0.7", 40000))
    stranger = TestClient(app, client=("203.0.113.9", 40000))
    assert owner.post("/api/v1/session/code", json={"phone": OWNER}).status_code == 202
    for guess in range(5):
        assert stranger.post("/api/v1/session", json={"phone": OWNER, "code": f"{guess:06d}"}).status_code == 401
    assert stranger.post("/api/v1/session", json={"phone": OWNER, "code": "000009"}).status_code == 429
    clock.now += Settings().code_phone_lockout_seconds
    session = sign_in(owner, caplog, OWNER)
    assert session["actor"] == "098****791"
    still = stranger.post("/api/v1/session", json={"phone": OWNER, "code": "000010"})
    assert still.status_code == 429  # the address waits far longer than the phone's lock


def test_a_stranger_rotating_addresses_within_one_ipv6_network_is_throttled_as_one_address(
        app: FastAPI, caplog: pytest.LogCaptureFixture) -> None:
    """An IPv6 subscriber holds a /64 (2^64 addresses): counted per address, the limit
    would never bite. Guessing codes for many phones, one address each of the network."""
    tries = Settings().code_client_tries
    answers = [TestClient(app, client=(f"2001:db8:1:2::{i:x}", 40000)).post(
        "/api/v1/session", json={"phone": f"09050000{i:02d}", "code": "000000"}).status_code
        for i in range(1, tries + 3)]
    assert answers == [401] * tries + [429, 429]
    # Another network, and IPv4 as before, are not held back by it.
    assert TestClient(app, client=("2001:db8:1:3::1", 40000)).post(
        "/api/v1/session", json={"phone": "0905000099", "code": "000000"}).status_code == 401
    assert TestClient(app, client=("::ffff:198.51.100.7", 40000)).post(
        "/api/v1/session", json={"phone": "0905000098", "code": "000000"}).status_code == 401
