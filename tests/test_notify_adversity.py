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


class Endless:
    """An endpoint that sends ``head`` and then ``chunk`` every ``every`` seconds, for ever:
    it notes when the client hung up on it (the send gave up), instead of timing the send."""

    def __init__(self, head: bytes, chunk: bytes, every: float) -> None:
        self.head, self.chunk, self.every = head, chunk, every
        self.hung_up = threading.Event()
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"

    def _serve(self) -> None:
        self.server.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            try:
                conn.recv(65536)
                conn.sendall(self.head)
                while not self.stop.is_set():
                    conn.sendall(self.chunk)
                    time.sleep(self.every)
            except OSError:  # the client closed the connection while we were still answering
                self.hung_up.set()
            finally:
                conn.close()

    def __enter__(self) -> "Endless":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.server.close()


def test_an_endpoint_that_never_finishes_its_answer_does_not_hold_the_notifier() -> None:
    # 200, then a chunked body a byte every 0.1 s, never ending.
    with Endless(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n",
                 b"1\r\nx\r\n", 0.1) as endless:
        sender = WebhookSender(timeout=1.0)
        outcome = sender.send(Endpoint("slow", endless.url, SECRET), UUID(int=1), "{}")
        sender.close()
        assert endless.hung_up.wait(10), "the send returned without hanging up on the endless body"
    assert outcome.status == 200


def test_an_endpoint_that_trickles_its_headers_is_given_up_after_the_timeout() -> None:
    # The status line, then one header byte every 0.3 s, for ever: each read is quick, the whole is not.
    with Endless(b"HTTP/1.1 200 OK\r\nx-slow: ", b"a", 0.3) as endless:
        sender = WebhookSender(timeout=1.0)
        outcome = sender.send(Endpoint("slow", endless.url, SECRET), UUID(int=2), "{}")
        sender.close()
        assert endless.hung_up.wait(10), "the send returned without hanging up on the endless headers"
    assert not outcome.delivered and "1 s" in outcome.error
