"""The notifier against what a hostile or broken world sends it: an alert that comes back
after its retraction, records on `notifications` that are not notifications, and an
endpoint that never finishes its answer. Real broker, real HTTP on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from uuid import UUID

import pytest

from pipeline.alerts.notify import Notifier
from pipeline.alerts.outbox import Outbox
from pipeline.alerts.webhooks import Endpoint, WebhookSender
from pipeline.kafka_io import produce_all, reliable_producer
from pipeline.settings import Settings
from pipeline.topics import Topics
from schemas import AlertStatus
from schemas.notifications import Purpose

from notify_helpers import confirmed_alert, directory_of, the_case, venue, webhooks_setting
from webhook_receiver import Receiver, new_secret

pytestmark = pytest.mark.kafka
SECRET = new_secret(b"adversity")


class RecordedSms:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver({"/a": SECRET}).start()
    yield server
    server.stop()


def fast(settings: Settings, receiver: Receiver) -> Settings:
    return settings.model_copy(update={"webhooks": webhooks_setting(eoc=(receiver.url("/a"), SECRET)),
                                       "notify_retry_seconds": "0,0.2,0.2,0.2"})


def run_until_ended(notifier: Notifier, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while any(True for _ in notifier.outbox.open()):
        assert time.monotonic() < deadline, [str(n) for n in notifier.outbox.open()]
        notifier.deliver_due()
        time.sleep(0.05)


def test_an_alert_confirmed_again_after_its_retraction_tells_everyone_told_of_the_retraction(
        settings: Settings, topics: Topics, receiver: Receiver) -> None:
    # A case cleared by mistake and re-opened: the venue was told "withdrawn, no action
    # needed"; when the alert is confirmed again it must hear so, and the job must be
    # told that the new round ended (so it writes `notified` again).
    place = venue()
    case, _ = the_case()
    sms = RecordedSms()
    settled: list[UUID] = []
    notifier = Notifier(fast(settings, receiver), settings.kafka_bootstrap, directory_of(place), settled.append,
                        sms=sms)
    notifier.restore()
    alert = confirmed_alert(case, place.venue_id)
    notifier.offer(alert)
    run_until_ended(notifier)
    notifier.offer(alert.model_copy(update={"version": 3, "status": AlertStatus.notified}))
    notifier.offer(alert.model_copy(update={"version": 4, "status": AlertStatus.retracted}))
    run_until_ended(notifier)
    notifier.offer(alert.model_copy(update={"version": 5, "status": AlertStatus.confirmed}))
    run_until_ended(notifier)
    notifier.close()
    bodies = [json.loads(r.body) for r in receiver.snapshot()]
    assert [b["type"] for b in bodies] == ["alert.confirmed", "alert.retracted", "alert.confirmed"]
    assert bodies[-1]["data"]["version"] == 5
    texts = [text for phone, text in sms.sent if phone == place.owner_phone]
    assert [t.startswith("ravao alert:") for t in texts] == [True, False, True]
    assert settled == [alert.alert_id, alert.alert_id]
    # and a restarted notifier finds nothing left to do
    again = Notifier(fast(settings, receiver), settings.kafka_bootstrap, directory_of(place), settled.append,
                     sms=sms)
    again.restore()
    again.offer(alert.model_copy(update={"version": 5, "status": AlertStatus.confirmed}))
    assert not list(again.outbox.open())
    again.close()


def test_records_on_notifications_that_are_not_notifications_do_not_stop_a_restore(
        settings: Settings, topics: Topics, receiver: Receiver) -> None:
    place = venue()
    case, _ = the_case()
    notifier = Notifier(fast(settings, receiver), settings.kafka_bootstrap, directory_of(place), lambda _: None,
                        sms=RecordedSms())
    notifier.restore()
    notifier.offer(confirmed_alert(case, place.venue_id))
    run_until_ended(notifier)
    notifier.close()
    producer = reliable_producer(settings.kafka_bootstrap)
    produce_all(producer, topics.notifications.name, [
        (b"not-a-uuid", b"\xff\xfe garbage"), (b"\xff\xfe", None), (b"y", b'{"schema_version": 1}'),
        (b"also-not-a-uuid", None), (b"x", json.dumps({"notification_id": "nope"}).encode())])
    restored = Outbox(settings.kafka_bootstrap, topics.notifications.name)
    assert restored.restore() == 3  # the owner's, the staff's, the endpoint's; nothing else
    restored.close()


def test_restore_keeps_a_notification_whose_key_is_garbage_and_tombstoned(settings: Settings,
                                                                           topics: Topics) -> None:
    producer = reliable_producer(settings.kafka_bootstrap)
    produce_all(producer, topics.notifications.name, [(b"\x00\x01", None)])
    restored = Outbox(settings.kafka_bootstrap, topics.notifications.name)
    assert restored.restore() == 0
    restored.close()


@pytest.fixture
def trickler() -> Iterator[str]:
    """An endpoint that answers 200 and then sends its body a byte at a time, forever."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.settimeout(0.2)
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n")
                while not stop.is_set():
                    conn.sendall(b"1\r\nx\r\n")
                    time.sleep(0.1)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    stop.set()
    thread.join(5)
    server.close()


def test_an_endpoint_that_never_finishes_its_answer_does_not_hold_the_notifier(trickler: str) -> None:
    sender = WebhookSender(timeout=1.0)
    started = time.monotonic()
    outcome = sender.send(Endpoint("slow", trickler, SECRET), UUID(int=1), "{}")
    elapsed = time.monotonic() - started
    sender.close()
    assert elapsed < 5, f"an attempt took {elapsed:.1f} s with a 1 s timeout"
    assert outcome.status == 200


@pytest.fixture
def slow_headers() -> Iterator[str]:
    """An endpoint that sends its status line and then one header byte every 0.3 s, for ever."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nx-slow: ")
                while not stop.is_set():
                    conn.sendall(b"a")
                    time.sleep(0.3)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    stop.set()
    thread.join(5)
    server.close()


def test_an_endpoint_that_trickles_its_headers_is_given_up_after_the_timeout(slow_headers: str) -> None:
    sender = WebhookSender(timeout=1.0)
    started = time.monotonic()
    outcome = sender.send(Endpoint("slow", slow_headers, SECRET), UUID(int=2), "{}")
    elapsed = time.monotonic() - started
    sender.close()
    assert elapsed < 5, f"an attempt took {elapsed:.1f} s with a 1 s timeout"
    assert not outcome.delivered and "1 s" in outcome.error
