"""Promises of the tracing console that held when attacked, kept by tests: names, venue
names and notes written as HTML are text; with the audit trail down nothing personal is
read; a person with no data, a withdrawn person and a case with 1500 contacts are pages
that say what they have; nothing personal reaches the logs, uvicorn's access log included.
(The attacks that found defects are in `test_web_tracing_attacks`.)
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from urllib.parse import unquote_plus

import httpx
import pytest

from pipeline.access import local_admin
from pipeline.alerts.cases import CaseBook
from schemas import Case, Person, PersonalData, Venue, Visit
from schemas.cases import CaseStatus
from schemas.ids import new_id
from warehouse_day import load_records
from web_day import *  # noqa: F401,F403 (the fixtures)
from web_helpers import *  # noqa: F401,F403 (the browser fixtures)
from web_helpers import needs_chromium, with_session
from web_trace_day import *  # noqa: F401,F403 (the console's fixtures, after web_day's)

pytestmark = pytest.mark.kafka


# --- people and places of our own making --------------------------------------------------------

def _visit(web_day, person: str, venue, t_in: datetime, t_out: datetime) -> Visit:
    return Visit(visit_id=uuid.uuid4(), version=1, person_id=person, venue_id=venue.venue_id, area_id=venue.area_id,
                 area_path=venue.area_path, category=venue.category, t_in=t_in, t_out=t_out, entry_how="scan",
                 exit_how="scan")


def _new_case(web_warehouse, person: str, web_day) -> Case:
    """A confirmed case of ``person`` in the warehouse (its topic is not needed to read)."""
    case = Case(case_id=new_id("C"), person_id=person, status=CaseStatus.confirmed, onset=web_day.day,
                registered_by="test")
    load_records(web_warehouse, "persons", Person, [Person(person_id=person)], "person_id")
    load_records(web_warehouse, "cases", Case, [case], "case_id")
    return case


def _withdraw(web_warehouse, table: str, model, key_field: str, key: str) -> None:
    """A tombstone for ``key``, as the sink lands one, after every record of it."""
    from pipeline.sink.routes import Route

    row = Route(f"test.{table}", table, model, key_field).row(key.encode(), None, 0, 10 ** 9)
    web_warehouse.insert_json(table, row.line, token=None)


# --- words written as HTML ------------------------------------------------------------------------

EVIL = '</title><script>alert(1)</script><img src=x onerror="alert(2)">'


@needs_chromium
def test_a_name_a_venue_and_a_note_written_as_html_are_shown_as_text(web_base, web_day, web_warehouse, web_settings,
                                                                    tracer_session, page) -> None:
    case_person, contact = new_id("P"), new_id("P")
    venue = web_day.venues[2].model_copy(update={"venue_id": new_id("V"), "name": "Quán " + EVIL})
    load_records(web_warehouse, "venues", Venue, [venue], "venue_id")
    at = web_day.start + timedelta(hours=3)
    load_records(web_warehouse, "visits", Visit, [_visit(web_day, case_person, venue, at, at + timedelta(hours=2)),
                                                  _visit(web_day, contact, venue, at, at + timedelta(hours=1))])
    load_records(web_warehouse, "personal_data", PersonalData, [
        PersonalData(person_id=contact, full_name="Bé " + EVIL), PersonalData(person_id=case_person, full_name=EVIL)],
        "person_id")
    case = _new_case(web_warehouse, case_person, web_day).model_copy(update={"note": "ho " + EVIL})
    book = CaseBook(web_settings)
    try:
        book.publish(case)
    finally:
        book.close()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    with_session(page, web_base, tracer_session).goto(f"{web_base}/trace/cases/{case.case_id}")
    assert page.locator("#f1 tbody tr").count() == 1, page.inner_text("main")
    assert EVIL in page.locator("#case").inner_text() and EVIL in page.locator("#subject").inner_text()
    assert EVIL in page.locator("#f1").inner_text() and EVIL in page.locator("#visits table").inner_text()
    svg_titles = page.locator("svg title").all_text_contents()
    assert any(EVIL in t for t in svg_titles) and any(("Bé " + EVIL) in t for t in svg_titles), svg_titles
    assert page.locator("main script, main img, svg script").count() == 0 and not dialogs


# --- the audit trail down -------------------------------------------------------------------------

class _CountingWarehouse:
    """The app's warehouse, counting the reads of personal data made through it."""

    def __init__(self, inner) -> None:
        self.inner, self.personal_reads = inner, 0

    def read_personal(self, *args, **kwargs):
        self.personal_reads += 1
        return self.inner.read_personal(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_with_the_audit_trail_down_the_console_reads_no_name_and_says_so(web_base, web_app, web_day,
                                                                        tracer_session, the_case,
                                                                        monkeypatch) -> None:
    reads = web_app.state.reads
    counting = _CountingWarehouse(reads.warehouse)
    monkeypatch.setattr(reads, "warehouse", counting)

    def refuse(_record) -> None:
        raise ConnectionError("the broker does not answer")

    monkeypatch.setattr(reads.trail, "_write", refuse)
    names = [p.full_name for p in web_day.personal] + [p.phone for p in web_day.personal if p.phone]
    for path in (f"/trace/people/{the_case.person_id}?case={the_case.case_id}", f"/trace/cases/{the_case.case_id}",
                 f"/trace/people/{the_case.person_id}/contacts.csv?case={the_case.case_id}&names=1"):
        answer = httpx.get(web_base + path, cookies=tracer_session)
        assert answer.status_code == 503 and answer.headers["retry-after"], (path, answer.status_code)
        assert "audit" in answer.text and not [n for n in names if n in answer.text], path
    found = httpx.post(f"{web_base}/trace/find", cookies=tracer_session,
                       data={"q": web_day.personal[0].phone or "0356700116", "case": the_case.case_id})
    assert found.status_code == 503
    assert counting.personal_reads == 0  # no row, no read


# --- people with nothing, or withdrawn --------------------------------------------------------------

def test_a_person_with_no_visit_and_no_personal_data_is_a_page_that_says_so(web_base, web_app, tracer_session,
                                                                            the_case) -> None:
    nobody = new_id("P")
    answer = httpx.get(f"{web_base}/trace/people/{nobody}", params={"case": the_case.case_id, "lang": "en"},
                       cookies=tracer_session)
    assert answer.status_code == 200
    assert "(name not available)" in answer.text and "No visit in this window." in answer.text
    assert 'id="f1-none"' in answer.text and 'id="graph"' not in answer.text
    trail = web_app.state.reads.audit_trail(local_admin("test")).dicts()
    assert any(r["action"] == "person_with_names" and r["subject"] == nobody for r in trail)


def test_a_case_whose_person_was_withdrawn_still_shows_the_case_without_their_name(
        web_base, web_day, web_warehouse, web_settings, tracer_session) -> None:
    person = new_id("P")
    gone = PersonalData(person_id=person, full_name="Trịnh Văn Rút", phone="0356700117")
    load_records(web_warehouse, "personal_data", PersonalData, [gone], "person_id")
    case = _new_case(web_warehouse, person, web_day)
    book = CaseBook(web_settings)
    try:
        book.publish(case)
    finally:
        book.close()
    _withdraw(web_warehouse, "personal_data", PersonalData, "person_id", person)
    answer = httpx.get(f"{web_base}/trace/cases/{case.case_id}", cookies=tracer_session)
    assert answer.status_code == 200 and 'id="case"' in answer.text
    assert gone.full_name not in answer.text and gone.phone not in answer.text


# --- a case with thousands of contacts ----------------------------------------------------------------

def test_a_case_with_thousands_of_contacts_shows_and_audits_every_one(web_base, web_app, web_day, web_warehouse,
                                                                     tracer_session) -> None:
    case_person, many = new_id("P"), 1500
    crowd = [new_id("P") for _ in range(many)]
    venue, at = web_day.venues[3], web_day.start + timedelta(hours=4)
    visits = [_visit(web_day, case_person, venue, at, at + timedelta(hours=2))]
    visits += [_visit(web_day, p, venue, at + timedelta(minutes=i % 60), at + timedelta(minutes=60 + i % 60))
               for i, p in enumerate(crowd)]
    load_records(web_warehouse, "visits", Visit, visits)
    load_records(web_warehouse, "personal_data", PersonalData,
                 [PersonalData(person_id=p, full_name=f"Người {i}") for i, p in enumerate(crowd)], "person_id")
    case = _new_case(web_warehouse, case_person, web_day)
    answer = httpx.get(f"{web_base}/trace/people/{case_person}", params={"case": case.case_id, "depth": "1",
                                                                         "lang": "en"},
                       cookies=tracer_session, timeout=120)
    assert answer.status_code == 200
    f1 = answer.text[answer.text.index('id="f1"'):]
    assert f1.count("<tr data-person=") == many
    assert f"{many - 24} contacts with the least time are left out of the drawing." in answer.text
    trail = web_app.state.reads.audit_trail(local_admin("test"), person=case_person).dicts()
    named = [r for r in trail if r["action"] == "trace_with_names" and r["subject"] == case_person]
    assert named and set(crowd) <= set(named[-1]["persons"])
    print(f"a page of {many} contacts: {len(answer.content) // 1024} KiB")


# --- the logs ------------------------------------------------------------------------------------------

@needs_chromium
def test_nothing_personal_reaches_the_logs_access_log_included(web_base, web_day, web_warehouse, tracer_session,
                                                               the_case, page, caplog) -> None:
    """The whole work of a tracer, logged at DEBUG with uvicorn's access log on (as
    ``ravao web --loglevel debug`` runs): no name, no phone in any line."""
    someone = PersonalData(person_id=new_id("P"), full_name="Võ Thị Log Kiểm", phone="0356700119")
    load_records(web_warehouse, "personal_data", PersonalData, [someone], "person_id")
    access = logging.getLogger("uvicorn.access")
    kept_level = access.level
    access.addHandler(caplog.handler)
    access.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        with_session(page, web_base, tracer_session).goto(f"{web_base}/trace")
        for typed in ("+84 356 700 119", "0356 700 999", "03567 not a phone"):
            page.fill("#q", typed)
            page.select_option("#find-case", the_case.case_id)
            with page.expect_navigation():
                page.click("#find button[type=submit]")
            page.goto(f"{web_base}/trace")
        page.goto(f"{web_base}/trace/cases/{the_case.case_id}")
        httpx.get(f"{web_base}/trace/people/{the_case.person_id}/contacts.csv",
                  params={"case": the_case.case_id, "names": "1"}, cookies=tracer_session)
        httpx.get(f"{web_base}/trace/people/{the_case.person_id}", params={"case": the_case.case_id,
                                                                           "from": "0001-01-01"},
                  cookies=tracer_session)
    finally:
        access.removeHandler(caplog.handler)
        access.setLevel(kept_level)
    assert any("/trace/find" in r.getMessage() or "/trace/find" in str(r.args) for r in caplog.records), \
        "the access log was not captured: the test would prove nothing"
    logged = unquote_plus("\n".join(r.getMessage() for r in caplog.records))  # as a URL in it would read
    personal = [someone.full_name, someone.phone, "356700119", "356 700 119", "0356700999", "356 700 999"]
    personal += [p.full_name for p in web_day.personal] + [p.phone for p in web_day.personal if p.phone]
    assert not [p for p in personal if p in logged]
