"""`ravao bench pipeline`: one worker's throughput against a bare Kafka consumer.

Pre-loads N raw scans (a day of a few thousand people at a few dozen venues) into a fresh
set of topics, then measures, in the same run and on the same broker:

- baseline: a bare confluent-kafka consumer loop reading those N messages;
- the worker: one `ravao worker` process from its first visit out to its last, with raw
  scans in and visits out (keyed by person, as the gateway publishes them, a scan is
  validated and paired in one step; `--key device` makes most of them take one more hop);
- the Faust floor (`bench.faust_floor`): a Faust agent reading the same topic in the same
  batches, first sending nothing, then as many messages per scan as the worker did; no work.

It prints events/s for each and their ratios. The machine is shared and noisy: compare the
ratio between runs, not the absolute figures.
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
from pipeline.stream.worker import STATE_TABLE
from pipeline.topics import TopicSpec, groups_for, topics_for
from schemas.ids import new_id
from schemas.qrcode import QrCodec
from schemas.registry import STAYS, Device, DeviceKind, GateMode, Person, Venue, VenueCategory

BENCH_KEYS = "KB=bench-key-not-for-real-codes-000"


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
    """(records, first and last broker timestamps in seconds) of the visits topic."""
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
            first, last, count = min(first, ts), max(last, ts), count + 1
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


def run(n: int = 100_000, profile: Path | None = None, by_device: bool = False) -> dict[str, float]:
    console = Console()
    base = Settings()
    bootstrap, broker = bench_broker(base)
    data_dir = Path(tempfile.mkdtemp(prefix="ravao-bench-"))
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=f"bench{uuid.uuid4().hex[:6]}.",
                        data_dir=data_dir, qr_keys=BENCH_KEYS, topic_partitions=base.topic_partitions)
    topics = topics_for(settings)
    try:
        ensure_topics(bootstrap, topics.all())
        with phase(f"generating and loading {n:,} raw scans"):
            venues, devices, persons, scans = generate(n, by_device=by_device)
            producer = reliable_producer(bootstrap)
            produce_all(producer, topics.venues.name, [(v.venue_id.encode(), v.to_bytes()) for v in venues])
            produce_all(producer, topics.devices.name, [(d.device_id.encode(), d.to_bytes()) for d in devices])
            produce_all(producer, topics.persons.name, [(p.person_id.encode(), p.to_bytes()) for p in persons])
            produce_all(producer, topics.scans_raw.name, scans, timeout=300)
        with phase("baseline: a bare confluent-kafka consumer"):
            baseline = bare_consumer_rate(bootstrap, topics.scans_raw.name, n)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAVAO_")}
        env.update(RAVAO_KAFKA_BOOTSTRAP=bootstrap, RAVAO_TOPIC_PREFIX=settings.topic_prefix,
                   RAVAO_DATA_DIR=str(data_dir), RAVAO_QR_KEYS=BENCH_KEYS, RAVAO_WORKER_PORT="0",
                   RAVAO_TOPIC_PARTITIONS=str(settings.topic_partitions))
        command = [sys.executable, "-m", "pipeline", "worker", "--loglevel", "warning"]
        if profile:
            command = [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(profile), "-m", "pipeline",
                       "worker", "--loglevel", "warning"]
        log = open(data_dir / "worker.log", "wb")
        worker = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        with phase("one worker: raw scans in, visits out"):
            group = groups_for(settings).worker
            from confluent_kafka.admin import AdminClient  # noqa: F401 - lag read below

            cpu_used = _wait_consumed(settings, group, [topics.scans_raw.name, topics.scans_repartition.name], worker)
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(120)
        visits, first, last = visit_span(bootstrap, topics.visits.name)
        rate = n / max(last - first, 1e-6)
        produced = sum(messages_in(bootstrap, name) for name in (
            topics.scans_valid.name, topics.scans_dlq.name, topics.visits.name, topics.scans_repartition.name,
            f"{group}-{STATE_TABLE}-changelog"))
        sends = produced / n
        with phase("the floor: a Faust agent reading the raw scans, no work"):
            reading = faust_floor_rate(bootstrap, topics.scans_raw.name, settings.topic_prefix + "bench.floor", n, 0,
                                       settings.topic_partitions)
        with phase(f"the floor: a Faust agent sending {sends:.1f} messages per raw scan, no work"):
            floor = faust_floor_rate(bootstrap, topics.scans_raw.name, settings.topic_prefix + "bench.floor", n, sends,
                                     settings.topic_partitions)
        table = Table(title=f"pipeline: {n:,} raw scans keyed by {'device' if by_device else 'person'}, "
                            f"{len(persons):,} people, {settings.topic_partitions} partitions, one worker")
        for column in ("measure", "events/s", "vs. baseline"):
            table.add_column(column, justify="right" if column != "measure" else "left")
        table.add_row("bare confluent-kafka consumer (baseline)", f"{baseline:,.0f}", "1.00")
        table.add_row("Faust reading only", f"{reading:,.0f}", f"{reading / baseline:.3f}")
        table.add_row(f"Faust floor: no work, {sends:.1f} messages out per scan", f"{floor:,.0f}",
                      f"{floor / baseline:.3f}")
        table.add_row(f"worker: raw in -> {visits:,} visits out", f"{rate:,.0f}", f"{rate / baseline:.3f}")
        console.print(table)
        console.print(f"worker / Faust floor: {rate / floor:.2f} (the rest of the floor's time is Faust and aiokafka "
                      "reading and sending the same messages)")
        console.print(f"worker CPU while processing: {cpu_used:.1f} s, {n / cpu_used:,.0f} raw scans per CPU-second "
                      "(less sensitive to other load on the machine than the wall-clock rate)")
        if profile:
            console.print(f"profile: {profile}")
        return {"baseline": baseline, "reading": reading, "floor": floor, "worker": rate, "ratio": rate / baseline,
                "per_cpu_second": n / cpu_used}
    finally:
        if broker is not None:
            broker.stop()


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
