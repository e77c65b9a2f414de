"""The notifier against a real broker and a real HTTP receiver on loopback that verifies
every webhook with `standardwebhooks`: retries, Retry-After, 410, no personal data, and
durable delivery state across a restart."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from uuid import UUID

import pytest

from pipeline.alerts.notify import Notifier
from pipeline.alerts.outbox import Outbox
from pipeline.settings import Settings
from pipeline.topics import Topics
from schemas import AlertStatus
from schemas.notifications import Channel, DeliveryState, Purpose, RecipientRole

from conftest import run_cli, settings_env
from metrics_helpers import of_registry, value
from notify_helpers import (OFFICER, OWNER, STAFF, confirmed_alert, directory_of, officer, personal_strings, the_case,
                            venue, webhooks_setting)
from webhook_receiver import Receiver, fail_first_try_of_every, new_secret

pytestmark = pytest.mark.kafka
SECRET_A, SECRET_B = new_secret(b"endpoint a"), new_secret(b"endpoint b")


class RecordedSms:
    """An SMS adapter that keeps what it was given (the console one logs it)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver({"/a": SECRET_A, "/b": SECRET_B}).start()
    yield server
    server.stop()


def fast(settings: Settings, receiver: Receiver, **extra: object) -> Settings:
    hooks = webhooks_setting(eoc=(receiver.url("/a"), SECRET_A))
    return settings.model_copy(update={"webhooks": hooks, "notify_retry_seconds": "0,0.2,0.2,0.2", **extra})


def run_until_ended(notifier: Notifier, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while any(True for _ in notifier.outbox.open()):
        assert time.monotonic() < deadline, [str(n) for n in notifier.outbox.open()]
        notifier.deliver_due()
        time.sleep(0.05)


def test_each_notification_is_delivered_after_a_500_on_its_first_try_and_carries_nothing_personal(
        settings: Settings, topics: Topics, receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.policy = fail_first_try_of_every(2)
    places = [venue(f"Chợ {i}") for i in range(4)]
    case, personal = the_case()
    settled: list[UUID] = []
    sms = RecordedSms()
    notifier = Notifier(fast(settings, receiver), settings.kafka_bootstrap,
                        directory_of(*places, accounts=(officer(),)), settled.append, sms=sms)
    caplog.set_level(logging.DEBUG)
    notifier.restore()
    alerts = [confirmed_alert(case, place.venue_id) for place in places]
    for alert in alerts:
        notifier.offer(alert)
        notifier.offer(alert.model_copy(update={"version": 3}))  # a later version tells nobody again
    run_until_ended(notifier)
    notifier.close()

    received = receiver.snapshot()
    assert received and all(r.verified for r in received)
    webhook_ids = {str(n.notification_id) for n in notifier.outbox.by_id.values() if n.channel is Channel.webhook}
    assert len(webhook_ids) == len(alerts)
    delivered = [r.msg_id for r in received if r.status == 200]
    assert sorted(delivered) == sorted(webhook_ids)  # each once, retried ones included
    assert any(r.status == 500 for r in received)
    for r in received:  # a retry is the same message
        first = next(x for x in received if x.msg_id == r.msg_id)
        assert r.body == first.body
    assert sorted(phone for phone, _ in sms.sent) == sorted([OWNER, STAFF, OFFICER] * len(alerts))
    assert all(n.state is DeliveryState.delivered for n in notifier.outbox.by_id.values())
    assert sorted(settled) == sorted(a.alert_id for a in alerts)
    payload = json.loads(received[0].body)
    assert payload["type"] == "alert.confirmed" and set(payload["data"]) == {
        "alert_id", "version", "kind", "venue", "from", "to", "advice", "link"}

    # The attack: every byte that left, and every log line, searched for the case's person.
    everything = b"".join(r.body for r in received).decode() + "".join(text for _, text in sms.sent)
    for secret in personal_strings(case, personal):
        assert secret not in everything, secret
        assert secret not in caplog.text, secret
    for phone in (OWNER, STAFF, OFFICER):
        assert phone not in caplog.text


def test_retry_after_is_waited_before_the_next_attempt(settings: Settings, topics: Topics, receiver: Receiver) -> None:
    receiver.policy = lambda path, msg_id, before: (503, {"Retry-After": "2"}) if before == 0 else (200, {})
    place = venue()
    case, _ = the_case()
    notifier = Notifier(fast(settings, receiver), settings.kafka_bootstrap, directory_of(place), lambda _: None,
                        sms=RecordedSms())
    notifier.restore()
    notifier.offer(confirmed_alert(case, place.venue_id))
    run_until_ended(notifier)
    notifier.close()
    first, second = receiver.snapshot()
    assert (first.status, second.status) == (503, 200)
    assert second.at - first.at >= 1.9  # the schedule says 0.2 s; the endpoint asked for 2


def test_a_410_disables_the_endpoint_durably_and_visibly(settings: Settings, topics: Topics, receiver: Receiver) -> None:
    receiver.policy = lambda path, msg_id, before: (410, {}) if path == "/a" else (200, {})
    hooks = webhooks_setting(gone=(receiver.url("/a"), SECRET_A), fine=(receiver.url("/b"), SECRET_B))
    configured = fast(settings, receiver, webhooks=hooks)
    places = [venue(f"Chợ {i}") for i in range(3)]
    case, _ = the_case()
    settled: list[UUID] = []
    notifier = Notifier(configured, settings.kafka_bootstrap, directory_of(*places), settled.append, sms=RecordedSms())
    notifier.restore()
    for place in places[:2]:
        notifier.offer(confirmed_alert(case, place.venue_id))
    run_until_ended(notifier)
    notifier.close()
    assert [r.path for r in receiver.snapshot()].count("/a") == 1  # the second never went: disabled by then
    assert len(settled) == 2  # disabled counts as an end

    again = Notifier(configured, settings.kafka_bootstrap, directory_of(*places), settled.append, sms=RecordedSms())
    again.restore()
    assert again.disabled == {"gone"}
    again.offer(confirmed_alert(case, places[2].venue_id))
    run_until_ended(again)
    again.close()
    assert [r.path for r in receiver.snapshot()].count("/a") == 1
    assert [r.path for r in receiver.snapshot()].count("/b") == 3
    states = {(n.recipient, n.state) for n in again.outbox.by_id.values() if n.channel is Channel.webhook}
    assert states == {("gone", DeliveryState.disabled), ("fine", DeliveryState.delivered)}

    shown = json.loads(run_cli("alerts", "status", "--failed", "--format", "json", env=settings_env(settings)).stdout)
    assert shown["endpoints_disabled"] == ["gone"]
    assert {n["state"] for n in shown["notifications"]} == {"disabled"} and len(shown["notifications"]) == 3
    table = run_cli("alerts", "status", env=settings_env(settings)).stdout
    assert "endpoints disabled (410 Gone): gone" in table
    assert OWNER not in table and "098****791" in table


def test_a_retracted_alert_sends_one_retraction_to_each_recipient_told(
        settings: Settings, topics: Topics, receiver: Receiver) -> None:
    place = venue()
    case, _ = the_case()
    sms = RecordedSms()
    notifier = Notifier(fast(settings, receiver), settings.kafka_bootstrap, directory_of(place), lambda _: None, sms=sms)
    notifier.restore()
    alert = confirmed_alert(case, place.venue_id)
    notifier.offer(alert)
    run_until_ended(notifier)
    retracted = alert.model_copy(update={"version": 4, "status": AlertStatus.retracted})
    notifier.offer(retracted)
    notifier.offer(retracted)
    run_until_ended(notifier)
    notifier.close()
    retractions = notifier.outbox.of_alert(alert.alert_id, Purpose.retraction)
    assert sorted((n.role, n.state) for n in retractions) == sorted(
        [(RecipientRole.venue_owner, DeliveryState.delivered), (RecipientRole.venue_staff, DeliveryState.delivered),
         (RecipientRole.endpoint, DeliveryState.delivered)])
    bodies = [json.loads(r.body) for r in receiver.snapshot()]
    assert [b["type"] for b in bodies] == ["alert.confirmed", "alert.retracted"]
    assert len({r.msg_id for r in receiver.snapshot()}) == 2  # the retraction has an id of its own


def test_a_notification_given_up_after_the_schedule_stays_visible_as_failed(
        settings: Settings, topics: Topics, receiver: Receiver) -> None:
    receiver.policy = lambda path, msg_id, before: (500, {})
    place = venue()
    case, _ = the_case()
    settled: list[UUID] = []
    notifier = Notifier(fast(settings, receiver), settings.kafka_bootstrap, directory_of(place), settled.append,
                        sms=RecordedSms())
    notifier.restore()
    notifier.offer(confirmed_alert(case, place.venue_id))
    run_until_ended(notifier)
    notifier.close()
    assert len(receiver.snapshot()) == 4  # the four attempts of the schedule
    restored = Outbox(settings.kafka_bootstrap, topics.notifications.name)
    restored.restore()
    (failed,) = [n for n in restored.by_id.values() if n.channel is Channel.webhook]
    assert (failed.state, failed.attempts, failed.last_status) == (DeliveryState.failed, 4, 500)
    assert failed.last_error == "the endpoint answered 500"
    assert len(settled) == 1
    sent = of_registry(notifier.metrics.registry)  # what the alerting job's /metrics says of it
    assert value(sent, "ravao_alerts_notifications_total", channel="webhook", outcome="retrying") == 3
    assert value(sent, "ravao_alerts_notifications_total", channel="webhook", outcome="failed") == 1
    assert value(sent, "ravao_alerts_notifications_total", channel="sms", outcome="delivered") == 2  # owner, staff


def test_a_dead_endpoint_costs_one_timeout_a_pass_and_holds_back_no_one_else(
        settings: Settings, topics: Topics, receiver: Receiver) -> None:
    import socket

    silent = socket.socket()  # accepts connections (the kernel's backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    dead = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
    hooks = webhooks_setting(eoc=(receiver.url("/a"), SECRET_A), dead=(dead, SECRET_B))
    quick = settings.model_copy(update={"webhooks": hooks, "notify_retry_seconds": "0,60", "notify_timeout_seconds": 1.0})
    places = [venue(f"Quán {i}") for i in range(6)]
    case, _ = the_case()
    sms = RecordedSms()
    notifier = Notifier(quick, settings.kafka_bootstrap, directory_of(*places), lambda _a: None, sms=sms)
    try:
        notifier.restore()
        for place in places:
            notifier.offer(confirmed_alert(case, place.venue_id))
        notifier.deliver_due()
    finally:
        notifier.close()
        silent.close()
    states = {(n.recipient, n.state) for n in notifier.outbox.by_id.values() if n.channel is Channel.webhook}
    delivered = [n for n in notifier.outbox.by_id.values() if n.recipient == "eoc" and n.state is DeliveryState.delivered]
    tried = [n for n in notifier.outbox.by_id.values() if n.recipient == "dead" and n.attempts]
    assert len(delivered) == 6 and len(tried) == 1, states  # one timeout, not six
    texts = [n for n in notifier.outbox.by_id.values() if n.channel is Channel.sms]
    assert texts and all(n.state is DeliveryState.delivered for n in texts) and len(sms.sent) == len(texts)
