"""SIGKILL the alerting job (`ravao alerts`) in the middle of a burst of notification
deliveries and restart it: every notification ends acknowledged, the one cut off in
flight is sent again with the same `webhook-id` and body, nothing the topic records as
delivered is sent again, and nothing personal reached its logs (real broker, real HTTP
receiver verifying every webhook)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.kafka_io import produce_all, read_to_end, reliable_producer
from pipeline.settings import Settings
from pipeline.topics import Topics
from schemas.cases import Alert
from schemas.notifications import Channel, DeliveryState, Notification

from conftest import ROOT, settings_env
from notify_helpers import OFFICER, OWNER, STAFF, confirmed_alert, officer, personal_strings, the_case, venue, webhooks_setting
from webhook_receiver import Receiver, fail_first_try_of_every, new_secret

pytestmark = pytest.mark.kafka
SECRET = new_secret(b"eoc")
ALERTS = 16


def states(settings: Settings, topics: Topics) -> dict[str, Notification]:
    latest: dict[str, Notification] = {}
    for key, value, _, _ in read_to_end(settings.kafka_bootstrap, topics.notifications.name):
        if value is not None:
            latest[key.decode()] = Notification.from_bytes(value)
    return latest


def start(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "alerts"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"))


def test_a_notifier_killed_mid_burst_resends_only_what_was_not_acknowledged(
        settings: Settings, topics: Topics, tmp_path: Path) -> None:
    receiver = Receiver({"/hook": SECRET}, delay=0.25).start()
    # Every third notification fails its first try; the rest are answered 200, slowly.
    receiver.policy = fail_first_try_of_every(3)
    places = [venue(f"Quán {i}") for i in range(ALERTS)]
    case, personal = the_case()
    producer = reliable_producer(settings.kafka_bootstrap)
    produce_all(producer, topics.venues.name, [(p.venue_id.encode(), p.to_bytes()) for p in places])
    produce_all(producer, topics.accounts.name, [(OFFICER.encode(), officer().to_bytes())])
    produce_all(producer, topics.alerts.name,
                [(str(a.alert_id).encode(), a.to_bytes()) for a in (confirmed_alert(case, p.venue_id) for p in places)])
    env = {**settings_env(settings), "RAVAO_WEBHOOKS": webhooks_setting(eoc=(receiver.url("/hook"), SECRET)),
           "RAVAO_NOTIFY_RETRY_SECONDS": "0,0.2,0.2,0.2", "RAVAO_NOTIFY_POLL_SECONDS": "0.1"}
    log = tmp_path / "notifier.log"
    process = start(env, log)
    try:
        deadline = time.monotonic() + 60
        while sum(r.status == 200 for r in receiver.snapshot()) < ALERTS // 3:
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()[-3000:]
            time.sleep(0.02)
        time.sleep(0.1)  # inside the receiver's answer to the next one: that one is in flight
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        killed_at = time.time()
        at_kill = states(settings, topics)
        delivered_at_kill = {i for i, n in at_kill.items() if n.state is DeliveryState.delivered}
        in_flight = {i for i, n in at_kill.items() if n.state is DeliveryState.sending and n.channel is Channel.webhook}
        assert in_flight, "the kill did not land during a delivery"
        assert len(delivered_at_kill) < ALERTS * 4

        process = start(env, log)
        deadline = time.monotonic() + 90
        while True:
            final = states(settings, topics)
            if len(final) == ALERTS * 4 and all(n.ended for n in final.values()):
                break
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()[-3000:]
            time.sleep(0.3)
        deadline = time.monotonic() + 30
        while any(Alert.from_bytes(v).status.value != "notified"
                  for v in {k: v for k, v, _, _ in read_to_end(settings.kafka_bootstrap, topics.alerts.name)}.values()):
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()[-3000:]
            time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        receiver.stop()

    received = receiver.snapshot()
    assert all(r.verified for r in received)
    assert all(n.state is DeliveryState.delivered for n in final.values())
    webhook_ids = {i for i, n in final.items() if n.channel is Channel.webhook}
    assert len(webhook_ids) == ALERTS
    assert {r.msg_id for r in received if r.status == 200} == webhook_ids  # every one acknowledged
    after = [r for r in received if r.at > killed_at]
    assert not {r.msg_id for r in after} & delivered_at_kill  # nothing acknowledged is sent again
    assert in_flight <= {r.msg_id for r in after}  # the one cut off is sent again: the same webhook-id...
    for r in received:
        assert r.body == next(x.body for x in received if x.msg_id == r.msg_id)  # ...and the same body
    # No second set of notifications was made by the restart: one per recipient and alert.
    assert sorted(n.recipient for n in final.values() if n.channel is Channel.sms) == sorted(
        [OWNER, STAFF, OFFICER] * ALERTS)

    # The job writes each alert's `notified` version once its notifications have ended.
    def statuses() -> set[str]:
        return {Alert.from_bytes(v).status.value for _k, v in
                {k: v for k, v, _, _ in read_to_end(settings.kafka_bootstrap, topics.alerts.name)}.items()}

    assert statuses() == {"notified"}, statuses()

    logs = log.read_text()
    assert "SMS to 098****791" in logs  # the console adapter told the owner, masked
    for secret in [*personal_strings(case, personal), OWNER, STAFF, OFFICER]:
        assert secret not in logs, secret
