"""The tracing console attacked, as an attacker and as a careless user would: a phone that
must never land in a URL, a command line the page prints that must not run what a link
put in it, windows no warehouse keeps or written wrong, a broker that is down, a way back
after signing in (or a language link) that must not lead elsewhere, search results and
forms written by another site, a session that ended before the form was sent. (The
promises that held when attacked: `test_web_tracing_holds`.)
"""

from __future__ import annotations

import json
import re
import shlex
from urllib.parse import quote, unquote

import httpx
import pytest

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
from web_trace_day import cli_output, searches_for

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def admin_session(web_base, web_sms) -> dict[str, str]:
    return api_session(web_base, ADMIN, web_sms)


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


@pytest.mark.parametrize("window", [
    {"from": "2026-11-20T10:00", "to": "2026-11-20T09:00"}, {"from": "2026-11-20T10:00", "to": "2026-11-20T10:00"},
    {"from": "now-99999d"}, {"from": "now-1e400d"}, {"from": "now-nan"}, {"from": "yesterday"}, {"to": "9" * 5000},
    {"min_overlap": "15 phút"}, {"min_overlap": "-5m"}, {"min_overlap": "1e999m"}, {"min_overlap": "15"},
    {"depth": "3"}, {"depth": "0"}, {"depth": "1; drop"}, {"from": "2026-02-30"}, {"from": "'; DROP TABLE visits; --"}])
def test_a_window_written_wrong_is_a_422_that_reads_nothing(web_base, web_day, tracer_session, the_case,
                                                            window) -> None:
    names = [p.full_name for p in web_day.personal]
    for path in (f"/trace/people/{the_case.person_id}", f"/trace/people/{the_case.person_id}/contacts.csv"):
        answer = httpx.get(web_base + path, params={"case": the_case.case_id, **window}, cookies=tracer_session)
        assert answer.status_code == 422, (path, window, answer.status_code)
        assert not [n for n in names if n in answer.text] and "degree,person_id" not in answer.text


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


# --- forms sent from elsewhere ----------------------------------------------------------------------

def test_the_case_forms_refuse_every_sign_of_another_site_and_take_their_own(web_base, web_day, web_settings,
                                                                            tracer_session, the_case) -> None:
    host = web_base.split("//", 1)[1]
    elsewhere = [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                 {"Sec-Fetch-Site": "cross-site", "Origin": web_base}, {"Origin": "http://127.0.0.1:1"},
                 {"Origin": f"http://{host}.evil.example"}, {"Origin": "https://evil.example"},
                 {"Origin": "null", "Sec-Fetch-Site": "cross-site"}]
    topic = topics_for(web_settings).cases
    before = read_latest(web_settings.kafka_bootstrap, topic, Case)
    for headers in elsewhere:
        for path, data in ((f"/trace/cases/{the_case.case_id}", {"note": "forged"}),
                           ("/trace/cases", {"person_id": web_day.persons[-2], "status": "confirmed",
                                             "onset": web_day.day.isoformat()}),
                           ("/sign-out", {})):
            answer = httpx.post(web_base + path, cookies=tracer_session, headers=headers, data=data)
            assert answer.status_code == 403, (headers, path)
    assert read_latest(web_settings.kafka_bootstrap, topic, Case) == before
    # The console's own form, as Chromium sends it (same-origin), and as an older browser
    # under our no-referrer policy does (Origin: null, no Sec-Fetch-Site), is taken.
    for headers, note in (({"Sec-Fetch-Site": "same-origin", "Origin": web_base}, "own form"),
                          ({"Origin": "null"}, "older browser")):
        answer = httpx.post(f"{web_base}/trace/cases/{the_case.case_id}", cookies=tracer_session, headers=headers,
                            data={"note": note})
        assert answer.status_code == 303, (headers, answer.text[:200])
        assert read_latest(web_settings.kafka_bootstrap, topic, Case)[the_case.case_id].note == note


# --- links the console writes from its own address -------------------------------------------------

def test_the_search_results_in_the_address_are_person_ids_and_their_links_carry_only_the_case(
        web_base, tracer_session, the_case) -> None:
    """``found`` comes back from the search in the address, so anyone may write one: only
    person ids are listed, and the case chosen goes into each link as one value."""
    real = new_id("P")
    crafted = {"found": f"javascript:alert(1),../../sign-out,{real},<b>x</b>",
               "case": f"{the_case.case_id}&from=1900-01-01&names=1"}
    answer = httpx.get(f"{web_base}/trace", params=crafted, cookies=tracer_session)
    listed = re.findall(r'<li><a href="([^"]+)">([^<]+)</a></li>', answer.text)
    assert [text for _href, text in listed] == [real], listed
    href = listed[0][0].replace("&amp;", "&")
    assert href == f"/trace/people/{real}?case=" + quote(crafted["case"], safe=""), href


# --- the change form sent as it was shown -----------------------------------------------------------

def test_the_change_form_sent_unchanged_says_nothing_was_changed(web_base, web_settings, tracer_session,
                                                                the_case) -> None:
    """The form sends the case's status and onset whatever the tracer touched: sent back as
    shown, nothing is published and the page says so, not "The case is changed"."""
    topic = topics_for(web_settings).cases
    current = read_latest(web_settings.kafka_bootstrap, topic, Case)[the_case.case_id]
    answer = httpx.post(f"{web_base}/trace/cases/{the_case.case_id}", cookies=tracer_session,
                        data={"status": current.status.value, "onset": current.onset.isoformat(), "note": current.note})
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=unchanged")
    assert read_latest(web_settings.kafka_bootstrap, topic, Case)[the_case.case_id] == current


# --- refusals that tell nothing -----------------------------------------------------------------------

def test_a_refusal_says_the_same_whether_or_not_the_case_or_person_exists(web_base, web_sms, the_case) -> None:
    from web_day import COMMUNE_OFFICER, OWNER

    def said(answer: httpx.Response) -> tuple[int, str]:
        return answer.status_code, re.search(r'<p class="card refused">(.*?)</p>', answer.text, re.S).group(1)

    for phone in (COMMUNE_OFFICER, OWNER):
        cookies = api_session(web_base, phone, web_sms)
        for real, made_up in ((f"/trace/cases/{the_case.case_id}", f"/trace/cases/{new_id('C')}"),
                              (f"/trace/people/{the_case.person_id}?case={the_case.case_id}",
                               f"/trace/people/{new_id('P')}?case={new_id('C')}"),
                              (f"/trace/people/{the_case.person_id}/contacts.csv?case={the_case.case_id}",
                               "/trace/people/not-a-person/contacts.csv?case=x")):
            got = [said(httpx.get(web_base + path, cookies=cookies)) for path in (real, made_up)]
            assert got[0] == got[1] and got[0][0] == 403, (phone, real, got)
        posted = [said(httpx.post(f"{web_base}/trace/cases/{case}", cookies=cookies, data={"status": "cleared"}))
                  for case in (the_case.case_id, new_id("C"))]
        assert posted[0] == posted[1] and posted[0][0] == 403


@needs_chromium
def test_the_language_link_of_any_page_stays_on_the_site(web_base, tracer_session, page) -> None:
    """An address of ours whose path starts with two slashes (``https://ravao//evil.example``,
    or ``/%2F%2Fevil.example``) is a 404 page: its "English" link must not be ``//evil.example``,
    which a browser reads as another site."""
    for signed_in in (False, True):
        if signed_in:
            with_session(page, web_base, tracer_session)
        for path in ("//evil.example/x", "/%2F%2Fevil.example", "/%2F/evil.example", "/trace/cases/%2F%2Fevil"):
            page.goto(web_base + path)
            went = page.locator("a[hreflang]").evaluate("a => new URL(a.href).origin")
            assert went == web_base, (path, page.locator("a[hreflang]").get_attribute("href"))


# --- a session that ended before the form was sent ----------------------------------------------------

def test_a_form_sent_after_the_session_ended_leads_back_to_a_page_after_signing_in(web_base, tracer_session,
                                                                                  the_case) -> None:
    """The session ends (30 minutes idle) while a tracer types; the form goes to the sign-in
    page, which leads back afterwards to a page, not to the form's action (a 405 or 422)."""
    for action in ("/trace/cases", f"/trace/cases/{the_case.case_id}", "/trace/find"):
        answer = httpx.post(web_base + action, data={"q": "0356700120", "status": "cleared"})
        assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in?next=")
        back = unquote(answer.headers["location"].split("next=", 1)[1])
        assert "0356700120" not in back
        again = httpx.get(web_base + back, cookies=tracer_session, follow_redirects=True)
        assert again.status_code == 200 and again.url.path.startswith("/trace"), (action, back, again.status_code)
