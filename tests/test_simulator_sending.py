"""How the simulator sends its day: paced, in delivery order, never before a scan's time;
and through the gateway's HTTP API as well as straight to Kafka."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import TEST_QR_KEYS, run_cli, settings_env
from pipeline.kafka_io import read_to_end
from pipeline.keys import parse_keys
from pipeline.settings import Settings
from pipeline.topics import Topics
from producers.simulator.sending import send_scans
from producers.simulator.simulation import build_simulation
from producers.simulator.truth import read_truth
from schemas.envelopes import unpack
from schemas.qrcode import QrCodec
from schemas.scans import RawScan
from gateway_helpers import start_gateway, stop_gateway

CODEC = QrCodec(parse_keys(TEST_QR_KEYS))


class Recorder:
    def __init__(self, clock: "FakeClock") -> None:
        self.clock = clock
        self.sent: list[tuple[datetime, object]] = []
        self.closed = False

    def send(self, scans: list) -> None:
        self.sent += [(self.clock.now, s) for s in scans]

    def close(self) -> None:
        self.closed = True


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def day_of_scans(day: date) -> list:
    return build_simulation(CODEC, day=day, people=60, seed=3, communes=3).traffic.scans


def test_speed_zero_sends_a_past_day_at_once_in_delivery_order() -> None:
    scans = day_of_scans(date(2021, 10, 25))
    clock = FakeClock(datetime(2021, 10, 27, tzinfo=timezone.utc))
    target = Recorder(clock)
    assert send_scans(scans, target, 0, clock=clock, sleep=clock.sleep) == len(scans)
    assert [s for _, s in target.sent] == scans and target.closed
    assert clock.now == datetime(2021, 10, 27, tzinfo=timezone.utc)
    assert [s.deliver_at for s in scans] == sorted(s.deliver_at for s in scans)


def test_a_speed_up_plays_the_day_that_many_times_faster() -> None:
    scans = day_of_scans(date(2021, 10, 25))
    start = datetime(2021, 10, 27, tzinfo=timezone.utc)
    clock = FakeClock(start)
    target = Recorder(clock)
    send_scans(scans, target, 60, clock=clock, sleep=clock.sleep)
    first = scans[0].deliver_at
    for sent_at, scan in target.sent:  # an hour of the day per minute of the clock
        played = (sent_at - start) * 60
        assert scan.deliver_at - first <= played < scan.deliver_at - first + timedelta(minutes=61)


def test_no_scan_is_sent_before_its_own_time() -> None:
    scans = day_of_scans(date(2021, 10, 25))
    clock = FakeClock(scans[len(scans) // 2].deliver_at)  # "today", at noon
    target = Recorder(clock)
    send_scans(scans, target, 0, clock=clock, sleep=clock.sleep)
    assert all(sent_at >= scan.deliver_at for sent_at, scan in target.sent)
    assert clock.now >= scans[-1].deliver_at


@pytest.mark.kafka
def test_through_the_gateway_every_scan_reaches_kafka(settings: Settings, topics: Topics, tmp_path: Path) -> None:
    # `ravao gateway`, with room for a whole day of a device's scans and a person's check-ins
    # sent as fast as possible. Yesterday's self check-ins are signed by each person's
    # enrolled (simulated) phone, so the gateway takes their time within the lateness.
    gateway, base = start_gateway(settings, tmp_path, RAVAO_GATEWAY_DEVICE_RATE="100000",
                                  RAVAO_GATEWAY_DEVICE_BURST="100000", RAVAO_GATEWAY_SELF_RATE="100000",
                                  RAVAO_GATEWAY_SELF_BURST="100000", RAVAO_GATEWAY_CLIENT_RATE="100000",
                                  RAVAO_GATEWAY_CLIENT_BURST="100000")
    truth_file = tmp_path / "truth.jsonl"
    try:
        result = run_cli("simulate", "--people", "80", "--communes", "3", "--seed", "9", "--truth", str(truth_file),
                         "--via-gateway", base, env=settings_env(settings))
    finally:
        stop_gateway(gateway)
    summary = read_truth(truth_file)["summary"][0]
    published = [RawScan.from_bytes(record) for _, v, _, _ in read_to_end(settings.kafka_bootstrap, topics.scans_raw.name)
                 for record in unpack(v)]  # the gateway sends envelopes
    # The gateway refuses the forged codes (a bad signature) and publishes every other scan.
    assert f"({summary['forged']} refused by the gateway)" in result.stdout
    assert len({s.event_id for s in published}) == summary["scans"] - summary["forged"]
    assert {s.source.value for s in published} == {"station", "staff", "self"}
