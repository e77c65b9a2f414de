"""The read API of `ravao web`, role by role and scope by scope, through real sign-in
(phone and one-time code) on the real app, over the real engine (chdb): what each
signed-in caller may read comes back, everything else is refused by URL, and no session,
an expired one, a signed-out one or a disabled user reads nothing."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest

from conftest import Clock
from fastapi.testclient import TestClient

from dashboards.web import create_app
from pipeline.access.caller import Role
from pipeline.access.codes import OneTimeCodes
from pipeline.access.directory import AccountDirectory
from pipeline.access.http import SignIn
from pipeline.access.sessions import Sessions
from pipeline.settings import Settings
from schemas import Account, PersonalData, ValidScan, VenueCategory
from warehouse_day import generate_day, load_day, load_records  # noqa: F401
from warehouse_day import backend_settings, warehouse  # noqa: F401 (fixtures)

COMMUNE_OFFICER, DISTRICT_OFFICER, TRACER, ADMIN, DISABLED = (
    "0901000001", "0901000002", "0901000003", "0901000004", "0901000005")
OWNER, HOSPITAL_STAFF = "0981234791", "0912000001"



@pytest.fixture
def day(warehouse):  # noqa: F811
    generated = generate_day(persons=80, venues=6, seed=5)
    venues = generated.venues
    venues[0] = venues[0].model_copy(update={"privileged": True, "category": VenueCategory.hospital,
                                             "owner_phone": "0981111111", "staff_phones": (HOSPITAL_STAFF,)})
    load_day(warehouse, generated)
    load_records(warehouse, "scans_incoming", ValidScan, generated.unique_scans())
    load_records(warehouse, "personal_data", PersonalData, generated.personal, "person_id")
    return generated


@pytest.fixture
def directory(day) -> AccountDirectory:
    directory = AccountDirectory()
    # Only the first venue of the other commune is OWNER's: every generated venue has the
    # same owner phone, so the test's owner owns the ones it is given.
    for venue in [day.venues[0], day.venues[1]]:
        directory.apply_venue(venue.venue_id.encode(), venue.to_bytes())
    for phone, role, area in [(COMMUNE_OFFICER, Role.area_officer, "25741"),
                              (DISTRICT_OFFICER, Role.area_officer, "718"), (TRACER, Role.tracer, None),
                              (ADMIN, Role.admin, None), (DISABLED, Role.area_officer, "74")]:
        account = Account(phone=phone, role=role, area_id=area, active=phone != DISABLED, added_by="test")
        directory.apply_account(phone.encode(), account.to_bytes())
    return directory


@pytest.fixture
def client(warehouse, backend_settings, directory, clock):  # noqa: F811
    settings = backend_settings.model_copy(update={"session_cookie_secure": False})
    sign_in = SignIn(settings, directory, codes=OneTimeCodes(settings, clock=clock),
                     sessions=Sessions(directory, settings, clock=clock))
    with TestClient(create_app(settings, warehouse=warehouse, sign_in=sign_in)) as client:
        yield client


def signed_in(client: TestClient, caplog, phone: str) -> TestClient:
    with caplog.at_level(logging.INFO, logger="ravao.sms"):
        assert client.post("/api/v1/session/code", json={"phone": phone}).status_code == 202
    code = re.findall(r"SMS to \S+: ravao: (\d{6}) ", caplog.text)[-1]
    answer = client.post("/api/v1/session", json={"phone": phone, "code": code})
    assert answer.status_code == 200, answer.text
    return client


def rows(answer) -> list[dict]:
    assert answer.status_code == 200, answer.text
    return answer.json()["rows"]


def counts_url(area: str, day) -> str:
    return f"/api/v1/areas/{area}/counts?from_day={day.day.isoformat()}&to_day={day.day.isoformat()}"


def test_without_a_session_every_read_is_refused(client, day) -> None:
    venue, person = day.venues[1].venue_id, day.persons[0]
    for url in [counts_url("74", day), "/api/v1/areas/74/hours", "/api/v1/areas/74/idle-venues",
                f"/api/v1/venues/{venue}/visits", f"/api/v1/venues/{venue}/inside",
                f"/api/v1/persons/{person}/visits?case=C", f"/api/v1/trace/{person}?case=C", "/api/v1/audit"]:
        answer = client.get(url)
        assert answer.status_code == 401 and "sign in" in answer.json()["message"], url
        forged = client.get(url, headers={"Authorization": "Bearer " + "A" * 43})
        assert forged.status_code == 401, url


def test_a_commune_officer_reads_their_commune_and_is_refused_the_neighbouring_one_and_above(
        client, caplog, day) -> None:
    signed_in(client, caplog, COMMUNE_OFFICER)
    own = rows(client.get(counts_url("25741", day)))
    scans = [s for s in day.unique_scans() if "25741" in s.area_path and s.scanned_at.date() == day.day]
    assert own[0]["area_id"] == "25741" and own[0]["scans"] == len(scans)
    # The declaration counts, against a direct recount of the scans' statuses.
    assert (own[0]["scans_declared"], own[0]["scans_with_symptoms"]) == (
        sum(s.declaration.value != "none" for s in scans), sum(s.declaration.value == "symptoms" for s in scans))
    assert 0 < own[0]["scans_with_symptoms"] < own[0]["scans_declared"]
    hours = rows(client.get("/api/v1/areas/25741/hours", params={
        "from": f"{day.day.isoformat()}T00:00Z", "to": f"{(day.day + timedelta(days=1)).isoformat()}T00:00Z"}))
    assert sum(h["scans"] for h in hours) == len(scans)
    assert sum(h["scans_declared"] for h in hours) == own[0]["scans_declared"]
    assert sum(h["scans_with_symptoms"] for h in hours) == own[0]["scans_with_symptoms"]
    for area in ["25744", "718", "74", "25777", "99999"]:
        answer = client.get(counts_url(area, day))
        assert answer.status_code == 403 and "outside what you may see" in answer.json()["error"], area
        assert client.get(f"/api/v1/areas/{area}/idle-venues").status_code == 403


def test_a_district_officer_reads_the_district_and_each_commune_in_it(client, caplog, day) -> None:
    signed_in(client, caplog, DISTRICT_OFFICER)
    district = rows(client.get(counts_url("718", day)))
    assert {r["area_id"] for r in district} >= {"718", "25741", "25744"}
    for commune in ["25741", "25744"]:
        assert rows(client.get(counts_url(commune, day)))[0]["area_id"] == commune
    assert client.get(counts_url("719", day)).status_code == 403
    assert client.get(counts_url("74", day)).status_code == 403


def test_a_venue_owner_reads_their_venues_feed_masked_and_not_another_venues(client, caplog, day) -> None:
    signed_in(client, caplog, OWNER)
    mine, other = day.venues[1], next(v for v in day.venues[2:] if v.venue_id != day.venues[1].venue_id)
    start = day.start.isoformat().replace("+00:00", "Z")
    feed = rows(client.get(f"/api/v1/venues/{mine.venue_id}/visits", params={"from": start, "to": "now"}))
    names = {p.person_id: p.full_name for p in day.personal}
    assert feed and all(r["full_name"] != names[r["person_id"]] and "*" in r["full_name"]
                        for r in feed if r["person_id"] in names)
    assert client.get(f"/api/v1/venues/{other.venue_id}/visits").status_code == 403
    assert client.get(f"/api/v1/venues/{other.venue_id}/inside").status_code == 403
    assert client.get(counts_url("25741", day)).status_code == 403
    assert client.get(f"/api/v1/trace/{day.persons[0]}?case=C").status_code == 403


def test_staff_of_a_privileged_venue_read_it_in_full(client, caplog, warehouse, day) -> None:  # noqa: F811
    signed_in(client, caplog, HOSPITAL_STAFF)
    hospital = day.venues[0]
    start = day.start.isoformat().replace("+00:00", "Z")
    feed = rows(client.get(f"/api/v1/venues/{hospital.venue_id}/visits", params={"from": start, "to": "now"}))
    names = {p.person_id: p.full_name for p in day.personal}
    shown = [r for r in feed if r["person_id"] in names]
    assert shown and all(r["full_name"] == names[r["person_id"]] for r in shown)


def test_a_tracer_traces_for_a_case_and_an_admin_reads_the_trail(client, caplog, day) -> None:
    case = day.cases[0]
    signed_in(client, caplog, TRACER)
    assert client.get(f"/api/v1/trace/{case.person_id}").status_code == 403  # no case named
    contacts = rows(client.get(f"/api/v1/trace/{case.person_id}", params={
        "case": case.case_id, "from": day.start.isoformat().replace("+00:00", "Z"), "min_overlap": "1s",
        "names": "true"}))
    assert contacts and all("full_name" in r for r in contacts)
    assert client.get("/api/v1/audit").status_code == 403
    client.delete("/api/v1/session")
    signed_in(client, caplog, ADMIN)
    trail = rows(client.get("/api/v1/audit", params={"actor": TRACER}))
    assert [(r["action"], r["purpose"]) for r in trail] == [("trace_with_names", case.case_id)]


def test_an_expired_or_signed_out_session_and_a_disabled_user_read_nothing(client, caplog, clock, day,
                                                                          directory) -> None:
    with caplog.at_level(logging.INFO, logger="ravao.sms"):
        assert client.post("/api/v1/session/code", json={"phone": DISABLED}).status_code == 202
    assert not re.findall(r"SMS to \S+: ravao: (\d{6}) ", caplog.text)  # a disabled user gets no code
    signed_in(client, caplog, COMMUNE_OFFICER)
    assert client.get(counts_url("25741", day)).status_code == 200
    clock.now += timedelta(hours=9).total_seconds()
    assert client.get(counts_url("25741", day)).status_code == 401
    signed_in(client, caplog, COMMUNE_OFFICER)
    client.delete("/api/v1/session")
    assert client.get(counts_url("25741", day)).status_code == 401
    signed_in(client, caplog, COMMUNE_OFFICER)
    account = Account(phone=COMMUNE_OFFICER, role=Role.area_officer, area_id="25741", active=False, added_by="t")
    directory.apply_account(COMMUNE_OFFICER.encode(), account.to_bytes())
    assert client.get(counts_url("25741", day)).status_code == 401


def test_a_time_or_duration_out_of_range_is_a_422_that_says_what_to_give_not_a_500(client, caplog, day) -> None:
    signed_in(client, caplog, TRACER)
    person, case = day.cases[0].person_id, day.cases[0].case_id
    for url, params in [("/api/v1/areas/74/hours", {"from": "now-99999999d"}),
                        ("/api/v1/areas/74/counts", {"from_day": "now+99999999d"}),
                        (f"/api/v1/trace/{person}", {"case": case, "from": "now-" + "9" * 400 + "s"}),
                        (f"/api/v1/trace/{person}", {"case": case, "min_overlap": "9" * 400 + "m"}),
                        (f"/api/v1/trace/{person}", {"case": case, "min_overlap": "99999999d"})]:
        answer = client.get(url, params=params)
        assert answer.status_code == 422, (url, params, answer.text)
        assert "give" in answer.json()["error"] or "use" in answer.json()["error"], answer.text
