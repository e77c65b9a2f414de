"""`ravao bench pipeline`: one worker's throughput against a bare Kafka consumer.

Generates N raw scans (a day of a few thousand people at a few dozen venues), then
measures, in the same run and on the same broker, each on a fresh set of topics loaded
with the same scans:

- the worker in three modes: one scan per message in and out (the old single-scan mode,
  `RAVAO_WORKER_ENVELOPES=false`); one scan per message in and envelopes out (a station
  publishing straight to Kafka); envelopes of up to `--envelope-size` scans per partition
  in and out (a gateway or the simulator under load). One `ravao worker` process each, from
  its first visit out to its last (raw scans keyed by person, as the gateway publishes
  them: a scan is validated and paired in one step; `--key device` makes most of them take
  one more hop), with its CPU seconds and peak memory;
- baseline: a bare confluent-kafka consumer loop reading the N single-scan messages;
- the Faust floor (`bench.faust_floor`): a Faust agent reading the same topic in the same
  batches, first sending nothing, then as many messages per scan as the old mode did; no work;
- with `--inside N`: the worker's memory with N people inside venues at once (one entry
  each, in envelopes), and its state store on disk.

It prints raw scans/s for each and their ratios, and whether the goals are met (envelopes
at least 10x the single-scan worker; at least 10,000 raw scans per worker CPU-second). The
machine is shared and noisy: compare the ratios, not the absolute figures.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from rich.console import Console
from rich.table import Table

from pipeline.kafka_io import ensure_topics, produce_all, reliable_producer
from bench.broker import bench_broker
from bench.progress import phase
from pipeline.keys import parse_keys
from pipeline.registry import token_hash
from pipeline.settings import PROJECT_ROOT, Settings
from pipeline.stream.layout import in_envelopes
from pipeline.stream.worker import STATE_TABLE
from pipeline.topics import TopicSpec, groups_for, topics_for
from schemas.envelopes import unpack
from schemas.ids import new_id
from schemas.qrcode import QrCodec
from schemas.registry import STAYS, Device, DeviceKind, GateMode, Person, Venue, VenueCategory

BENCH_KEYS = "KB=bench-key-not-for-real-codes-000"
ENVELOPE_SIZE = 50  # scans per envelope and partition: about what a gateway under load gathers


def generate(n: int, seed: int = 7, by_device: bool = False) -> tuple[list[Venue], list[Device], list[Person], list[tuple[bytes, bytes]]]:
    rng = random.Random(seed)
    codec = QrCodec(parse_keys(BENCH_KEYS))
    categories = list(VenueCategory)
    venues = []
    for i in range(40):
        category = categories[i % len(categories)]
        default, maximum = STAYS[category]
        venues.append(Venue(venue_id=new_id("V"), name=f"venue {i}", area_id="25741", area_path=("74", "718", "25741"),
                            category=category, default_stay_minutes=default, max_stay_minutes=maximum,
                            owner_phone="0981234791"))
    devices = [Device(device_id=new_id("D"), venue_id=v.venue_id, kind=DeviceKind.reader_station,
                      mode=GateMode.auto, token_sha256=token_hash("x")) for v in venues]
    persons = [Person(person_id=new_id("P")) for _ in range(max(1, n // 8))]
    codes = {p.person_id: codec.encode(p.person_id) for p in persons}
    start = datetime.now(timezone.utc) - timedelta(hours=40)
    scans = []
    clock = {p.person_id: start + timedelta(minutes=rng.randint(0, 600)) for p in persons}
    for _ in range(n):
        person = rng.choice(persons).person_id
        device = rng.choice(devices)
        at = clock[person] = clock[person] + timedelta(minutes=rng.randint(5, 90))
        if at > datetime.now(timezone.utc) - timedelta(minutes=1):
            at = clock[person] = start
        body = {"event_id": str(uuid.uuid4()), "source": "station", "person_qr": codes[person],
                "device_id": device.device_id, "direction": "auto", "scanned_at": at.isoformat()}
        key = device.device_id if by_device else person  # by person, as the gateway publishes them
        scans.append((key.encode(), json.dumps(body).encode()))
    return venues, devices, persons, scans


def bare_consumer_rate(bootstrap: str, topic: str, n: int) -> float:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen, started = 0, None
    while seen < n:
        batch = consumer.consume(1000, timeout=1.0)
        if batch and started is None:
            started = time.perf_counter()
        seen += sum(1 for m in batch if not m.error())
    elapsed = time.perf_counter() - started
    consumer.close()
    return n / elapsed


def visit_span(bootstrap: str, topic: str) -> tuple[int, float, float]:
    """(records, first and last broker timestamps in seconds) of the visits topic; an
    envelope's records each count."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in meta.partitions}
    consumer.assign([TopicPartition(topic, p, 0) for p in ends if ends[p] > 0])
    remaining = {p: e for p, e in ends.items() if e > 0}
    first, last, count = float("inf"), 0.0, 0
    while remaining:
        for m in consumer.consume(1000, timeout=1.0):
            if m.error():
                continue
            ts = m.timestamp()[1] / 1000
            first, last, count = min(first, ts), max(last, ts), count + len(unpack(m.value()))
            if m.offset() + 1 >= remaining.get(m.partition(), 0):
                remaining.pop(m.partition(), None)
    consumer.close()
    return count, first, last


def messages_in(bootstrap: str, topic: str) -> int:
    """Messages in ``topic`` (sum of its partitions' end offsets; 0 if it does not exist)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        if meta.error is not None:
            return 0
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in meta.partitions)
    finally:
        consumer.close()


def faust_floor_rate(bootstrap: str, source: str, out: str, n: int, sends: float, partitions: int) -> float:
    """Events/s of `bench.faust_floor`: Faust reading ``source`` and sending ``sends``
    messages per event to ``out`` (created with ``partitions``, as the worker's topics),
    with no work."""
    ensure_topics(bootstrap, [TopicSpec(out, partitions, False, 3_600_000, "none")])
    command = [sys.executable, "-m", "bench.faust_floor", "--bootstrap", bootstrap, "--topic", source,
               "--out", out, "--count", str(n), "--sends", f"{sends:.3f}"]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, timeout=1800, start_new_session=True)
    found = re.search(r'\{"rate": [0-9.e+-]+\}', done.stdout.decode(errors="replace"))  # after terminal codes
    if found is None:
        raise RuntimeError(f"the Faust floor run failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return json.loads(found.group())["rate"]


@dataclass
class WorkerRun:
    label: str
    rate: float  # raw scans per second, first visit out to last
    per_cpu_second: float
    visits: int  # visit records out
    messages_out: float  # messages the worker produced per raw scan (changelog included)
    rss_mb: float  # the worker's peak resident memory
    raw_topic: str
    data_dir: Path


def worker_run(bootstrap: str, base: Settings, generated, label: str, *, envelope_in: int | None,
               envelopes_out: bool, profile: Path | None = None) -> WorkerRun:
    """One `ravao worker` on a fresh set of topics loaded with the same scans: one per
    message (``envelope_in`` None) or in envelopes of up to that many per partition; its
    own output in envelopes or not (RAVAO_WORKER_ENVELOPES)."""
    venues, devices, persons, scans = generated
    data_dir = Path(tempfile.mkdtemp(prefix="ravao-bench-"))
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=f"bench{uuid.uuid4().hex[:6]}.",
                        data_dir=data_dir, qr_keys=BENCH_KEYS, topic_partitions=base.topic_partitions)
    topics = topics_for(settings)
    ensure_topics(bootstrap, topics.all())
    with phase(f"{label}: loading the registry and {len(scans):,} raw scans"):
        producer = reliable_producer(bootstrap)
        produce_all(producer, topics.venues.name, [(v.venue_id.encode(), v.to_bytes()) for v in venues])
        produce_all(producer, topics.devices.name, [(d.device_id.encode(), d.to_bytes()) for d in devices])
        produce_all(producer, topics.persons.name, [(p.person_id.encode(), p.to_bytes()) for p in persons],
                    timeout=600)
        raw = scans if envelope_in is None else in_envelopes(scans, settings.topic_partitions, envelope_in)
        produce_all(producer, topics.scans_raw.name, raw, timeout=600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAVAO_")}
    env.update(RAVAO_KAFKA_BOOTSTRAP=bootstrap, RAVAO_TOPIC_PREFIX=settings.topic_prefix,
               RAVAO_DATA_DIR=str(data_dir), RAVAO_QR_KEYS=BENCH_KEYS, RAVAO_WORKER_PORT="0",
               RAVAO_TOPIC_PARTITIONS=str(settings.topic_partitions),
               RAVAO_WORKER_ENVELOPES="true" if envelopes_out else "false")
    command = [sys.executable, "-m", "pipeline", "worker", "--loglevel", "warning"]
    if profile:
        command = [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(profile), "-m", "pipeline",
                   "worker", "--loglevel", "warning"]
    log = open(data_dir / "worker.log", "wb")
    worker = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    group = groups_for(settings).worker
    with phase(f"{label}: one worker, raw scans in, visits out"):
        cpu_used = _wait_consumed(settings, group, [topics.scans_raw.name, topics.scans_repartition.name], worker)
        rss = _peak_rss_mb(worker.pid)
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(120)
    visits, first, last = visit_span(bootstrap, topics.visits.name)
    produced = sum(messages_in(bootstrap, name) for name in (
        topics.scans_valid.name, topics.scans_dlq.name, topics.visits.name, topics.scans_repartition.name,
        f"{group}-{STATE_TABLE}-changelog"))
    return WorkerRun(label, len(scans) / max(last - first, 1e-6), len(scans) / cpu_used, visits,
                     produced / len(scans), rss, topics.scans_raw.name, data_dir)


def run(n: int = 100_000, profile: Path | None = None, by_device: bool = False,
        envelope_size: int = ENVELOPE_SIZE, inside: int = 0) -> dict[str, float]:
    console = Console(width=None if sys.stdout.isatty() else 150)
    base = Settings()
    bootstrap, broker = bench_broker(base)
    try:
        with phase(f"generating {n:,} raw scans"):
            generated = generate(n, by_device=by_device)
        old = worker_run(bootstrap, base, generated, "single scans in and out (old mode)", envelope_in=None,
                         envelopes_out=False)
        mixed = worker_run(bootstrap, base, generated, "single scans in, envelopes out", envelope_in=None,
                           envelopes_out=True)
        enveloped = worker_run(bootstrap, base, generated, f"envelopes of {envelope_size} in and out",
                               envelope_in=envelope_size, envelopes_out=True, profile=profile)
        with phase("baseline: a bare confluent-kafka consumer"):
            baseline = bare_consumer_rate(bootstrap, old.raw_topic, n)
        floor_topic = old.raw_topic.removesuffix("scans.raw") + "bench.floor"
        with phase("the floor: a Faust agent reading the raw scans, no work"):
            reading = faust_floor_rate(bootstrap, old.raw_topic, floor_topic, n, 0, base.topic_partitions)
        sends = old.messages_out
        with phase(f"the floor: a Faust agent sending {sends:.1f} messages per raw scan, no work"):
            floor = faust_floor_rate(bootstrap, old.raw_topic, floor_topic, n, sends, base.topic_partitions)
        memory = inside_memory(bootstrap, base, inside) if inside else None
        report(console, n, generated, by_device, base, baseline, reading, floor, sends, [old, mixed, enveloped],
               memory, profile)
        return {"baseline": baseline, "reading": reading, "floor": floor, "worker": old.rate,
                "ratio": old.rate / baseline, "per_cpu_second": old.per_cpu_second, "envelopes": enveloped.rate,
                "envelopes_per_cpu_second": enveloped.per_cpu_second, "envelopes_vs_single": enveloped.rate / old.rate,
                **({"inside_rss_mb": memory[1]} if memory else {})}
    finally:
        if broker is not None:
            broker.stop()


def report(console: Console, n: int, generated, by_device: bool, base: Settings, baseline: float, reading: float,
           floor: float, sends: float, runs: list[WorkerRun], memory, profile: Path | None) -> None:
    old, _mixed, enveloped = runs
    table = Table(title=f"pipeline: {n:,} raw scans keyed by {'device' if by_device else 'person'}, "
                        f"{len(generated[2]):,} people, {base.topic_partitions} partitions, one worker; "
                        f"{runs[0].visits:,} visit records out")
    for column in ("measure", "raw scans/s", "vs. baseline", "per CPU-second", "messages out per scan", "peak RSS"):
        table.add_column(column, justify="right" if column != "measure" else "left")
    table.add_row("bare confluent-kafka consumer (baseline)", f"{baseline:,.0f}", "1.00", "", "", "")
    table.add_row("Faust reading only", f"{reading:,.0f}", f"{reading / baseline:.3f}", "", "", "")
    table.add_row(f"Faust floor: no work, {sends:.1f} messages out per scan", f"{floor:,.0f}",
                  f"{floor / baseline:.3f}", "", "", "")
    for one in runs:
        table.add_row(f"worker, {one.label}", f"{one.rate:,.0f}",
                      f"{one.rate / baseline:.3f}", f"{one.per_cpu_second:,.0f}", f"{one.messages_out:.2f}",
                      f"{one.rss_mb:,.0f} MB")
    console.print(table)
    console.print(f"single-scan worker / Faust floor: {old.rate / floor:.2f} (the rest of the floor's time is Faust "
                  "and aiokafka reading and sending the same messages)")
    times = enveloped.rate / old.rate
    console.print(f"goal 1, envelopes at least 10x the single-scan worker: {times:.1f}x "
                  f"({'met' if times >= 10 else 'MISSED'})")
    console.print(f"goal 2, at least 10,000 raw scans per worker CPU-second with envelopes: "
                  f"{enveloped.per_cpu_second:,.0f} ({'met' if enveloped.per_cpu_second >= 10_000 else 'MISSED'})")
    if memory:
        people, rss, state_mb = memory
        console.print(f"memory with {people:,} people inside venues at once: worker peak RSS {rss:,.0f} MB, "
                      f"its state store on disk {state_mb:,.0f} MB")
    if profile:
        console.print(f"profile of the envelope run: {profile}")


def inside_memory(bootstrap: str, base: Settings, people: int) -> tuple[int, float, float]:
    """``people`` entries at venues that keep a visit open for hours, one per person, in
    envelopes: the worker's peak memory once all of them are inside, and its state store."""
    generated = generate_inside(people)
    run_ = worker_run(bootstrap, base, generated, f"{people:,} people inside", envelope_in=ENVELOPE_SIZE,
                      envelopes_out=True)
    store = sum(f.stat().st_size for f in (run_.data_dir / "worker").rglob("*") if f.is_file())
    return people, run_.rss_mb, store / 1e6


def generate_inside(people: int, seed: int = 11):
    codec = QrCodec(parse_keys(BENCH_KEYS))
    default, maximum = STAYS[VenueCategory.factory]
    venues = [Venue(venue_id=new_id("V"), name=f"factory {i}", area_id="25741", area_path=("74", "718", "25741"),
                    category=VenueCategory.factory, default_stay_minutes=default, max_stay_minutes=maximum,
                    owner_phone="0981234791") for i in range(40)]
    devices = [Device(device_id=new_id("D"), venue_id=v.venue_id, kind=DeviceKind.reader_station,
                      mode=GateMode.entry, token_sha256=token_hash("x")) for v in venues]
    rng = random.Random(seed)
    persons = [Person(person_id=new_id("P")) for _ in range(people)]
    now = datetime.now(timezone.utc) - timedelta(minutes=30)
    scans = []
    with phase(f"generating {people:,} entries, one per person"):
        for person in persons:
            body = {"event_id": str(uuid.uuid4()), "source": "station", "person_qr": codec.encode(person.person_id),
                    "device_id": rng.choice(devices).device_id, "direction": "in",
                    "scanned_at": (now + timedelta(seconds=rng.randint(0, 1200))).isoformat()}
            scans.append((person.person_id.encode(), json.dumps(body).encode()))
    return venues, devices, persons, scans


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_consumed(settings: Settings, group: str, topics: list[str], worker: subprocess.Popen,
                   timeout: float = 1800) -> float:
    """Wait until the worker's group has committed everything; returns the worker's CPU
    seconds from the first commit (start-up excluded) to the end."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    deadline = time.monotonic() + timeout
    cpu_at_start = None
    try:
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited ({worker.returncode}); see its log")
            lag = 0
            for topic in topics:
                parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
                try:
                    committed = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10)
                except Exception:  # noqa: BLE001 - the group is not formed yet
                    lag = 1
                    break
                for tp in committed:
                    high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)[1]
                    lag += max(0, high - max(tp.offset, 0) - (len(parts) * 3 if topic.endswith("repartition") else 0))
            if cpu_at_start is None and lag and _committed_any(consumer, topics[0]):
                cpu_at_start = _cpu_seconds(worker.pid)
            if lag == 0:
                return _cpu_seconds(worker.pid) - (cpu_at_start or 0.0)
            time.sleep(0.5)
        raise TimeoutError("the worker did not catch up in time")
    finally:
        consumer.close()


def _committed_any(consumer: Consumer, topic: str) -> bool:
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    try:
        return any(tp.offset >= 0 for tp in consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10))
    except Exception:  # noqa: BLE001 - the group is not formed yet
        return False
