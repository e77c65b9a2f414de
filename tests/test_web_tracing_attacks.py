"""The tracing console attacked, as an attacker and as a careless user would: a phone that
must never land in a URL, a command line the page prints that must not run what a link
put in it, windows no warehouse keeps, a broker or an audit trail that is down, a sign-in
that must not send anyone elsewhere, names and notes written as HTML, a person with no
data, a case with thousands of contacts, forms sent from another site.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

import httpx
import pytest

from pipeline.access import local_admin
from pipeline.alerts.cases import CaseBook
from pipeline.registry import read_latest
from pipeline.topics import topics_for
from schemas import Case, PersonalData
from schemas.ids import new_id
from warehouse_day import load_records
from web_day import *  # noqa: F401,F403 (the fixtures)
from web_day import ADMIN
from web_helpers import *  # noqa: F401,F403 (the browser fixtures)
from web_helpers import api_session, needs_chromium, with_session
from web_trace_day import *  # noqa: F401,F403 (the console's fixtures, after web_day's)
from web_trace_day import cli_output

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def admin_session(web_base, web_sms) -> dict[str, str]:
    return api_session(web_base, ADMIN, web_sms)


def searches_for(web_app, phone: str) -> list[dict]:
    trail = web_app.state.reads.audit_trail(local_admin("test")).dicts()
    return [r for r in trail if r["action"] == "find_by_phone" and r["subject"] == phone]


# --- a phone searched for ---------------------------------------------------------------------

@needs_chromium
def test_a_phone_searched_for_is_in_no_url_the_browser_asks_for(web_base, web_app, web_warehouse, tracer_session,
                                                                 the_case, page) -> None:
    someone = PersonalData(person_id=new_id("P"), full_name="Lâm Thị Thu Hà", phone="0356700112")
    load_records(web_warehouse, "personal_data", PersonalData, [someone], "person_id")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    with_session(page, web_base, tracer_session).goto(f"{web_base}/trace")
    page.fill("#q", "+84 356 700 112")
    page.select_option("#find-case", the_case.case_id)
    with page.expect_navigation():
        page.click("#find button[type=submit]")
    assert page.url == f"{web_base}/trace/people/{someone.person_id}?case={the_case.case_id}"
    digits = [re.sub(r"[^0-9]", "", unquote(url)) for url in asked]
    assert not [url for url, d in zip(asked, digits) if "356700112" in d], asked  # history, proxies' logs
    assert searches_for(web_app, someone.phone)


def test_a_phone_in_a_link_is_not_looked_up(web_base, web_app, tracer_session, the_case) -> None:
    """A phone put in a URL (a bookmark, a link) is refused, not read: it must travel in a
    form's body, and an answer would teach people to keep such links."""
    answer = httpx.get(f"{web_base}/trace/find", params={"q": "0356700113", "case": the_case.case_id},
                       cookies=tracer_session)
    assert answer.status_code == 422 and "0356700113" not in answer.headers.get("location", "")
    assert not searches_for(web_app, "0356700113")
    # A person id by link is still fine: it is no personal data.
    by_id = httpx.get(f"{web_base}/trace/find", params={"q": the_case.person_id, "case": the_case.case_id},
                      cookies=tracer_session)
    assert by_id.status_code == 303


def test_a_phone_search_from_another_site_is_refused_before_it_reads(web_base, web_app, tracer_session,
                                                                     the_case) -> None:
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": "https://elsewhere.example"}):
        forged = httpx.post(f"{web_base}/trace/find", cookies=tracer_session, headers=headers,
                            data={"q": "0356700114", "case": the_case.case_id})
        assert forged.status_code == 403, headers
    assert not searches_for(web_app, "0356700114")


def test_nobody_but_tracers_and_admins_searches_by_phone(web_base, web_app, web_sms, the_case) -> None:
    from web_day import COMMUNE_OFFICER, OWNER

    for phone in (COMMUNE_OFFICER, OWNER):
        cookies = api_session(web_base, phone, web_sms)
        refused = httpx.post(f"{web_base}/trace/find", cookies=cookies,
                             data={"q": "0356700115", "case": the_case.case_id})
        assert refused.status_code == 403 and "0356700115" not in refused.text
    assert not searches_for(web_app, "0356700115")


# --- the command line the page prints ---------------------------------------------------------

def _command(html: str) -> list[str]:
    import html as html_module

    return shlex.split(html_module.unescape(re.search(r'<code id="command">(.*?)</code>', html, re.S).group(1)))


def test_the_printed_command_runs_what_the_page_shows_whatever_the_link_put_in_it(
        web_base, web_settings, admin_session, the_case, monkeypatch) -> None:
    """An admin names any purpose: a link may carry shell words in it (``; rm -rf ~``), and a
    duration may be written with a space; the command stays one command, with these values."""
    purpose, overlap = "check; rm -rf ~ $(id)", "1h 30m"
    query = {"case": purpose, "min_overlap": overlap, "from": "now-20d"}
    page = httpx.get(f"{web_base}/trace/people/{the_case.person_id}", params=query, cookies=admin_session)
    assert page.status_code == 200, page.text[:300]
    args = _command(page.text)
    assert args[args.index("--case") + 1] == purpose and args[args.index("--min-overlap") + 1] == overlap
    assert args[-2:] == ["--format", "csv"] and args.count("--format") == 1
    csv_url = re.search(r'id="csv" href="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    got = httpx.get(web_base + csv_url, cookies=admin_session)
    assert got.status_code == 200
    assert got.content == cli_output(args[1:], web_settings, monkeypatch).encode()


# --- windows no warehouse keeps ---------------------------------------------------------------

@pytest.mark.parametrize("window", [{"from": "0001-01-01T00:00"}, {"to": "9999-12-31T23:59+00:00"},
                                    {"from": "0001-01-01T00:00+00:00"}, {"from": "1066-10-14"},
                                    {"to": "2400-01-01"}])
def test_a_window_outside_the_years_the_warehouse_keeps_is_told_not_crashed(web_base, tracer_session, the_case,
                                                                            window) -> None:
    for path in (f"/trace/people/{the_case.person_id}", f"/trace/people/{the_case.person_id}/contacts.csv"):
        answer = httpx.get(web_base + path, params={"case": the_case.case_id, **window}, cookies=tracer_session)
        assert answer.status_code == 422, (path, window, answer.status_code)
        assert "1900" in answer.text and "degree,person_id" not in answer.text


# --- a broker that does not answer ---------------------------------------------------------------

@pytest.fixture
def broker_down(web_app, web_settings):
    """The app's case book on a port where no broker listens, for one test."""
    kept = web_app.state.cases
    web_app.state.cases = CaseBook(web_settings, bootstrap="127.0.0.1:9")
    try:
        yield
    finally:
        web_app.state.cases.close()
        web_app.state.cases = kept


def test_the_case_pages_and_forms_say_the_broker_is_down_rather_than_fail(web_base, web_day, web_settings,
                                                                         tracer_session, the_case,
                                                                         broker_down) -> None:
    listed = httpx.get(f"{web_base}/trace", cookies=tracer_session, timeout=60)
    assert listed.status_code == 200 and "Kafka" not in listed.text
    for method, path, data in (("GET", f"/trace/cases/{the_case.case_id}", None),
                               ("POST", f"/trace/cases/{the_case.case_id}", {"status": "cleared"}),
                               ("POST", "/trace/cases", {"person_id": web_day.persons[-1], "status": "confirmed",
                                                         "onset": web_day.day.isoformat()})):
        answer = httpx.request(method, web_base + path, cookies=tracer_session, data=data, timeout=60)
        assert answer.status_code == 503 and answer.headers.get("retry-after"), (method, path, answer.status_code)
        assert "broker" in answer.text



# --- the way back after signing in --------------------------------------------------------------

BACK_ELSEWHERE = ["/\t/evil.example/trace", "/\n/evil.example", "/\r\n/evil.example", "/\x00/evil.example",
                  "//evil.example", "/\\evil.example", "https://evil.example/", "/%09/evil.example"]


@needs_chromium
def test_the_way_back_after_signing_in_never_leaves_the_site(web_base, page) -> None:
    """Browsers drop tabs and newlines from a URL: ``/<tab>/evil.example`` is
    ``//evil.example``, another site. Asked of Chromium itself, not of a copy of its rules."""
    page.goto(f"{web_base}/sign-in")
    for wanted in BACK_ELSEWHERE:
        answer = httpx.get(f"{web_base}/sign-in", params={"next": wanted})
        data = json.loads(re.search(r'id="page-data">(.*?)</script>', answer.text, re.S).group(1))
        went = page.evaluate("next => new URL(next, location.href).origin", data["next"])
        assert went == web_base, (wanted, data["next"])
    # A page asked for without a session comes back to itself, not elsewhere.
    answer = httpx.get(f"{web_base}/%09/evil.example")
    assert answer.status_code in (303, 404)
    if answer.status_code == 303:
        back = unquote(answer.headers["location"].split("next=", 1)[1])
        assert page.evaluate("next => new URL(next, location.href).origin", back) == web_base
