"""Cases and alerts over HTTP on `ravao web`: tracers register and change cases (on the
real broker's `cases` topic), everyone else is refused; a case for a person who has one
gives that case back; alerts are listed within the caller's scope only."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from dashboards.web import create_app
from pipeline.access.caller import Role
from pipeline.access.codes import OneTimeCodes
from pipeline.access.directory import AccountDirectory
from pipeline.access.http import SignIn
from pipeline.access.sessions import Sessions
from pipeline.registry import read_latest
from pipeline.settings import Settings
from pipeline.topics import Topics
from pipeline.warehouse import open_warehouse
from pipeline.warehouse.migrations import migrate
from schemas import Account, Alert, Case, Person
from schemas.cases import venue_alert_id
from warehouse_day import generate_day, load_day, load_records

pytestmark = pytest.mark.kafka

TRACER, OFFICER, OWNER = "0901000003", "0901000001", "0981234791"


@pytest.fixture
def web(settings: Settings, clock):
    settings = settings.model_copy(update={"session_cookie_secure": False})
    day = generate_day(persons=20, venues=4, seed=3)
    warehouse = open_warehouse(settings)
    migrate(warehouse, settings.retention_days)
    load_day(warehouse, day)
    load_records(warehouse, "persons", Person, [Person(person_id=p) for p in day.persons], "person_id")
    directory = AccountDirectory()
    directory.apply_venue(day.venues[0].venue_id.encode(), day.venues[0].to_bytes())
    for phone, role, area in [(TRACER, Role.tracer, None), (OFFICER, Role.area_officer, day.venues[0].area_id)]:
        directory.apply_account(phone.encode(), Account(phone=phone, role=role, area_id=area, added_by="t").to_bytes())
    sign_in = SignIn(settings, directory, codes=OneTimeCodes(settings, clock=clock),
                     sessions=Sessions(directory, settings, clock=clock))
    try:
        with TestClient(create_app(settings, warehouse=warehouse, sign_in=sign_in)) as client:
            yield client, day, warehouse
    finally:
        warehouse.close()


def sign_in_as(client: TestClient, caplog, phone: str) -> None:
    client.cookies.clear()
    with caplog.at_level(logging.INFO, logger="ravao.sms"):
        assert client.post("/api/v1/session/code", json={"phone": phone}).status_code == 202
    code = re.findall(r"SMS to \S+: ravao: (\d{6}) ", caplog.text)[-1]
    assert client.post("/api/v1/session", json={"phone": phone, "code": code}).status_code == 200


def test_a_tracer_registers_and_clears_a_case_over_http_and_others_are_refused(web, caplog, settings: Settings,
                                                                             topics: Topics) -> None:
    client, day, _warehouse = web
    person = day.persons[0]
    onset = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()
    body = {"person_id": person, "onset": onset, "status": "confirmed", "note": "tested positive"}
    assert client.post("/api/v1/cases", json=body).status_code == 401
    sign_in_as(client, caplog, OFFICER)
    refused = client.post("/api/v1/cases", json=body)
    assert refused.status_code == 403 and "tracers" in refused.json()["error"]
    assert client.get("/api/v1/cases").status_code == 403

    sign_in_as(client, caplog, TRACER)
    first = client.post("/api/v1/cases", json=body)
    assert first.status_code == 201, first.text
    case_id = first.json()["case"]["case_id"]
    again = client.post("/api/v1/cases", json={**body, "status": "suspected"})
    assert again.status_code == 200 and again.json() == {"case": first.json()["case"], "created": False}
    on_topic = read_latest(settings.kafka_bootstrap, topics.cases, Case)
    assert list(on_topic) == [case_id] and on_topic[case_id].registered_by == "090****003"  # masked

    unknown = client.post("/api/v1/cases", json={**body, "person_id": "P" + "B" * 14})
    assert unknown.status_code == 422 and "no registered person" in unknown.json()["error"]
    future = client.post("/api/v1/cases", json={**body, "person_id": day.persons[1], "onset": "2099-01-01"})
    assert future.status_code == 422 and "future" in future.json()["error"]
    assert client.post("/api/v1/cases", json={**body, "status": "cleared"}).status_code == 422
    assert client.post("/api/v1/cases", json={**body, "extra": 1}).status_code == 422

    cleared = client.patch(f"/api/v1/cases/{case_id}", json={"status": "cleared"})
    assert cleared.status_code == 200 and cleared.json()["case"]["status"] == "cleared"
    assert client.patch("/api/v1/cases/C" + "B" * 14, json={"status": "cleared"}).status_code == 404
    assert client.patch(f"/api/v1/cases/{case_id}", json={}).status_code == 422
    listed = client.get("/api/v1/cases").json()["rows"]
    assert [(c["case_id"], c["status"], c["updated_by"] is not None) for c in listed] == [(case_id, "cleared", True)]


def test_alerts_are_listed_within_the_callers_scope(web, caplog) -> None:
    client, day, warehouse = web
    now = datetime.now(timezone.utc)
    inside, outside = day.venues[0], next(v for v in day.venues if v.area_id != day.venues[0].area_id)
    alerts = [Alert(alert_id=venue_alert_id("C" + c * 14, v.venue_id), venue_id=v.venue_id, case_ids=["C" + c * 14],
                    first_presence=now - timedelta(hours=2), last_presence=now - timedelta(hours=1), visits=1,
                    registered_at=now, seconds_from_registration=1.5)
              for c, v in (("B", inside), ("C", outside))]
    load_records(warehouse, "alerts", Alert, alerts)
    sign_in_as(client, caplog, OFFICER)
    mine = client.get("/api/v1/alerts")
    assert mine.status_code == 200 and [r["venue_id"] for r in mine.json()["rows"]] == [inside.venue_id]
    assert client.get(f"/api/v1/alerts?area={outside.area_id}").status_code == 403
    assert client.get(f"/api/v1/alerts?venue={outside.venue_id}").status_code == 403
    assert client.get("/api/v1/alerts?case=CBBBBBBBBBBBBBB").status_code == 403
    sign_in_as(client, caplog, TRACER)
    every = client.get("/api/v1/alerts").json()["rows"]
    assert {r["venue_id"] for r in every} == {inside.venue_id, outside.venue_id}
    by_case = client.get("/api/v1/alerts?case=C" + "C" * 14).json()["rows"]
    assert [r["venue_id"] for r in by_case] == [outside.venue_id]


def test_a_notifications_link_shows_the_venue_and_times_and_nothing_of_the_case(web) -> None:
    from schemas.cases import AlertStatus

    client, day, warehouse = web
    now = datetime.now(timezone.utc)
    venue = day.venues[0].model_copy(update={"venue_id": "V" + "X" * 14, "name": "Chợ <b>Phú Cường</b>"})
    load_records(warehouse, "venues", type(venue), [venue], "venue_id")
    case_id = "C" + "D" * 14

    def alert(status: AlertStatus, version: int, alert_case: str = case_id) -> Alert:
        return Alert(alert_id=venue_alert_id(alert_case, venue.venue_id), version=version, status=status,
                     venue_id=venue.venue_id, case_ids=[alert_case], first_presence=datetime(2026, 11, 30, 1, tzinfo=timezone.utc),
                     last_presence=datetime(2026, 11, 30, 2, 30, tzinfo=timezone.utc), visits=1,
                     registered_at=now, seconds_from_registration=1.0)

    load_records(warehouse, "alerts", Alert, [alert(AlertStatus.proposed, 1, "C" + "E" * 14)])
    assert client.get(f"/alerts/{venue_alert_id('C' + 'E' * 14, venue.venue_id)}").status_code == 404  # not confirmed
    load_records(warehouse, "alerts", Alert, [alert(AlertStatus.proposed, 1), alert(AlertStatus.confirmed, 2)])
    page = client.get(f"/alerts/{venue_alert_id(case_id, venue.venue_id)}")
    assert page.status_code == 200 and "08:00 30/11/2026" in page.text and "09:30 30/11/2026" in page.text
    assert "Chợ &lt;b&gt;Phú Cường&lt;/b&gt;" in page.text and "<b>" not in page.text
    assert case_id not in page.text and "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    load_records(warehouse, "alerts", Alert, [alert(AlertStatus.retracted, 3)])
    withdrawn = client.get(f"/alerts/{venue_alert_id(case_id, venue.venue_id)}")
    assert withdrawn.status_code == 200 and "Withdrawn" in withdrawn.text and "08:00" not in withdrawn.text
    assert client.get("/alerts/not-an-id").status_code == 404
    assert client.get("/alerts/6b3f2c1a-0000-4000-8000-000000000009").status_code == 404
