"""The operations page (`/ops`) and the web's own /metrics, on the real broker and the
real engine: a consumer group the test made with a known lag shows exactly that lag, the
dead letters the test put are counted by reason (a letter written twice once), the
sink's positions against the topic's end, the failing deliveries with phones masked, the
workers' scans per second from their snapshots; every other role is refused; a broker
that is down is said so on a page that still answers, without holding up the app."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from uuid import uuid4

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from dashboards.web import create_app
from metrics_helpers import parsed, value
from pipeline.access.http import SignIn
from pipeline.kafka_io import ensure_topics
from pipeline.settings import Settings
from pipeline.topics import TopicSpec, topics_for
from schemas.dlq import DeadLetter, RejectReason
from schemas.ids import VENUE, new_id
from schemas.notifications import Channel, DeliveryState, Notification, Purpose, RecipientRole
from warehouse_day import load_records
from web_day import *  # noqa: F401,F403 (the fixtures)
from web_day import ADMIN, COMMUNE_OFFICER, DISTRICT_OFFICER, HOSPITAL_STAFF, OWNER, PROVINCE_OFFICER, TRACER
from web_helpers import *  # noqa: F401,F403 (the browser fixtures)
from web_helpers import KeptSms, artifact, needs_chromium, served, sign_in_by_page

pytestmark = pytest.mark.kafka
SMS_PHONE = "0981234791"


@pytest.fixture(scope="module")
def web_settings(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> Settings:
    """web_day's settings, on the test broker with topics of its own."""
    home = tmp_path_factory.mktemp("web-ops")
    return Settings(data_dir=home / "data", clickhouse_url=None, session_cookie_secure=False,
                    kafka_bootstrap=kafka_bootstrap, topic_prefix=f"o{uuid.uuid4().hex[:10]}.",
                    code_issue_client_burst=50)


@pytest.fixture(scope="module")
def operations(web_settings: Settings, web_warehouse, web_day) -> dict:
    """What the page must show: a group with a known lag, dead letters, the sink's
    positions on a topic with more on the broker, failing notifications."""
    bootstrap, prefix = web_settings.kafka_bootstrap, web_settings.topic_prefix
    topics = topics_for(web_settings)
    lag_topic = f"{prefix}ops.lagtest"
    ensure_topics(bootstrap, [TopicSpec(lag_topic, 2, False, 86_400_000, "none"), topics.scans_dlq, topics.stats])
    producer = Producer({"bootstrap.servers": bootstrap})
    for partition, count in ((0, 7), (1, 5)):
        for n in range(count):
            producer.produce(lag_topic, value=b"%d" % n, partition=partition)
    for n in range(7):
        producer.produce(topics.scans_dlq.name, value=b"{}", partition=0)
    assert producer.flush(30) == 0
    group = f"{prefix}ops-group"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(lag_topic, 0, 2), TopicPartition(lag_topic, 1, 5)], asynchronous=False)
    consumer.close()

    now = datetime.now(timezone.utc)
    letters = []
    for n, (reason, ago) in enumerate([(RejectReason.bad_signature, timedelta(minutes=10))] * 3
                                      + [(RejectReason.unknown_venue, timedelta(hours=2)),
                                         (RejectReason.unknown_venue, timedelta(days=3)),
                                         (RejectReason.too_late, timedelta(minutes=30))]):
        letters.append(DeadLetter(reason=reason, message="test", raw_base64="", source_topic=f"{prefix}scans.raw",
                                  source_partition=0, source_offset=n, rejected_at=now - ago))
    load_records(web_warehouse, "dead_letters", DeadLetter, letters)
    load_records(web_warehouse, "dead_letters", DeadLetter, letters[:1])  # written twice (a replay): once
    web_warehouse.insert("sink_positions", ["topic", "partition", "next_offset", "updated_at"],
                         [(topics.scans_dlq.name, 0, 3, now - timedelta(minutes=5)),
                          (topics.scans_dlq.name, 0, 5, now - timedelta(minutes=1))])

    venue, alert = new_id(VENUE), uuid4()

    def notification(channel, recipient, role, state, attempts, status=None, error="") -> Notification:
        return Notification(notification_id=uuid4(), alert_id=alert, alert_version=2, purpose=Purpose.alert,
                            channel=channel, recipient=recipient, role=role, venue_id=venue, state=state,
                            attempts=attempts, last_status=status, last_error=error, body="x",
                            delivered_at=now if state is DeliveryState.delivered else None,
                            next_attempt_at=now + timedelta(minutes=5) if state is DeliveryState.pending and attempts
                            else None)

    given_up = notification(Channel.webhook, "eoc", RecipientRole.endpoint, DeliveryState.failed, 8, 500,
                            "the endpoint answered 500")
    retrying = notification(Channel.sms, SMS_PHONE, RecipientRole.venue_owner, DeliveryState.pending, 1,
                            error="the SMS gateway did not answer")
    fine = [notification(Channel.sms, "0912000001", RecipientRole.venue_staff, DeliveryState.delivered, 1),
            notification(Channel.webhook, "eoc", RecipientRole.endpoint, DeliveryState.pending, 0)]
    load_records(web_warehouse, "notifications_incoming", Notification, [given_up, retrying, *fine])
    return {"group": group, "lag_topic": lag_topic, "dlq": topics.scans_dlq.name, "failing": {given_up, retrying}}


@contextmanager
def session(base: str, phone: str, sms: KeptSms) -> Iterator[httpx.Client]:
    """An httpx client signed in as ``phone`` through the API (phone, then the code)."""
    with httpx.Client(base_url=base, timeout=60) as client:
        assert client.post("/api/v1/session/code", json={"phone": phone}).status_code == 202
        answer = client.post("/api/v1/session", json={"phone": phone, "code": sms.code_for(phone)})
        assert answer.status_code == 200, answer.text
        yield client


@pytest.fixture(scope="module")
def admin(web_base: str, web_sms: KeptSms):
    with session(web_base, ADMIN, web_sms) as client:
        yield client


def row(html: str, **attributes: str) -> str:
    """The table row carrying these data- attributes."""
    wanted = "".join(f'[^>]*data-{k}="{re.escape(v)}"' for k, v in attributes.items())
    found = re.search(rf"<tr{wanted}[^>]*>(.*?)</tr>", html, re.S)
    assert found, attributes
    return found.group(1)


def cells(html_row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", html_row, re.S)]


def publish_snapshots(settings: Settings) -> None:
    """Two snapshots of one worker, 5 s apart: 50 scans accepted and 10 refused between them."""
    now = time.time()
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    for at, accepted, refused in ((now - 5, 100, 10), (now, 150, 20)):
        snapshot = {"worker": "test-worker", "started": now - 60, "at": at,
                    "counts": [["scans_accepted", "", accepted], ["scans_rejected", "bad_code", refused]]}
        producer.produce(topics_for(settings).stats.name, key=b"test-worker", value=json.dumps(snapshot).encode())
    assert producer.flush(30) == 0


def test_the_page_shows_exactly_the_lag_the_dead_letters_the_positions_and_the_failures_put(
        admin: httpx.Client, operations: dict, web_settings: Settings) -> None:
    publish_snapshots(web_settings)
    answer = admin.get("/ops?lang=en")
    assert answer.status_code == 200, answer.text
    html = answer.text
    assert "broker-unreachable" not in html
    assert 'href="/ops"' in admin.get("/nowhere").text  # the admin's menu links to it
    # group, topic, lag, state, members, partitions, committed, end
    lag = cells(row(html, group=operations["group"], topic=operations["lag_topic"]))
    assert lag[2] == "5" and lag[5:] == ["2", "7", "12"]
    dead = {r: cells(row(html, reason=r))[1:4] for r in ("bad_signature", "unknown_venue", "too_late")}
    assert dead == {"bad_signature": ["3", "3", "3"], "unknown_venue": ["0", "1", "2"], "too_late": ["1", "1", "1"]}
    assert cells(row(html, topic=operations["dlq"]))[1:4] == ["2", "5", "1"]  # not landed, landed, partitions
    failing = re.findall(r'data-notification="([^"]+)"', html)
    assert sorted(failing) == sorted(str(n.notification_id) for n in operations["failing"])
    assert SMS_PHONE not in html and "098****791" in html  # the phone as the warehouse keeps it: masked
    assert re.search(r'id="rate-accepted"><span class="value">10\.0<', html)
    assert re.search(r'id="rate-refused"><span class="value">2\.0<', html)


@pytest.mark.parametrize("phone", [COMMUNE_OFFICER, DISTRICT_OFFICER, PROVINCE_OFFICER, TRACER, OWNER,
                                   HOSPITAL_STAFF])
def test_every_role_but_admin_is_refused_the_page(web_base: str, web_sms: KeptSms, operations: dict,
                                                  phone: str) -> None:
    with session(web_base, phone, web_sms) as client:
        answer = client.get("/ops?lang=en")
        assert answer.status_code == 403
        assert "only administrators" in answer.text and operations["group"] not in answer.text
        assert 'href="/ops"' not in client.get("/nowhere").text  # and no link to it in their menu


def test_without_a_session_the_page_redirects_to_sign_in(web_base: str) -> None:
    answer = httpx.get(f"{web_base}/ops", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/sign-in?next=%2Fops"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once closed


def test_a_broker_that_is_down_is_said_so_and_holds_up_no_other_request(
        web_settings: Settings, web_warehouse, web_directory, operations: dict) -> None:
    settings = web_settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{closed_port()}",
                                               "ops_kafka_timeout_seconds": 3.0})
    sms = KeptSms()
    app = create_app(settings, warehouse=web_warehouse, sign_in=SignIn(settings, web_directory, sms=sms))
    with served(app) as base, session(base, ADMIN, sms) as client:
        finished: list[str] = []
        slow = threading.Thread(target=lambda: finished.append(("ops", client.get("/ops?lang=en"))))
        slow.start()
        time.sleep(0.5)  # the page is now waiting for the broker, on a thread of its own
        assert httpx.get(f"{base}/sign-in", timeout=60).status_code == 200
        finished.append(("sign-in", None))
        slow.join(60)
        assert [name for name, _ in finished] == ["sign-in", "ops"]  # the loop served others meanwhile
        answer = finished[1][1]
        assert answer.status_code == 200
        assert 'id="broker-unreachable"' in answer.text and "Broker unreachable" in answer.text
        assert cells(row(answer.text, reason="bad_signature"))[3] == "3"  # the warehouse's parts still shown


def test_the_web_serves_its_metrics_to_loopback_only_and_counts_requests(web_base: str) -> None:
    def scraped() -> dict:
        answer = httpx.get(f"{web_base}/metrics")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
        return parsed(answer.text)

    before = value(scraped(), "ravao_web_requests_total", route="/sign-in", method="GET", status="200")
    for _ in range(3):
        httpx.get(f"{web_base}/sign-in")
    after = scraped()
    assert value(after, "ravao_web_requests_total", route="/sign-in", method="GET", status="200") == before + 3
    assert value(after, "ravao_web_request_seconds_count", route="/sign-in") >= 3
    assert value(after, "process_resident_memory_bytes") > 0
    # Through a trusted proxy from the internet (uvicorn takes X-Forwarded-For from
    # loopback): the client is that address, and it is told there is nothing here.
    outside = httpx.get(f"{web_base}/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert outside.status_code == 404 and "ravao_" not in outside.text
    # Paths nobody routed are counted under one label, not one each.
    httpx.get(f"{web_base}/no/such/{uuid4()}")
    assert not any(str(s.labels.get("route", "")).startswith("/no/") for s in scraped()["ravao_web_requests_total"])


def test_apps_made_twice_in_one_process_have_registries_of_their_own(web_settings, web_warehouse,
                                                                     web_directory) -> None:
    first = create_app(web_settings, warehouse=web_warehouse, sign_in=SignIn(web_settings, web_directory))
    second = create_app(web_settings, warehouse=web_warehouse, sign_in=SignIn(web_settings, web_directory))
    assert first.state.metrics.registry is not second.state.metrics.registry


@needs_chromium
def test_an_admin_sees_the_operations_page(web_base, page, web_sms, operations, web_settings) -> None:
    publish_snapshots(web_settings)
    sign_in_by_page(page, web_base, ADMIN, web_sms, next_path="/ops")
    assert page.url.startswith(f"{web_base}/ops")
    page.wait_for_selector("#consumer-lag")
    assert page.locator(f'tr[data-group="{operations["group"]}"] td.lag').inner_text() == "5"
    page.screenshot(path=artifact("ops"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=artifact("ops-phone"), full_page=True)
