"""A reader station at a busy gate, end to end on the real broker: 2,000 reads while the
gateway goes away and comes back and the station itself is killed; every read reaches
Kafka in read order with its read time, and the worker counts each exactly once.

The gateway is `ravao gateway` (a subprocess), publishing to the real broker; both it and
the station die by SIGKILL."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from conftest import run_cli, settings_env
from pipeline.kafka_io import produce_all, read_to_end, reliable_producer
from pipeline.keys import load_codec
from pipeline.registry import token_hash
from pipeline.settings import Settings
from pipeline.topics import Topics
from schemas.ids import new_id
from schemas.qrcode import LAYOUTS
from schemas.registry import Device, DeviceKind, GateMode, Person, Venue, VenueCategory
from schemas.envelopes import unpack
from schemas.scans import RawScan
from station_helpers import UNLIMITED, StationProcess, free_port, kill, queued_ids, start_gateway, stop_gateway
from stream_helpers import latest_visits, settle, start_worker, stop_worker, visit_records, wait_for

PEOPLE = 1000  # each read twice (in, then out): 2,000 reads
TOKEN = "station-token-for-the-offline-test"
CRASH_TRIES = 6  # station kills at most, until one lands while the gateway has an unanswered batch


def register(settings: Settings, topics: Topics) -> tuple[Device, list[str]]:
    venue = Venue(venue_id=new_id("V"), name="Công ty Giày Da", area_id="25741", area_path=("74", "718", "25741"),
                  category=VenueCategory.factory, default_stay_minutes=480, max_stay_minutes=720,
                  owner_phone="0981234791")
    device = Device(device_id=new_id("D"), venue_id=venue.venue_id, kind=DeviceKind.reader_station,
                    mode=GateMode.auto, token_sha256=token_hash(TOKEN))
    people = [new_id("P") for _ in range(PEOPLE)]
    producer = reliable_producer(settings.kafka_bootstrap)
    produce_all(producer, topics.venues.name, [(venue.venue_id.encode(), venue.to_bytes())])
    produce_all(producer, topics.devices.name, [(device.device_id.encode(), device.to_bytes())])
    produce_all(producer, topics.persons.name, [(p.encode(), Person(person_id=p).to_bytes()) for p in people])
    return device, people


def garbled(code: str, rng: random.Random) -> list[str]:
    """What a reader types when something is wrong: never to be sent."""
    dvorak = LAYOUTS["Dvorak"]
    wrong = rng.choice([c for c in "BCDEFGHIJKLNOPRSTUVX" if c != code[10]])
    return ["".join(dvorak.get(c, c) for c in code), code[:-6], code.lower(), code[:10] + wrong + code[11:]]


def raw_scans(settings: Settings, topics: Topics) -> list[tuple[int, int, RawScan]]:
    """Every scan on scans.raw in (partition, offset) order, an envelope's in its order."""
    found = [(partition, offset, index, record)
             for _, value, partition, offset in read_to_end(settings.kafka_bootstrap, topics.scans_raw.name)
             for index, record in enumerate(unpack(value))]
    return [(partition, offset, RawScan.from_bytes(record)) for partition, offset, _, record in sorted(found)]


@pytest.mark.kafka
def test_a_station_loses_no_read_through_a_gateway_outage_and_its_own_crash(
        settings: Settings, topics: Topics, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    device, people = register(settings, topics)
    codec = load_codec(settings)
    rng = random.Random(5)
    reads = [codec.encode(p) for p in people] * 2
    rng.shuffle(reads)  # each person's first read is an entry, the second an exit (auto gate)
    bad = [g for p in rng.sample(people, 10) for g in garbled(codec.encode(p), rng)]
    lines = list(reads)
    for line in bad:  # garbled lines among the reads
        lines.insert(rng.randrange(len(lines)), line)
    batches = [lines[:500], lines[500:1300], lines[1300:]]

    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def start() -> subprocess.Popen:  # the gateway, always on the port the station knows
        return start_gateway(settings, tmp_path, port=port, **UNLIMITED)[0]

    def station_crash() -> set[str]:
        """Kill the station once the catch-up is under way (two batches answered, the queue
        not empty): wherever the kill lands. The ids left in its queue that are on scans.raw
        were published by the gateway but their answer never reached the station (the kill
        came while the request was in flight); the next station sends them again."""
        nonlocal answers
        waiting = len(queued_ids(settings, device.device_id))
        deadline = time.monotonic() + 60
        while len(queued_ids(settings, device.device_id)) > waiting - 100:
            assert time.monotonic() < deadline and station.process.poll() is None, \
                "the catch-up did not go on:\n" + station.log_path.read_text()[-3000:]
            time.sleep(0.01)
        station.kill()
        answers += station.oks + station.refusals
        time.sleep(1)  # the gateway finishes the request nobody awaits any more
        left = set(queued_ids(settings, device.device_id))
        assert left, "the catch-up ended before the station was killed"
        return left & {str(m.event_id) for _, _, m in raw_scans(settings, topics)}

    # The worker with debounce 0: the second read of a person, seconds later, is their exit.
    worker = start_worker(settings, "w1", tmp_path, RAVAO_DEBOUNCE_SECONDS="0")
    # Whatever fails below, no worker outlives the test (the orderly stop is asserted at the end).
    request.addfinalizer(lambda: worker.poll() is None and stop_worker(worker, signal.SIGKILL))
    gateway = start()
    station = StationProcess(settings, device.device_id, TOKEN, url, tmp_path)
    answers: list[dict] = []
    unanswered: set[str] = set()
    try:
        # 1. The burst starts; the gateway dies (SIGKILL) while the station is sending.
        station.feed(batches[0])
        station.wait_for_answers(250)
        kill(gateway)
        station.wait_for_answers(len(batches[0]))
        # 2. The gateway is away: the station keeps reading and queueing.
        station.feed(batches[1])
        station.wait_for_answers(len(batches[0]) + len(batches[1]))
        time.sleep(1.5)  # a few retries against a closed port
        # 3. The gateway is back; while the station catches up, the station is killed. A
        #    kill between an answer and the next request leaves nothing unanswered, so a
        #    station restarted on the same queue is killed again, until a kill lands while
        #    the gateway holds a batch it has published and not yet answered.
        gateway = start()
        for _ in range(CRASH_TRIES):
            unanswered = station_crash()
            if unanswered:
                break
            station = StationProcess(settings, device.device_id, TOKEN, url, tmp_path)
        assert unanswered, f"none of {CRASH_TRIES} station kills left a published batch unanswered"
        # 4. A new station process on the same queue, and the rest of the burst.
        station = StationProcess(settings, device.device_id, TOKEN, url, tmp_path)
        station.feed(batches[2])
        station.wait_for_answers(len(batches[2]))
        assert station.finish() == 0  # input ended: it sent everything, then exited
        answers += station.oks + station.refusals
    finally:
        if station.process.poll() is None:
            station.kill()
        stop_gateway(gateway)

    oks = [a for a in answers if a["ok"]]
    refused = Counter(a["reason"] for a in answers if not a["ok"])
    assert len(oks) == len(reads)
    assert refused == {"keyboard_layout": 10, "truncated": 10, "lowercase": 10, "bad_check": 10}

    messages = raw_scans(settings, topics)
    assert {m.person_qr for _, _, m in messages} <= set(reads)  # no garbled line was sent
    first: dict[str, RawScan] = {}
    for _, _, scan in messages:  # in (partition, offset) order
        first.setdefault(str(scan.event_id), scan)
    assert set(first) == {a["event_id"] for a in oks} and len(first) == len(oks)  # every read, once
    assert all(first[a["event_id"]].scanned_at.isoformat() == a["scanned_at"] for a in oks)
    # Keyed by person: one person's reads share a partition, there in read order (entry, exit).
    partitions = defaultdict(set)
    for partition, _, scan in messages:
        partitions[scan.person_qr].add(partition)
    assert all(len(parts) == 1 for parts in partitions.values())
    for code in set(reads):
        in_topic = [event_id for event_id, scan in first.items() if scan.person_qr == code]
        assert in_topic == [a["event_id"] for a in oks if first[a["event_id"]].person_qr == code]
    resent = len(messages) - len(first)  # answers lost to the kills: sent again, same ids
    copies = Counter(str(scan.event_id) for _, _, scan in messages)
    assert all(copies[event_id] >= 2 for event_id in unanswered)  # the crash's batch went again

    settle(settings, [worker], tmp_path)
    visits = [v for v in latest_visits(visit_records(settings, topics.visits.name)).values() if not v.deleted]
    assert len(visits) == PEOPLE and {v.exit_how.value for v in visits} == {"scan"}
    read_ids = {str(v.entry_event_id) for v in visits} | {str(v.exit_event_id) for v in visits}
    assert read_ids == {a["event_id"] for a in oks}

    def counted() -> dict:
        return json.loads(run_cli("stats", "--json", env=settings_env(settings)).stdout)

    # Each read paired once; each resend dropped as a duplicate (snapshots come every 5 s).
    wait_for(lambda: counted().get("scans_paired") == len(reads), 60, "the stats snapshot")
    assert counted().get("scans_duplicate", 0) == resent
    assert stop_worker(worker) == 0
