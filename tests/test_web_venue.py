"""The venue page in headless Chromium, its live feed on the real broker: a venue's owner
sees a new entry within 5 s, masked; the staff of a privileged venue see it in full, and
an audit row says so; nobody sees another venue's page or feed, nor a feed without a
live session; a page that falls behind is told to reload; the poster and the staff cards
print for the owner only.

The scans' visits are made by the worker's own pairing (`pipeline.pairing.apply_scan`)
and published to `visits` as the worker publishes them: the feed follows that topic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
import time
import uuid
from datetime import datetime, timedelta, timezone
from io import BytesIO

import httpx
import pytest
from pypdf import PdfReader

from conftest import TEST_QR_KEYS
from dashboards.web import create_app
from dashboards.web.venue_feed import Announced, VenueFeed
from pipeline.access import local_admin
from pipeline.access.http import COOKIE, SignIn
from pipeline.kafka_io import ensure_topics, produce_all, reliable_producer
from pipeline.keys import load_codec
from pipeline.pairing import PersonState, apply_scan
from pipeline.privacy import mask_name, mask_phone
from pipeline.settings import Settings
from pipeline.topics import topics_for
from schemas import Device, Person, PersonalData, RawScan, ValidScan, Visit
from schemas.cases import Alert, venue_alert_id
from schemas.ids import new_id
from web_day import *  # noqa: F401,F403 (the fixtures)
from web_day import HOSPITAL_OWNER, HOSPITAL_STAFF, OWNER, PROVINCE_OFFICER
from web_helpers import *  # noqa: F401,F403 (the browser fixtures)
from web_helpers import api_session, artifact, needs_chromium, sign_in_by_page, with_session
from stream_helpers import start_worker, stop_worker
from warehouse_day import load_records

FEED_WAIT_MS = 5_000  # the acceptance's "within 5 s" (the goal is 2 s)
VISITOR_NAME, VISITOR_PHONE = "Trần Thị Bích Ngọc", "0977123456"
INSIDE_NAME = "Lê Hoàng Phúc"
WALKER_NAME = "Phạm Minh Khang"


# --- the web day, on a broker ---------------------------------------------------------------

@pytest.fixture(scope="module")
def web_settings(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """`web_day`'s settings (it reads this fixture), with a broker and signing keys."""
    home = tmp_path_factory.mktemp("web-venue")
    settings = Settings(data_dir=home / "data", clickhouse_url=None, session_cookie_secure=False,
                        kafka_bootstrap=kafka_bootstrap, topic_prefix=f"wv{uuid.uuid4().hex[:10]}.",
                        topic_partitions=3, qr_keys=TEST_QR_KEYS)
    ensure_topics(kafka_bootstrap, topics_for(settings).all())
    return settings


@pytest.fixture(scope="module")
def people(web_day, web_warehouse) -> dict[str, str]:
    """A visitor with a name of their own, one person inside the owner's venue now, and a
    reader station there."""
    visitor, inside, walker = new_id("P"), new_id("P"), new_id("P")
    load_records(web_warehouse, "personal_data", PersonalData, [
        PersonalData(person_id=visitor, full_name=VISITOR_NAME, phone=VISITOR_PHONE),
        PersonalData(person_id=inside, full_name=INSIDE_NAME, phone="0966000111"),
        PersonalData(person_id=walker, full_name=WALKER_NAME, phone="0388000222")], "person_id")
    venue = web_day.venues[1]
    now = datetime.now(timezone.utc)
    load_records(web_warehouse, "visits", Visit, [Visit(
        visit_id=uuid.uuid4(), version=1, person_id=inside, venue_id=venue.venue_id, area_id=venue.area_id,
        area_path=venue.area_path, category=venue.category, t_in=now - timedelta(minutes=40),
        t_out=now + timedelta(minutes=20), entry_how="scan", exit_how="open", updated_at=now)])
    station = Device(device_id=new_id("D"), venue_id=venue.venue_id, kind="reader_station", label="Cổng chính",
                     token_sha256="0" * 64)
    load_records(web_warehouse, "devices", Device, [station], "device_id")
    alerts = [Alert(alert_id=venue_alert_id("C" + c * 14, v.venue_id), venue_id=v.venue_id, case_ids=["C" + c * 14],
                    first_presence=now - timedelta(hours=3), last_presence=now - timedelta(hours=2), visits=2,
                    exposed=7, registered_at=now, seconds_from_registration=1.5, status=status)
              for c, v, status in (("B", venue, "confirmed"), ("C", web_day.venues[0], "proposed"))]
    load_records(web_warehouse, "alerts", Alert, alerts)
    return {"visitor": visitor, "inside": inside, "walker": walker, "station": station}


@pytest.fixture(scope="module")
def web_app(web_settings, web_warehouse, web_directory, web_sms, people):
    return create_app(web_settings, warehouse=web_warehouse, live_feed=True,
                      sign_in=SignIn(web_settings, web_directory, sms=web_sms))


def scan_at(settings: Settings, venue, person: str, direction: str, state: PersonState | None = None,
            at: datetime | None = None) -> PersonState:
    """A valid scan paired as the worker pairs it; its visits published as the worker does."""
    at = at or datetime.now(timezone.utc)
    scan = ValidScan(event_id=uuid.uuid4(), source="station", person_id=person, venue_id=venue.venue_id,
                     direction=direction, scanned_at=at, received_at=at, area_id=venue.area_id,
                     area_path=venue.area_path, category=venue.category, default_stay_minutes=60,
                     max_stay_minutes=240)
    state, visits, _ = apply_scan(state or PersonState(person), scan, at)
    assert visits, "the pairing made no visit of the scan"
    produce_all(reliable_producer(settings.kafka_bootstrap), topics_for(settings).visits.name,
                [(person.encode(), v.to_bytes()) for v in visits])
    return state


@pytest.fixture(scope="module")
def owner_session(web_base, web_sms) -> dict[str, str]:
    """One session of the owner for the tests that do not test signing in (codes are
    throttled per phone)."""
    return api_session(web_base, OWNER, web_sms)


def open_live(page, base: str, venue_id: str) -> None:
    page.goto(f"{base}/venues/{venue_id}")
    page.locator("#feed-status[data-state=live]").wait_for()


# --- in the browser ---------------------------------------------------------------------------

@needs_chromium
@pytest.mark.kafka
def test_the_owner_sees_a_new_entry_and_exit_in_the_live_feed_masked(web_base, web_day, web_settings, web_sms,
                                                                      people, page) -> None:
    venue = web_day.venues[1]
    sign_in_by_page(page, web_base, OWNER, web_sms)
    assert page.url == f"{web_base}/venues/{venue.venue_id}"  # the owner's own page first
    page.locator("#feed-status[data-state=live]").wait_for()
    text = page.inner_text("main")
    assert mask_name(INSIDE_NAME) in text and INSIDE_NAME not in text  # inside now, masked
    assert mask_phone(OWNER) in page.inner_text("#staff") and OWNER not in page.content()
    assert "Cổng chính" in page.inner_text("#devices")
    assert page.locator("#alerts tbody tr").count() == 1  # its own alert, not the hospital's
    assert "Đã xác nhận" in page.inner_text("#alerts")
    page.screenshot(path=artifact("venue-owner"), full_page=True)

    state = scan_at(web_settings, venue, people["visitor"], "in")
    entry = page.locator("#feed li.entry").first
    entry.wait_for(timeout=FEED_WAIT_MS)
    shown = entry.inner_text()
    assert mask_name(VISITOR_NAME) in shown and mask_phone(VISITOR_PHONE) in shown
    assert VISITOR_NAME not in page.content() and VISITOR_PHONE not in page.content()

    scan_at(web_settings, venue, people["visitor"], "out", state, datetime.now(timezone.utc) + timedelta(minutes=2))
    page.locator("#feed li.exit").first.wait_for(timeout=FEED_WAIT_MS)
    assert page.locator("#feed li").count() == 2  # the exit once, the entry once
    page.screenshot(path=artifact("venue-owner-feed"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=artifact("venue-owner-feed-phone"), full_page=True)


@needs_chromium
@pytest.mark.kafka
def test_the_staff_of_a_privileged_venue_see_the_entry_in_full_and_it_is_audited(
        web_base, web_app, web_day, web_settings, web_sms, people, page) -> None:
    hospital = web_day.venues[0]
    sign_in_by_page(page, web_base, HOSPITAL_STAFF, web_sms)
    open_live(page, web_base, hospital.venue_id)
    assert page.locator("#print-title").count() == 0  # staff, not the owner: nothing to print
    scan_at(web_settings, hospital, people["visitor"], "in")
    entry = page.locator("#feed li.entry").first
    entry.wait_for(timeout=FEED_WAIT_MS)
    assert VISITOR_NAME in entry.inner_text() and VISITOR_PHONE in entry.inner_text()
    page.screenshot(path=artifact("venue-privileged-feed"), full_page=True)
    trail = web_app.state.reads.audit_trail(local_admin("test"), person=people["visitor"]).dicts()
    read = [(r["actor"], r["subject"], r["purpose"]) for r in trail if r["action"] == "venue_feed"]
    assert read == [(HOSPITAL_STAFF, hospital.venue_id, f"staff of privileged venue {hospital.venue_id}")], trail


@needs_chromium
@pytest.mark.kafka
def test_the_owner_gets_no_other_venues_page_nor_feed(web_base, web_day, owner_session, page) -> None:
    hospital = web_day.venues[0]
    answer = with_session(page, web_base, owner_session).goto(f"{web_base}/venues/{hospital.venue_id}")
    assert answer.status == 403 and hospital.name not in page.content()
    page.screenshot(path=artifact("venue-other-refused"))
    cookies = owner_session
    for path in ("feed", "poster.pdf", "staff-cards.pdf"):
        refused = httpx.get(f"{web_base}/venues/{hospital.venue_id}/{path}", cookies=cookies, timeout=10)
        assert refused.status_code == 403, path
        assert "event-stream" not in refused.headers["content-type"]
    assert httpx.get(f"{web_base}/venues/{new_id('V')}/feed", cookies=cookies, timeout=10).status_code == 403


@pytest.mark.kafka
@pytest.mark.parametrize("cookies", [{}, {COOKIE: "forged-" + "x" * 40}], ids=["absent", "forged"])
def test_no_feed_without_a_live_session(web_base, web_day, cookies) -> None:
    with httpx.stream("GET", f"{web_base}/venues/{web_day.venues[1].venue_id}/feed", cookies=cookies,
                      timeout=10) as answer:
        assert answer.status_code == 401
        assert "event-stream" not in answer.headers["content-type"]



def events(lines) -> Iterator[tuple[str, dict]]:
    name = None
    for line in lines:
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and name:
            yield name, json.loads(line.split(":", 1)[1])
            name = None


@pytest.mark.kafka
def test_signing_out_ends_the_feed(web_base, web_day, web_sms) -> None:
    cookies = api_session(web_base, HOSPITAL_OWNER, web_sms)
    with httpx.stream("GET", f"{web_base}/venues/{web_day.venues[0].venue_id}/feed", cookies=cookies,
                      timeout=30) as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        said = events(stream.iter_lines())
        assert next(said)[0] == "status"
        assert httpx.delete(f"{web_base}/api/v1/session", cookies=cookies).status_code == 204
        deadline = time.monotonic() + 20
        for name, _ in said:
            if name == "signed-out" or time.monotonic() > deadline:
                break
        assert name == "signed-out"


@needs_chromium
@pytest.mark.kafka
def test_an_officer_above_the_venue_watches_it_masked_and_cannot_print(web_base, web_day, web_sms,
                                                                        page) -> None:
    venue = web_day.venues[1]
    cookies = api_session(web_base, PROVINCE_OFFICER, web_sms)
    open_live(with_session(page, web_base, cookies), web_base, venue.venue_id)
    assert mask_name(INSIDE_NAME) in page.inner_text("#inside") and INSIDE_NAME not in page.content()
    assert page.locator("#print-title").count() == 0
    page.screenshot(path=artifact("venue-officer"), full_page=True)
    for path in ("poster.pdf", "staff-cards.pdf"):
        assert httpx.get(f"{web_base}/venues/{venue.venue_id}/{path}", cookies=cookies).status_code == 403


@needs_chromium
@pytest.mark.kafka
def test_the_owner_prints_the_poster_and_the_staff_cards(web_base, web_day, owner_session, page) -> None:
    venue = web_day.venues[1]
    with_session(page, web_base, owner_session).goto(f"{web_base}/venues/{venue.venue_id}")
    assert page.get_attribute("#poster", "href") == f"/venues/{venue.venue_id}/poster.pdf"  # for the owner
    assert page.get_attribute("#staff-cards", "href") == f"/venues/{venue.venue_id}/staff-cards.pdf"
    cookies = owner_session
    poster = httpx.get(f"{web_base}/venues/{venue.venue_id}/poster.pdf", cookies=cookies, timeout=30)
    assert poster.status_code == 200 and poster.headers["content-type"] == "application/pdf"
    assert venue.name in PdfReader(BytesIO(poster.content)).pages[0].extract_text()
    cards = httpx.get(f"{web_base}/venues/{venue.venue_id}/staff-cards.pdf", cookies=cookies, timeout=30)
    assert cards.status_code == 200
    pages = [p.extract_text() for p in PdfReader(BytesIO(cards.content)).pages]
    phones = [venue.owner_phone, *venue.staff_phones]
    assert len(pages) == len(phones)
    for text, phone in zip(pages, phones):
        assert mask_phone(phone) in text and phone not in text


def station_read(settings: Settings, person: str, device: str) -> None:
    """A reader station's scan of a person's card, on scans.raw as a station sends it."""
    raw = RawScan(event_id=uuid.uuid4(), source="station", person_qr=load_codec(settings).encode(person),
                  device_id=device, direction="in", scanned_at=datetime.now(timezone.utc))
    produce_all(reliable_producer(settings.kafka_bootstrap), topics_for(settings).scans_raw.name,
                [(person.encode(), raw.to_bytes())])


@needs_chromium
@pytest.mark.kafka
def test_a_scan_through_the_worker_reaches_the_owners_feed(web_base, web_day, web_settings, owner_session, people,
                                                           page, tmp_path) -> None:
    venue, station = web_day.venues[1], people["station"]
    producer = reliable_producer(web_settings.kafka_bootstrap)
    topics = topics_for(web_settings)
    produce_all(producer, topics.areas.name, [(a.area_id.encode(), a.to_bytes()) for a in web_day.areas])
    produce_all(producer, topics.venues.name, [(venue.venue_id.encode(), venue.to_bytes())])
    produce_all(producer, topics.devices.name, [(station.device_id.encode(), station.to_bytes())])
    produce_all(producer, topics.persons.name, [(p.encode(), Person(person_id=p).to_bytes())
                                                for p in (people["inside"], people["walker"])])
    worker = start_worker(web_settings, "venue-feed", tmp_path)
    try:
        open_live(with_session(page, web_base, owner_session), web_base, venue.venue_id)
        # The worker's start is not what is measured: a first scan shows it is running.
        station_read(web_settings, people["inside"], station.device_id)
        page.locator(f"#feed li.entry:has-text('{mask_name(INSIDE_NAME)}')").wait_for(timeout=90_000)
        station_read(web_settings, people["walker"], station.device_id)
        page.locator(f"#feed li.entry:has-text('{mask_name(WALKER_NAME)}')").wait_for(timeout=FEED_WAIT_MS)
        assert WALKER_NAME not in page.content()
        page.screenshot(path=artifact("venue-owner-feed-from-worker"), full_page=True)
    finally:
        assert stop_worker(worker) == 0


@needs_chromium
@pytest.mark.kafka
def test_a_page_that_falls_behind_is_told_to_reload(web_base, web_day, web_settings, owner_session, page) -> None:
    venue = web_day.venues[1]
    open_live(with_session(page, web_base, owner_session), web_base, venue.venue_id)
    now = datetime.now(timezone.utc)
    flood = [Visit(visit_id=uuid.uuid4(), version=1, person_id=new_id("P"), venue_id=venue.venue_id,
                   area_id=venue.area_id, area_path=venue.area_path, category=venue.category, t_in=now,
                   t_out=now + timedelta(hours=1), entry_how="scan", exit_how="open") for _ in range(3000)]
    produce_all(reliable_producer(web_settings.kafka_bootstrap), topics_for(web_settings).visits.name,
                [(v.person_id.encode(), v.to_bytes()) for v in flood])
    page.locator("#feed-notice:not([hidden])").wait_for()
    assert "tải lại" in page.inner_text("#feed-notice")
    page.screenshot(path=artifact("venue-feed-reload"))
    page.click("#feed-notice button")  # reload: the feed starts again, live
    page.locator("#feed-status[data-state=live]").wait_for()


# --- the feed's rules, without a broker -----------------------------------------------------------

def _visit(**changes) -> Visit:
    now = datetime(2026, 3, 1, 8, tzinfo=timezone.utc)
    fields = dict(visit_id=uuid.UUID(int=1), version=1, person_id="P" + "B" * 14, venue_id="V" + "B" * 14,
                  area_id="25741", area_path=("74", "718", "25741"), category="market", t_in=now,
                  t_out=now + timedelta(hours=1), entry_how="scan", exit_how="open")
    return Visit(**{**fields, **changes})


def test_an_open_visit_is_an_entry_and_its_closing_an_exit_each_said_once() -> None:
    said = Announced()
    opened = _visit()
    assert [m.kind for m in said.movements(opened)] == ["entry"]
    assert said.movements(opened) == []  # redelivered
    closed = _visit(version=2, exit_how="scan", t_out=opened.t_in + timedelta(minutes=30))
    assert [(m.kind, m.how) for m in said.movements(closed)] == [("exit", "scan")]
    assert said.movements(closed) == []
    assert said.movements(_visit(version=3, deleted=True)) == []  # withdrawn: nothing new to say


def test_exits_nobody_scanned_are_said_and_an_inferred_entry_is_not() -> None:
    said = Announced()
    assert [(m.kind, m.how) for m in said.movements(_visit(exit_how="next_scan"))] == [("entry", "scan"),
                                                                                      ("exit", "next_scan")]
    orphan = _visit(visit_id=uuid.UUID(int=2), entry_how="inferred", exit_how="scan")
    assert [m.kind for m in said.movements(orphan)] == ["exit"]
    # A revision the page never heard of (it opened since) says only the exit.
    late = _visit(visit_id=uuid.UUID(int=3), version=4, exit_how="timeout")
    assert [m.kind for m in said.movements(late)] == ["exit"]


def test_a_watcher_that_falls_behind_is_dropped_and_memory_stays_bounded() -> None:
    feed = VenueFeed(lambda: "unused", "visits", queue_size=3)
    slow, other = feed.watch("V" + "B" * 14), feed.watch("V" + "C" * 14)
    for i in range(10):
        for movement in feed.announced.movements(_visit(visit_id=uuid.UUID(int=10 + i))):
            feed.hand_out(movement)
    assert slow.overflowed.is_set() and slow.queue.qsize() == 3
    assert other.queue.empty() and not other.overflowed.is_set()
    feed.stop_watching(slow)
    assert feed.watching("V" + "B" * 14) == 0
    small = Announced(size=5)
    for i in range(20):
        small.movements(_visit(visit_id=uuid.UUID(int=100 + i)))
    assert len(small._said) == 5


@pytest.mark.kafka
def test_the_app_starts_and_serves_without_the_broker_and_its_feed_waits(web_settings, web_warehouse, web_directory,
                                                                           web_sms, web_day) -> None:
    from web_helpers import served

    nowhere = web_settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:9"})  # nothing listens there
    app = create_app(nowhere, warehouse=web_warehouse, live_feed=True,
                     sign_in=SignIn(nowhere, web_directory, sms=web_sms))
    with served(app) as base:
        assert httpx.get(f"{base}/sign-in", timeout=10).status_code == 200
        cookies = api_session(base, HOSPITAL_STAFF, web_sms)
        with httpx.stream("GET", f"{base}/venues/{web_day.venues[0].venue_id}/feed", cookies=cookies,
                          timeout=10) as stream:
            assert next(events(stream.iter_lines())) == ("status", {"live": False})
        assert not app.state.venue_feed.live
