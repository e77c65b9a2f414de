"""The tracing console in headless Chromium, its cases on the real broker: a tracer finds
a case's contacts, F1 and F2 ranked as `trace` ranks them, venues by name, and downloads
a CSV byte for byte what the command the page prints (`ravao trace ... --format csv`)
prints; finds a person by phone, audited; registers and changes a case by its forms; sees
the case's alerts and how each was delivered. Nobody else gets any of it, by URL or by
form, nor a tracer without an open case; a form from another site is refused.
"""

from __future__ import annotations

import re
import shlex
import uuid
from collections import Counter
from itertools import combinations
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from dashboards.web.site import VIETNAM, duration
from dashboards.web.tracing import written
from dashboards.web.tracing_graph import MOST_F1, layout
from pipeline.access import local_admin
from pipeline.registry import read_latest
from pipeline.topics import topics_for
from pipeline.warehouse.queries import load, parse_time, run
from schemas import Alert, Case, PersonalData
from schemas.cases import CaseStatus, venue_alert_id
from schemas.ids import new_id
from schemas.notifications import Notification
from web_day import *  # noqa: F401,F403 (the fixtures)
from web_day import COMMUNE_OFFICER, OWNER, TRACER
from web_helpers import *  # noqa: F401,F403 (the browser fixtures)
from web_helpers import api_session, artifact, needs_chromium, sign_in_by_page, with_session
from web_trace_day import *  # noqa: F401,F403 (the console's fixtures, after web_day's)
from web_trace_day import cli_output, expected
from warehouse_day import load_records

pytestmark = pytest.mark.kafka


# --- the tracer's work ------------------------------------------------------------------

@needs_chromium
def test_a_tracer_finds_the_cases_contacts_and_downloads_the_csv_the_command_prints(
        web_base, web_day, web_warehouse, web_settings, web_sms, the_case, page, monkeypatch) -> None:
    sign_in_by_page(page, web_base, TRACER, web_sms)
    assert page.url == f"{web_base}/trace"  # a tracer's home
    row = page.locator(f"#cases tr[data-case='{the_case.case_id}']")
    assert row.count() == 1 and "Đã xác nhận" in row.inner_text()
    page.screenshot(path=artifact("trace-home"), full_page=True)
    with page.expect_navigation():
        row.locator("a").click()
    assert page.url.startswith(f"{web_base}/trace/cases/{the_case.case_id}")

    # The window: 14 days before the onset to now, written out on the page with its offset.
    command = page.locator("#command").inner_text()
    args = shlex.split(command)
    assert args[:2] == ["ravao", "trace"] and args[2] == the_case.person_id and "--case" in args
    start, end = parse_time(args[args.index("--from") + 1]), parse_time(args[args.index("--to") + 1])
    assert start == datetime.combine(web_day.day, datetime.min.time(), timezone.utc) - timedelta(days=14)
    assert timedelta(0) < end - datetime.now(timezone.utc) <= timedelta(minutes=1)
    wanted = expected(web_warehouse, the_case, start, end)
    f1 = [r for r in wanted if r["degree"] == "F1"]
    f2 = [r for r in wanted if r["degree"] == "F2"]
    assert f1 and f2, "the generated day gives the case no F1 or no F2: the test would prove nothing"

    # F1 and F2 in trace's order, durations as people read them, venues by name.
    names = {p.person_id: p.full_name for p in web_day.personal}
    venues = {v.venue_id: v.name for v in web_day.venues}
    for degree, rows in (("f1", f1), ("f2", f2)):
        shown = page.locator(f"#{degree} tbody tr").all()
        assert [r.get_attribute("data-person") for r in shown] == [r["person_id"] for r in rows]
        for tr, want in zip(shown, rows):
            cells = [c.inner_text() for c in tr.locator("td").all()]
            assert cells[1] == (names.get(want["person_id"]) or want["person_id"]) and cells[3] == duration(want["overlap_seconds"])
            assert all(venues[v] in cells[-3] for v in want["venues"]) and not re.search(r"V[B-X]{14}", cells[-3])
    # The visits: each of the person's, by day, at its venue's name.
    visits = run(web_warehouse, load("person_visits"), {"person": the_case.person_id, "from": start,
                                                        "to": end}).dicts()
    shown = page.locator("#visits tr[data-visit]").all()
    assert sorted(r.get_attribute("data-visit") for r in shown) == sorted(v["visit_id"] for v in visits)
    assert all(venues[r.get_attribute("data-venue")] in r.inner_text() for r in shown)
    # The drawing: the case, and every F1 and F2 it has room for.
    drawn = layout("", wanted, lambda row, rank: "")
    assert page.locator("#graph g.node").count() == len(drawn.nodes) == 1 + min(len(f1), MOST_F1) + \
        len([n for n in drawn.nodes if n.degree == "F2"])
    page.screenshot(path=artifact("trace-case"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=artifact("trace-case-phone"))

    with page.expect_download() as download:
        page.click("#csv")
    got = open(download.value.path(), "rb").read()
    printed = cli_output(args[1:], web_settings, monkeypatch)
    assert got == printed.encode("utf-8")
    assert got.decode().splitlines()[0] == "degree,person_id,overlap_seconds,overlaps,via,venues,first_contact," \
                                           "last_contact"
    assert len(got.decode().splitlines()) == 1 + len(wanted)


def test_a_window_written_on_the_page_is_read_back_by_the_command_to_the_millisecond() -> None:
    for moment in (datetime(2026, 3, 1, 1, 0, tzinfo=timezone.utc), datetime(2026, 3, 1, 1, 0, 7, tzinfo=timezone.utc),
                   datetime(2026, 12, 31, 23, 59, 59, 123000, tzinfo=timezone.utc)):
        text = written(moment)
        assert text.endswith("+07:00") and parse_time(text) == moment, text
    assert written(datetime(2026, 3, 1, 1, 0, tzinfo=timezone.utc)) == "2026-03-01T08:00+07:00"


@needs_chromium
def test_a_tracer_finds_a_person_by_phone_and_the_search_is_audited(
        web_base, web_app, web_day, web_warehouse, tracer_session, the_case, page) -> None:
    someone = PersonalData(person_id=new_id("P"), full_name="Đỗ Thị Hồng Nhung", phone="0355123987")
    load_records(web_warehouse, "personal_data", PersonalData, [someone], "person_id")
    with_session(page, web_base, tracer_session).goto(f"{web_base}/trace")
    written_phone = f"+84 {someone.phone[1:4]} {someone.phone[4:7]} {someone.phone[7:]}"
    page.fill("#q", written_phone)
    page.select_option("#find-case", the_case.case_id)
    with page.expect_navigation():
        page.click("#find button[type=submit]")
    assert page.url == f"{web_base}/trace/people/{someone.person_id}?case={the_case.case_id}", page.inner_text("main")
    assert someone.full_name in page.locator("#subject").inner_text()
    assert someone.phone not in page.url and "84" not in page.url.split("?")[0]
    page.screenshot(path=artifact("trace-person"), full_page=True)
    trail = web_app.state.reads.audit_trail(local_admin("test")).dicts()
    searches = [(r["actor"], r["subject"], r["purpose"]) for r in trail if r["action"] == "find_by_phone"]
    assert (TRACER, someone.phone, the_case.case_id) in searches

    page.goto(f"{web_base}/trace")
    page.fill("#q", "0399999999")  # nobody's
    page.select_option("#find-case", the_case.case_id)
    with page.expect_navigation():
        page.click("#find button[type=submit]")
    assert page.locator("#found-none").count() == 1 and "0399999999" not in page.url
    shared = Counter(p.phone for p in web_day.personal if p.phone).most_common(1)[0][0]
    sharing = sorted(p.person_id for p in web_day.personal if p.phone == shared)
    assert len(sharing) > 1
    page.fill("#q", shared)
    with page.expect_navigation():
        page.click("#find button[type=submit]")
    listed = [a.inner_text() for a in page.locator("#found-several a").all()]
    assert listed == sharing[:20] and shared not in page.url


@needs_chromium
def test_a_tracer_registers_and_clears_a_case_by_the_forms(web_base, web_day, web_settings, tracer_session,
                                                           the_case, page) -> None:
    person = next(p for p in web_day.persons if p != the_case.person_id)
    with_session(page, web_base, tracer_session).goto(f"{web_base}/trace")
    page.fill("#person_id", person)
    page.fill("#onset", (datetime.now(VIETNAM) - timedelta(days=1)).date().isoformat())
    page.select_option("#status", "suspected")
    page.fill("#note", "sốt, ho")
    with page.expect_navigation():
        page.click("#register button[type=submit]")
    assert "done=registered" in page.url, (page.url, page.inner_text("main"))
    case_id = re.search(r"/trace/cases/(C[B-X]{14})", page.url).group(1)
    assert page.locator("#notice").count() == 1
    # Not in the warehouse yet (no sink here): the page says so, and still shows the case.
    assert "warehouse" in page.locator("#refused").inner_text() and "sốt, ho" in page.locator("#case").inner_text()
    topic = topics_for(web_settings).cases
    on_topic = read_latest(web_settings.kafka_bootstrap, topic, Case)
    assert on_topic[case_id].person_id == person and on_topic[case_id].status is CaseStatus.suspected

    page.locator("#case summary").click()
    page.select_option("#change select[name=status]", "cleared")
    with page.expect_navigation():
        page.click("#change button[type=submit]")
    assert page.url.endswith("?done=changed")
    assert read_latest(web_settings.kafka_bootstrap, topic, Case)[case_id].status is CaseStatus.cleared
    assert read_latest(web_settings.kafka_bootstrap, topic, Case)[case_id].note == "sốt, ho"
    page.screenshot(path=artifact("trace-case-cleared"), full_page=True)

    # The same registration again: the person's open case, not a second one.
    again = httpx.post(f"{web_base}/trace/cases", cookies=tracer_session, data={
        "person_id": the_case.person_id, "onset": web_day.day.isoformat(), "status": "confirmed"})
    assert again.status_code == 303 and again.headers["location"] == f"/trace/cases/{the_case.case_id}?done=existing"
    bad = httpx.post(f"{web_base}/trace/cases", cookies=tracer_session,
                     data={"person_id": person, "onset": "not a day", "status": "confirmed"})
    assert bad.status_code == 422 and "onset" in bad.text


@needs_chromium
def test_the_case_page_shows_its_alerts_and_how_each_was_delivered(web_base, web_day, web_warehouse,
                                                                   tracer_session, the_case, page) -> None:
    venue = web_day.venues[1]
    now = datetime.now(timezone.utc)
    alert = Alert(alert_id=venue_alert_id(the_case.case_id, venue.venue_id), venue_id=venue.venue_id,
                  case_ids=[the_case.case_id], first_presence=now - timedelta(days=2), status="notified",
                  last_presence=now - timedelta(days=2) + timedelta(hours=1), visits=1, exposed=4,
                  registered_at=now, seconds_from_registration=2.0)
    load_records(web_warehouse, "alerts", Alert, [alert])
    told = [Notification(notification_id=uuid.uuid4(), alert_id=alert.alert_id, alert_version=1, purpose="alert",
                         channel="sms", recipient=OWNER, role="venue_owner", venue_id=venue.venue_id, state=state,
                         attempts=attempts, last_error=error, created_at=now, updated_at=now,
                         body="{}", delivered_at=now if state == "delivered" else None)
            for state, attempts, error in (("delivered", 1, ""), ("failed", 8, "gateway answered 503"))]
    load_records(web_warehouse, "notifications_incoming", Notification, told)
    with_session(page, web_base, tracer_session).goto(f"{web_base}/trace/cases/{the_case.case_id}")
    item = page.locator(f"[data-alert='{alert.alert_id}']")
    text = item.inner_text()
    assert venue.name in text and "4" in text
    assert sorted(r.get_attribute("data-state") for r in item.locator("tbody tr").all()) == ["delivered", "failed"]
    assert "098****791" in text and OWNER not in text and "gateway answered 503" in text


# --- everyone else ------------------------------------------------------------------------

def test_nobody_but_tracers_and_admins_gets_the_console_by_url_or_form(web_base, web_day, web_sms,
                                                                       web_settings, the_case) -> None:
    person = the_case.person_id
    pages = ["/trace", f"/trace/people/{person}?case={the_case.case_id}", f"/trace/cases/{the_case.case_id}",
             f"/trace/people/{person}/contacts.csv?case={the_case.case_id}", f"/trace/find?q={person}"]
    before = read_latest(web_settings.kafka_bootstrap, topics_for(web_settings).cases, Case)
    for phone in (COMMUNE_OFFICER, OWNER):
        cookies = api_session(web_base, phone, web_sms)
        for path in pages:
            refused = httpx.get(web_base + path, cookies=cookies)
            assert refused.status_code == 403, (phone, path)
            assert web_day.personal[0].full_name not in refused.text
        posted = httpx.post(f"{web_base}/trace/cases", cookies=cookies, data={
            "person_id": web_day.persons[-1], "onset": web_day.day.isoformat(), "status": "confirmed"})
        assert posted.status_code == 403
        assert httpx.post(f"{web_base}/trace/cases/{the_case.case_id}", cookies=cookies,
                          data={"status": "cleared"}).status_code == 403
    for path in pages:  # no session: to the sign-in page
        answer = httpx.get(web_base + path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in?next=")
    assert read_latest(web_settings.kafka_bootstrap, topics_for(web_settings).cases, Case) == before


def test_a_tracer_reads_nobody_without_an_open_case_and_no_form_from_another_site(
        web_base, web_day, web_settings, tracer_session, the_case) -> None:
    person = the_case.person_id
    for query in ("", "?case=", f"?case={new_id('C')}", "?case=anything I like"):
        refused = httpx.get(f"{web_base}/trace/people/{person}{query}", cookies=tracer_session)
        assert refused.status_code == 403 and 'id="refused"' in refused.text, query
        assert 'id="f1"' not in refused.text and 'id="subject"' not in refused.text
        csv = httpx.get(f"{web_base}/trace/people/{person}/contacts.csv{query}", cookies=tracer_session)
        assert csv.status_code == 403 and "degree,person_id" not in csv.text
    # The open cases to choose from, when none is named.
    assert the_case.case_id in httpx.get(f"{web_base}/trace/people/{person}", cookies=tracer_session).text
    for bad in ("P123", "X" * 300, "P%0D%0ASet-Cookie:%20x=1"):
        answer = httpx.get(f"{web_base}/trace/people/{bad}/contacts.csv?case={the_case.case_id}",
                           cookies=tracer_session)
        assert answer.status_code == 422 and "set-cookie" not in {k.lower() for k in answer.headers if k != "set-cookie"}
    before = read_latest(web_settings.kafka_bootstrap, topics_for(web_settings).cases, Case)
    for headers in ({"Origin": "https://elsewhere.example"}, {"Sec-Fetch-Site": "cross-site", "Origin": "null"}):
        forged = httpx.post(f"{web_base}/trace/cases/{the_case.case_id}", cookies=tracer_session, headers=headers,
                            data={"status": "cleared"})
        assert forged.status_code == 403, headers
    assert read_latest(web_settings.kafka_bootstrap, topics_for(web_settings).cases, Case) == before


# --- the words and the drawing --------------------------------------------------------------

def test_every_text_of_the_tracing_pages_has_its_vietnamese() -> None:
    from dashboards.web import tracing, words
    from dashboards.web.site import HERE

    texts = set(tracing.LABELS.values()) | set(tracing.NOTICES.values())
    for template in ["trace_home.html", "trace_person.html"]:
        text = (HERE / "templates" / template).read_text()
        texts |= set(re.findall(r'_\("([^"]+)"', text)) | set(re.findall(r"_\('([^']+)'", text))
    source = (HERE / "tracing.py").read_text()
    texts |= set(re.findall(r'say\("([^"]+)"', source)) | set(re.findall(r'return \[\], "([^"]+)"', source))
    assert len(texts) > 60 and not sorted(texts - set(words.vietnamese()))


def test_the_drawing_puts_each_f2_beside_its_f1_and_says_how_many_it_leaves_out() -> None:
    f1 = [{"degree": "F1", "person_id": f"A{i}", "overlap_seconds": 3600 - i, "via": "case"} for i in range(30)]
    f2 = [{"degree": "F2", "person_id": f"B{i}", "overlap_seconds": 900, "via": f"A{i % 3}"} for i in range(5)]
    f2.append({"degree": "F2", "person_id": "B-far", "overlap_seconds": 900, "via": "A29"})  # its F1 not drawn
    drawing = layout("case", f1 + f2, lambda row, rank: row["person_id"])
    assert [n.degree for n in drawing.nodes].count("F1") == MOST_F1
    assert drawing.left_out == (30 - MOST_F1) + 1
    centre = drawing.nodes[0]
    f1_nodes = {n.title: n for n in drawing.nodes if n.degree == "F1"}
    edges = {((e.x1, e.y1), (e.x2, e.y2)) for e in drawing.edges}
    f2_nodes = [n for n in drawing.nodes if n.degree == "F2"]
    assert sorted(n.title for n in f2_nodes) == sorted(r["person_id"] for r in f2[:5])
    for node in f2_nodes:
        via = f1_nodes[next(r["via"] for r in f2 if r["person_id"] == node.title)]
        assert ((via.x, via.y), (node.x, node.y)) in edges  # joined to its own F1
        assert (node.x - centre.x) ** 2 + (node.y - centre.y) ** 2 > (via.x - centre.x) ** 2 + (via.y - centre.y) ** 2
    assert all((a.x - b.x) ** 2 + (a.y - b.y) ** 2 > (a.r + b.r) ** 2 for a, b in combinations(drawing.nodes, 2))
    assert layout("case", [], lambda row, rank: "").nodes[0].degree == "case"
