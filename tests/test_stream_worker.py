"""The worker end to end, on the real broker: a scripted day becomes exactly the planned
visits, whatever the delivery order, retries, a killed worker or a second worker."""

from __future__ import annotations

import base64
import json
import random
import signal
import socket
import time
import urllib.request
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from confluent_kafka.admin import ConfigResource

from conftest import run_cli, settings_env
from metrics_helpers import parsed, value
from pipeline.kafka_io import admin, produce_all, reliable_producer
from pipeline.keys import load_codec
from pipeline.pairing import compute_visits
from pipeline.registry_cache import RegistryCache
from pipeline.settings import Settings
from pipeline.stream.layout import in_envelopes
from pipeline.topics import Topics, groups_for
from pipeline.validate import Position, validate
from scenario import Day, _scan, scripted_day
from schemas import RejectReason, ValidScan
from schemas.dlq import MAX_DEAD_LETTER_RAW_BYTES
from schemas.envelopes import pack
from schemas.qrcode import InvalidCode
from stream_helpers import (
    LARGEST_VALUE,
    valid_scans_on,
    as_tuples,
    dead_letters,
    hostile_producer,
    lag,
    latest_visits,
    settle,
    start_worker,
    stop_worker,
    timed_stop,
    visit_records,
    wait_for,
)

ENVELOPE_SIZE = 50  # scans per envelope, about what a gateway under load gathers
PEOPLE = 600  # about 3,200 scans


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def day(settings: Settings) -> Day:
    return scripted_day(load_codec(settings), persons=PEOPLE)


def keyed(settings: Settings, scans: list[tuple[str, bytes]]) -> list[tuple[bytes, bytes]]:
    """Most scans keyed by person, as the gateway sends them; every third (by event id) by
    device, as a station publishing straight to Kafka might. So one person's scans reach
    the pairing both ways, in place and through scans.repartition. Forged codes name no
    person: keyed by device."""
    codec, out = load_codec(settings), []
    for device, raw in scans:
        body = json.loads(raw)
        try:
            person = codec.decode(body["person_qr"], expect="P").entity_id
        except InvalidCode:
            person = None
        by_device = person is None or int(body["event_id"][:8], 16) % 3 == 0
        out.append(((device if by_device else person).encode(), raw))
    return out


def publish_day(settings: Settings, topics: Topics, day: Day, parts: int = 1, part: int = 0,
                envelopes: bool = False) -> None:
    """Publish part ``part`` of ``parts`` of the day's scans (see `keyed`), then a retried
    batch, and last the station that was offline; one scan per message, or in envelopes."""
    producer = reliable_producer(settings.kafka_bootstrap)
    send = (lambda messages: in_envelopes(messages, settings.topic_partitions, ENVELOPE_SIZE)) if envelopes else (
        lambda messages: messages)
    scans = day.scans[part::parts]
    produce_all(producer, topics.scans_raw.name, send(keyed(settings, scans)))
    retried = random.Random(part).sample(scans, min(200, len(scans)))  # same event ids again
    produce_all(producer, topics.scans_raw.name, send(keyed(settings, retried)))
    if part == parts - 1:
        produce_all(producer, topics.scans_raw.name, send(keyed(settings, day.late)))


def assert_planned(settings: Settings, topics: Topics, day: Day, also_refused: Counter | None = None) -> None:
    latest = latest_visits(visit_records(settings, topics.visits.name))
    got = as_tuples(latest)
    missing, extra = day.expected - got, got - day.expected
    assert not missing and not extra, f"{len(missing)} missing, e.g. {sorted(missing)[:3]}; " \
                                      f"{len(extra)} unexpected, e.g. {sorted(extra)[:3]}"
    # At-least-once: a dead letter may be written twice (after a kill), never with another reason.
    rejected = {(d.event_id, d.reason) for d in dead_letters(settings, topics.scans_dlq.name)}
    assert Counter(reason for _, reason in rejected) == {RejectReason.bad_signature: day.forged, **(also_refused or {})}


def test_the_plan_of_the_day_and_the_pairing_rules_agree(settings: Settings) -> None:
    """Without Kafka: the scenario's expected visits are what validation and the pure
    pairing give, so the end-to-end tests below check the wiring, not the oracle."""
    day = scripted_day(load_codec(settings), persons=PEOPLE)
    registry = RegistryCache()
    for record in day.venues:
        registry.apply_venue(record.venue_id.encode(), record.to_bytes())
    for record in day.devices:
        registry.apply_device(record.device_id.encode(), record.to_bytes())
    for record in day.persons:
        registry.apply_person(record.person_id.encode(), record.to_bytes())
    codec, now = load_codec(settings), datetime.now(timezone.utc)
    by_person: dict[str, list[ValidScan]] = defaultdict(list)
    rejected = 0
    for offset, (_, raw) in enumerate(day.scans + day.late):
        result = validate(raw, codec=codec, registry=registry, now=now, position=Position("raw", 0, offset))
        if isinstance(result, ValidScan):
            by_person[result.person_id].append(result)
        else:
            rejected += 1
    assert rejected == day.forged
    visits = [v for scans in by_person.values() for v in compute_visits(scans, now)]
    got = {(v.person_id, v.venue_id, v.t_in, v.t_out, v.entry_how.value, v.exit_how.value) for v in visits}
    assert got == day.expected


@pytest.mark.kafka
@pytest.mark.parametrize("envelopes", [False, True], ids=["single", "envelopes"])
def test_the_worker_turns_a_scripted_day_into_the_planned_visits(settings: Settings, topics: Topics, day: Day,
                                                                 tmp_path: Path, envelopes: bool) -> None:
    day.publish(settings.kafka_bootstrap, topics)
    publish_day(settings, topics, day, envelopes=envelopes)
    worker = start_worker(settings, "w1", tmp_path)
    try:
        settle(settings, [worker], tmp_path)
        assert_planned(settings, topics, day)
        # The counters are published every 5 s: wait for the snapshot that has the day in it.
        def counted() -> dict:
            return json.loads(run_cli("stats", "--json", env=settings_env(settings)).stdout)

        wait_for(lambda: counted().get("scans_duplicate", 0) >= 200, 30, "the counters' snapshot", [worker], tmp_path)
        stats = counted()
        assert stats["scans_rejected:bad_signature"] == day.forged
        assert stats["scans_duplicate"] >= 200  # the retried batch
        assert stats["scans_double"] > 0
        # Both ways to the pairing were taken: in place, and through scans.repartition.
        assert 0 < stats["scans_repartitioned"] < stats["scans_accepted"] / 2
    finally:
        assert stop_worker(worker) == 0


@pytest.mark.kafka
@pytest.mark.parametrize("how,envelopes", [(signal.SIGKILL, False), (signal.SIGTERM, False), (signal.SIGKILL, True)],
                         ids=["killed", "stopped", "killed-envelopes"])
def test_a_worker_killed_or_stopped_midstream_resumes_to_the_same_visits(
        settings: Settings, topics: Topics, day: Day, tmp_path: Path, how: signal.Signals, envelopes: bool) -> None:
    """SIGKILL: nothing after the last commit counts, the replay redoes it. SIGTERM: Faust
    commits what was acknowledged as it stops, so a batch cut short must not have been.
    With envelopes, a replay redoes whole envelopes, some of whose scans were paired."""
    day.publish(settings.kafka_bootstrap, topics)
    publish_day(settings, topics, day, parts=2, part=0, envelopes=envelopes)
    worker = start_worker(settings, "w1", tmp_path)
    try:
        wait_for(lambda: len(visit_records(settings, topics.visits.name)) > 200, 120, "the first visits",
                 [worker], tmp_path)
    finally:
        stop_worker(worker, how)
    publish_day(settings, topics, day, parts=2, part=1, envelopes=envelopes)
    worker = start_worker(settings, "w1", tmp_path)
    try:
        settle(settings, [worker], tmp_path)
        assert_planned(settings, topics, day)
    finally:
        stop_worker(worker)


@pytest.mark.kafka
@pytest.mark.parametrize("envelopes", [False, True], ids=["single", "envelopes"])
def test_two_workers_split_the_partitions_and_give_the_same_visits(settings: Settings, topics: Topics, day: Day,
                                                                   tmp_path: Path, envelopes: bool) -> None:
    day.publish(settings.kafka_bootstrap, topics)
    workers = [start_worker(settings, "w1", tmp_path), start_worker(settings, "w2", tmp_path)]
    try:
        publish_day(settings, topics, day, envelopes=envelopes)
        settle(settings, workers, tmp_path)
        assert_planned(settings, topics, day)
        assert all(w.poll() is None for w in workers)
    finally:
        for worker in workers:
            stop_worker(worker)


@pytest.mark.kafka
@pytest.mark.parametrize("envelopes", [False, True], ids=["single", "envelope"])
def test_every_example_raw_scan_ends_where_its_name_says(settings: Settings, topics: Topics, tmp_path: Path,
                                                         envelopes: bool) -> None:
    """Alone, and in one envelope with the rest (those that are not UTF-8 cannot be in
    one: they come alone): each refused scan of the envelope has its own dead letter, with
    its own bytes and its place."""
    examples = Path(__file__).resolve().parents[1] / "schemas" / "examples"
    registry = json.loads((examples / "registry.json").read_text())
    env = {"RAVAO_QR_KEYS": registry["keys"]}
    from schemas.registry import Device, Person, Venue

    def venue(venue_id: str, active: bool) -> Venue:
        return Venue(venue_id=venue_id, name="Chợ", area_id="25741", area_path=("74", "718", "25741"),
                     category="market", default_stay_minutes=60, max_stay_minutes=240,
                     owner_phone="0981234791", active=active)

    producer = reliable_producer(settings.kafka_bootstrap)
    venues = [venue(v, True) for v in registry["venues"]["active"]] + [venue(v, False) for v in registry["venues"]["inactive"]]
    produce_all(producer, topics.venues.name, [(v.venue_id.encode(), v.to_bytes()) for v in venues])
    devices = [Device(device_id=d, venue_id=v, kind="reader_station", token_sha256="0" * 64)
               for d, v in registry["devices"].items()]
    produce_all(producer, topics.devices.name, [(d.device_id.encode(), d.to_bytes()) for d in devices])
    produce_all(producer, topics.persons.name, [(p.encode(), Person(person_id=p).to_bytes()) for p in registry["persons"]])

    recent = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat()
    messages, expected = [], Counter()
    for path in sorted((examples / "raw_scan" / "valid").glob("*.json")):
        scan = json.loads(path.read_text())
        scan["scanned_at"] = recent  # the examples' fixed date is older than the accepted lateness
        messages.append((None, json.dumps(scan).encode()))
    for path in sorted((examples / "raw_scan" / "invalid").glob("*")):
        reason = RejectReason(path.name.split("__")[0])
        raw = path.read_bytes()
        if reason not in (RejectReason.too_late, RejectReason.future_scan) and b'"scanned_at"' in raw:
            scan = json.loads(raw)  # move it to today, keeping what makes it invalid
            naive = "+" not in scan["scanned_at"] and not scan["scanned_at"].endswith("Z")
            scan["scanned_at"] = recent[:19] if naive else recent
            raw = json.dumps(scan).encode()
        messages.append((None, raw))
        expected[reason] += 1
    if envelopes:
        def text(raw: bytes) -> bool:
            try:
                return not raw.decode("utf-8").startswith("{\"envelope\"")
            except UnicodeDecodeError:
                return False

        inside = [raw for _, raw in messages if text(raw)]
        [envelope] = pack(inside)
        messages = [(None, envelope)] + [(None, raw) for _, raw in messages if not text(raw)]
    produce_all(producer, topics.scans_raw.name, messages)
    port = free_port()
    worker = start_worker(settings, "w1", tmp_path, RAVAO_WORKER_PORT=str(port), **env)
    try:
        settle(settings, [worker], tmp_path)
        letters = dead_letters(settings, topics.scans_dlq.name)
        assert Counter(d.reason for d in letters) == expected
        if envelopes:  # each refused scan of the envelope: its own bytes, at its place
            first = {(d.source_partition, d.source_offset) for d in letters if d.source_index > 0}
            assert len(first) == 1
            at = first.pop()
            from_envelope = [d for d in letters if (d.source_partition, d.source_offset) == at]
            assert len(from_envelope) == len(inside) - 3  # all but the three valid scans
            for letter in from_envelope:
                assert base64.b64decode(letter.raw_base64) == inside[letter.source_index][:MAX_DEAD_LETTER_RAW_BYTES]
        answer = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert answer.headers["Content-Type"].startswith("text/plain")
        metrics = parsed(answer.read().decode())  # as Prometheus reads it
        assert value(metrics, "ravao_scans_rejected_total", reason="bad_code") == 3
        assert {s.labels["reason"]: s.value for s in metrics["ravao_scans_rejected_total"]} == {
            reason.value: count for reason, count in expected.items()}
        assert value(metrics, "ravao_scans_accepted_total") == 3
        assert value(metrics, "ravao_visits_emitted_total") >= 1
        assert value(metrics, "process_resident_memory_bytes") > 0
        visits = latest_visits(visit_records(settings, topics.visits.name))
        assert len(visits) >= 1 and all(v.person_id == registry["persons"][0] for v in visits.values())
        assert worker.poll() is None  # bad input never stops the worker
    finally:
        stop_worker(worker)


@pytest.mark.kafka
def test_a_wrong_key_for_everything_still_stops_the_worker_with_its_message(settings: Settings, topics: Topics,
                                                                          day: Day, tmp_path: Path) -> None:
    """Every code refused under every key, from every device and venue: a broken deployment."""
    day.publish(settings.kafka_bootstrap, topics)
    publish_day(settings, topics, day)
    worker = start_worker(settings, "w1", tmp_path, RAVAO_QR_KEYS="KB=a-key-that-signed-none-of-these-codes",
                          RAVAO_REJECT_GUARD_QUIET="50")
    try:
        assert worker.wait(120) == 3
    finally:
        stop_worker(worker, signal.SIGKILL)
    log = (tmp_path / "w1.log").read_text()
    assert "of the last 10 sources (devices, or venues for self check-ins)" in log
    assert "check that RAVAO_QR_KEYS holds the keys the codes were signed with" in log


@pytest.mark.kafka
def test_a_station_backlog_too_late_and_floods_of_wrong_venue_and_far_future_scans_never_stop_the_worker(
        settings: Settings, topics: Topics, tmp_path: Path) -> None:
    """Refused input is not a broken deployment, however much of it: a station's offline
    backlog older than the lateness, a device sending another venue's code, scans dated
    9999. The worker refuses them with their reasons and goes on with the valid scans."""
    codec = load_codec(settings)
    day = scripted_day(codec, persons=40)
    day.publish(settings.kafka_bootstrap, topics)
    station, other_venue = day.devices[0], next(v for v in day.venues if v.venue_id != day.devices[0].venue_id)
    person = day.persons[0].person_id
    old = datetime.now(timezone.utc) - timedelta(hours=72)
    backlog = [_scan(codec, person, old + timedelta(seconds=i), device=station) for i in range(2000)]
    wrong_venue = []
    for i in range(2000):
        scan = json.loads(_scan(codec, person, datetime.now(timezone.utc) - timedelta(minutes=5), device=station))
        scan["venue_qr"] = codec.encode(other_venue.venue_id)
        wrong_venue.append(json.dumps(scan).encode())
    far = [_scan(codec, person, datetime(9999, 12, 31, 23, tzinfo=timezone.utc), venue=day.venues[i % 5])
           for i in range(500)]
    producer = reliable_producer(settings.kafka_bootstrap)
    produce_all(producer, topics.scans_raw.name, [(station.device_id.encode(), raw) for raw in backlog + wrong_venue]
                + [(None, raw) for raw in far])
    publish_day(settings, topics, day)  # after the floods, the day's valid scans
    # A guard over 3 sources: the old one, judging 2,000 scans, stopped on this.
    worker = start_worker(settings, "w1", tmp_path, RAVAO_REJECT_GUARD_SOURCES="3")
    try:
        settle(settings, [worker], tmp_path)
        assert_planned(settings, topics, day, Counter({RejectReason.too_late: 2000,
                                                       RejectReason.device_not_authorised: 2000,
                                                       RejectReason.future_scan: 500}))
        assert worker.poll() is None
    finally:
        code, seconds = timed_stop(worker)
    assert code == 0 and seconds < 10


@pytest.mark.kafka
def test_an_oversized_message_amid_valid_scans_is_a_bounded_dead_letter_and_loses_no_scan(
        settings: Settings, topics: Topics, day: Day, tmp_path: Path) -> None:
    """Its dead letter once carried it whole, larger than the producer may send: the agent
    crashed and the rest of its batch was lost; the worker then hung on SIGTERM."""
    day.publish(settings.kafka_bootstrap, topics)
    huge = b'{"event_id": "' + random.Random(1).randbytes(LARGEST_VALUE // 2).hex().encode()[:LARGEST_VALUE - 20] + b'"}'
    scans = keyed(settings, day.scans)
    middle = len(scans) // 2
    producer = hostile_producer(settings)
    produce_all(producer, topics.scans_raw.name, scans[:middle] + [(b"PBBBBBBBBBBBBBB", huge)] + scans[middle:])
    produce_all(producer, topics.scans_raw.name, keyed(settings, day.late))
    worker = start_worker(settings, "w1", tmp_path)
    try:
        settle(settings, [worker], tmp_path)
        assert_planned(settings, topics, day, Counter({RejectReason.oversized: 1}))
        accepted = {str(s.event_id) for s in valid_scans_on(settings, topics.scans_valid.name)}
        sent = {json.loads(raw)["event_id"] for _, raw in day.scans + day.late}
        assert len(sent - accepted) == day.forged  # every valid scan reached scans.valid
        [letter] = [d for d in dead_letters(settings, topics.scans_dlq.name) if d.reason is RejectReason.oversized]
        assert letter.raw_length == len(huge) and letter.raw_truncated
        assert base64.b64decode(letter.raw_base64) == huge[:MAX_DEAD_LETTER_RAW_BYTES]
        assert worker.poll() is None
    finally:
        code, seconds = timed_stop(worker)
    assert code == 0 and seconds < 10


@pytest.mark.kafka
@pytest.mark.parametrize("envelopes", [False, True], ids=["single", "envelopes"])
def test_a_worker_stops_within_ten_seconds_of_sigterm_mid_batch_and_its_replay_loses_nothing(
        settings: Settings, topics: Topics, day: Day, tmp_path: Path, envelopes: bool) -> None:
    """Faust waits for every event taken to be acknowledged before it stops: with a batch
    that never would be, the worker ignored SIGTERM for minutes. It now stops within 10 s,
    whatever it was doing, and the next start processes what was not acknowledged."""
    day.publish(settings.kafka_bootstrap, topics)
    huge = b"[" + b"1," * (LARGEST_VALUE // 2 - 2) + b"1]"
    producer = hostile_producer(settings)
    produce_all(producer, topics.scans_raw.name, [(None, huge)])
    publish_day(settings, topics, day, envelopes=envelopes)
    worker = start_worker(settings, "w1", tmp_path)
    try:
        wait_for(lambda: len(visit_records(settings, topics.visits.name)) > 100, 120, "the first visits",
                 [worker], tmp_path)
    finally:
        code, seconds = timed_stop(worker)
    assert code == 0 and seconds < 10, (code, seconds)
    worker = start_worker(settings, "w1", tmp_path)
    try:
        settle(settings, [worker], tmp_path)
        assert_planned(settings, topics, day, Counter({RejectReason.oversized: 1}))
    finally:
        code, seconds = timed_stop(worker)
    assert code == 0 and seconds < 10, (code, seconds)


@pytest.mark.kafka
def test_the_wall_clock_closes_a_visit_left_open_at_a_quiet_venue(settings: Settings, topics: Topics,
                                                                  tmp_path: Path) -> None:
    from scenario import _scan
    from schemas.registry import Person, Venue

    shop = Venue(venue_id="VBBBBBBBBBBBBBB", name="Tạp hoá", area_id="25741", area_path=("74", "718", "25741"),
                 category="shop", default_stay_minutes=30, max_stay_minutes=180, owner_phone="0981234791")
    person = Person(person_id="PBBBBBBBBBBBBBB")
    producer = reliable_producer(settings.kafka_bootstrap)
    produce_all(producer, topics.venues.name, [(shop.venue_id.encode(), shop.to_bytes())])
    produce_all(producer, topics.persons.name, [(person.person_id.encode(), person.to_bytes())])
    # Entered 179 minutes and 45 seconds ago: open now, past the maximum stay in 15 seconds.
    entered = datetime.now(timezone.utc) - timedelta(minutes=179, seconds=45)
    raw = _scan(load_codec(settings), person.person_id, entered, venue=shop, direction="in")
    produce_all(producer, topics.scans_raw.name, [(None, raw)])
    worker = start_worker(settings, "w1", tmp_path)
    try:
        wait_for(lambda: any(v.exit_how == "timeout" for v in visit_records(settings, topics.visits.name)), 90,
                 "the tick to time the visit out", [worker], tmp_path)
        records = visit_records(settings, topics.visits.name)
        assert [(v.version, v.exit_how.value) for v in records][:2] == [(1, "open"), (2, "timeout")]
        assert records[-1].t_out - records[-1].t_in == timedelta(minutes=30)  # the default stay
    finally:
        stop_worker(worker)


@pytest.mark.kafka
def test_a_worker_refuses_topics_whose_partitions_disagree_with_the_settings(settings: Settings,
                                                                              topics: Topics) -> None:
    """The topics exist with 3 partitions; a worker told 6 would look for persons' states in
    the wrong partitions: it refuses to start, and says why and what to do."""
    env = {**settings_env(settings), "RAVAO_TOPIC_PARTITIONS": "6", "RAVAO_WORKER_PORT": "0"}
    result = run_cli("worker", env=env, check=False)
    assert result.returncode == 2
    assert f"{topics.scans_raw.name} has 3" in result.stderr
    assert "RAVAO_TOPIC_PARTITIONS is 6" in result.stderr and "Set RAVAO_TOPIC_PARTITIONS" in result.stderr


@pytest.mark.kafka
def test_a_message_the_broker_refuses_after_the_send_stops_the_worker_before_its_offset_is_committed(
        settings: Settings, topics: Topics, tmp_path: Path) -> None:
    """The producer takes a dead letter, the broker then refuses it (here: scans.dlq limited
    to 1,000 bytes). The flush before a commit does not fail for that: the offset of the
    message it came from was committed and the dead letter lost. The worker now stops,
    saying why, with that offset uncommitted."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    resource = ConfigResource("topic", topics.scans_dlq.name, incremental_configs=[
        ConfigEntry("max.message.bytes", "1000", incremental_operation=AlterConfigOpType.SET)])
    client = admin(settings.kafka_bootstrap)
    for future in client.incremental_alter_configs([resource]).values():
        future.result(30)
    produce_all(hostile_producer(settings), topics.scans_raw.name, [(None, b"x" * 20_000)])
    worker = start_worker(settings, "w1", tmp_path)
    try:
        assert worker.wait(120) == 5
    finally:
        stop_worker(worker, signal.SIGKILL)
    assert "the broker refused a message the worker produced" in (tmp_path / "w1.log").read_text()
    assert lag(settings, groups_for(settings).worker, topics.scans_raw.name) == 1


@pytest.mark.kafka
def test_a_scan_that_waited_in_the_topic_past_the_lateness_is_judged_by_its_arrival(
        settings: Settings, topics: Topics, tmp_path: Path) -> None:
    """The gateway answered `accepted` for a scan 47 h 59 m old; the worker, behind by
    minutes, refused it as too_late and the station had already deleted it. Lateness is
    judged against the time the broker stamped on arrival (scans.raw is LogAppendTime)."""
    client = admin(settings.kafka_bootstrap)  # kept: its futures fail once it is collected
    config = client.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topics.scans_raw.name)])
    [entries] = [future.result() for future in config.values()]
    assert entries["message.timestamp.type"].value == "LogAppendTime"
    codec = load_codec(settings)
    day = scripted_day(codec, persons=5)
    day.publish(settings.kafka_bootstrap, topics)
    station = day.devices[0]
    lateness = timedelta(hours=settings.accepted_lateness_hours)
    just_in_time = _scan(codec, day.persons[0].person_id, datetime.now(timezone.utc) - lateness + timedelta(seconds=3),
                         device=station)
    too_old = _scan(codec, day.persons[1].person_id, datetime.now(timezone.utc) - lateness - timedelta(seconds=60),
                    device=station)
    produce_all(reliable_producer(settings.kafka_bootstrap), topics.scans_raw.name,
                [(station.device_id.encode(), just_in_time), (station.device_id.encode(), too_old)])
    time.sleep(4)  # by the worker's clock the first is now past the lateness too
    worker = start_worker(settings, "w1", tmp_path)
    try:
        wanted = json.loads(just_in_time)["event_id"]
        wait_for(lambda: any(str(s.event_id) == wanted for s in valid_scans_on(settings, topics.scans_valid.name)),
                 60, "the scan that arrived in time", [worker], tmp_path)
        wait_for(lambda: any(d.reason is RejectReason.too_late for d in
                             dead_letters(settings, topics.scans_dlq.name)), 60, "the late one refused", [worker],
                 tmp_path)
    finally:
        stop_worker(worker)
