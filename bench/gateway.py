"""`ravao bench gateway`: one gateway process against a bare Kafka producer.

In one run, on the same broker and the same events (station scans of genuine codes):

- baseline: a bare confluent-kafka producer, configured as the gateway's (idempotent,
  acks=all), sends the raw scans and waits for every acknowledgement;
- batches: HTTP batches of 500 posted to one `ravao gateway` process by a few concurrent
  clients, timed from the first request to the last answer (every answer comes after
  Kafka acknowledged its scans);
- single scans: one scan per request at a steady rate (open loop: each request leaves at
  its scheduled time whether or not earlier ones were answered), latency measured from the
  scheduled time to the answer, so a stalled gateway cannot hide its queue.

The HTTP clients (httpx, asyncio) run in this process, on the same 2 cores as the gateway
and the broker: the figures are a floor. Compare ratios between runs, not absolutes.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from pipeline.kafka_io import ensure_topics, produce_all, reliable_producer
from bench.broker import bench_broker
from bench.progress import phase
from pipeline.keys import parse_keys
from pipeline.registry import token_hash
from pipeline.settings import PROJECT_ROOT, Settings
from pipeline.topics import TopicSpec, topics_for
from schemas.ids import new_id
from schemas.qrcode import QrCodec
from schemas.registry import Device, DeviceKind, Venue, VenueCategory
from schemas.scans import RawScan, ScanSource

BENCH_KEYS = "KB=bench-key-not-for-real-codes-000"
STATIONS = 8
PEOPLE = 2000


def _registry(settings: Settings) -> tuple[list[tuple[str, str]], list[str]]:
    """Publishes a venue and its stations; returns (device id, token) pairs and person codes."""
    topics = topics_for(settings)
    codec = QrCodec(parse_keys(BENCH_KEYS))
    venue = Venue(venue_id=new_id("V"), name="bench", area_id="25741", area_path=("74", "718", "25741"),
                  category=VenueCategory.factory, default_stay_minutes=480, max_stay_minutes=720,
                  owner_phone="0981234791")
    stations = [(new_id("D"), uuid.uuid4().hex) for _ in range(STATIONS)]
    devices = [Device(device_id=d, venue_id=venue.venue_id, kind=DeviceKind.reader_station, token_sha256=token_hash(t))
               for d, t in stations]
    producer = reliable_producer(settings.kafka_bootstrap)
    produce_all(producer, topics.venues.name, [(venue.venue_id.encode(), venue.to_bytes())])
    produce_all(producer, topics.devices.name, [(d.device_id.encode(), d.to_bytes()) for d in devices])
    return stations, [codec.encode(new_id("P")) for _ in range(PEOPLE)]


def _scans(n: int, codes: list[str]) -> list[dict]:
    at = datetime.now(timezone.utc).isoformat()
    return [{"event_id": str(uuid.uuid4()), "person_qr": codes[i % len(codes)], "direction": "auto", "scanned_at": at}
            for i in range(n)]


def bare_producer_rate(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    producer = reliable_producer(bootstrap)
    started = time.perf_counter()
    produce_all(producer, topic, messages, timeout=300)
    return len(messages) / (time.perf_counter() - started)


async def _batches(base: str, stations: list[tuple[str, str]], scans: list[dict], batch: int,
                   concurrency: int) -> tuple[float, int]:
    bodies = [(stations[i % len(stations)], json.dumps({"scans": scans[s:s + batch]}).encode())
              for i, s in enumerate(range(0, len(scans), batch))]
    queue: asyncio.Queue = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)
    accepted = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal accepted
        while not queue.empty():
            (device, token), body = queue.get_nowait()
            while True:
                response = await http.post("/api/v1/scans/batch", content=body, headers={
                    "Authorization": f"Bearer {device}:{token}", "Content-Type": "application/json"})
                if response.status_code == 200:
                    accepted += response.json()["accepted"]
                    break
                if response.status_code not in (429, 503):
                    raise RuntimeError(f"the gateway answered {response.status_code}: {response.text[:300]}")
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))

    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        return time.perf_counter() - started, accepted


async def _steady(base: str, stations: list[tuple[str, str]], scans: list[dict], rate: float,
                  senders: int = 100) -> tuple[list[float], int]:
    """Latencies (s) of single-scan requests sent at ``rate`` per second. Request i is due
    at start + i/rate and its latency counts from then (no coordinated omission). A fixed
    set of senders, each an httpx client with one keep-alive connection: httpcore's pool
    scans all its connections on every request, which at 32 connections cost the client
    more CPU than the gateway spent."""
    latencies: list[float] = []
    failures = 0
    bodies = [json.dumps(scan).encode() for scan in scans]
    next_index = iter(range(len(bodies)))
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(base_url=base, timeout=30, limits=limits) for _ in range(senders)]
    start = 0.0

    async def sender(http: httpx.AsyncClient) -> None:
        nonlocal failures
        for i in next_index:
            device, token = stations[i % len(stations)]
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            response = await http.post("/api/v1/scans", content=bodies[i], headers={
                "Authorization": f"Bearer {device}:{token}", "Content-Type": "application/json"})
            if response.status_code == 200:
                latencies.append(time.perf_counter() - due)
            else:
                failures += 1

    try:
        # Open the connections first: their set-up is not what is measured.
        await asyncio.gather(*(http.get("/healthz") for http in clients))
        start = time.perf_counter() + 0.2
        await asyncio.gather(*(sender(http) for http in clients))
    finally:
        await asyncio.gather(*(http.aclose() for http in clients))
    return latencies, failures


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_gateway(settings: Settings, data_dir: Path) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAVAO_")}
    env.update(RAVAO_KAFKA_BOOTSTRAP=settings.kafka_bootstrap, RAVAO_TOPIC_PREFIX=settings.topic_prefix,
               RAVAO_DATA_DIR=str(data_dir), RAVAO_QR_KEYS=BENCH_KEYS, RAVAO_GATEWAY_PORT=str(port),
               RAVAO_TOPIC_PARTITIONS=str(settings.topic_partitions),
               RAVAO_GATEWAY_DEVICE_RATE="1000000", RAVAO_GATEWAY_DEVICE_BURST="1000000")
    log = open(data_dir / "gateway.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "gateway", "--loglevel", "warning"], env=env,
                               cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited ({process.returncode}); see {data_dir / 'gateway.log'}")
        try:
            if httpx.get(base + "/healthz", timeout=5).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.terminate()
    raise RuntimeError("the gateway did not become ready within 120s")


def run(scans: int = 50_000, batch: int = 500, concurrency: int = 4, rate: float = 500.0,
        seconds: float = 10.0) -> dict[str, float]:
    """Run the benchmark, print a table, and return the figures."""
    console = Console()
    base_settings = Settings()
    bootstrap, broker = bench_broker(base_settings)
    data_dir = Path(tempfile.mkdtemp(prefix="ravao-bench-gateway-"))
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=f"benchgw{uuid.uuid4().hex[:6]}.", data_dir=data_dir,
                        qr_keys=BENCH_KEYS, topic_partitions=base_settings.topic_partitions)
    topics = topics_for(settings)
    baseline_topic = TopicSpec(settings.topic_prefix + "baseline", settings.topic_partitions, False,
                               settings.retention_ms, "device id")
    gateway = None
    try:
        ensure_topics(bootstrap, [*topics.all(), baseline_topic])
        stations, codes = _registry(settings)
        events = _scans(scans, codes)
        singles = _scans(int(rate * seconds), codes)
        with phase(f"baseline: a bare confluent-kafka producer, {scans:,} scans"):
            now = datetime.now(timezone.utc)
            raw = [(stations[i % STATIONS][0].encode(),
                    RawScan(event_id=e["event_id"], source=ScanSource.station, person_qr=e["person_qr"],
                            device_id=stations[i % STATIONS][0], scanned_at=now).to_bytes())
                   for i, e in enumerate(events)]
            baseline = bare_producer_rate(bootstrap, baseline_topic.name, raw)
        gateway, base = _start_gateway(settings, data_dir)
        with phase(f"one gateway: {scans:,} scans in batches of {batch} from {concurrency} clients"):
            cpu_before = _cpu_seconds(gateway.pid)
            elapsed, accepted = asyncio.run(_batches(base, stations, events, batch, concurrency))
            cpu_batches = _cpu_seconds(gateway.pid) - cpu_before
        if accepted != scans:
            raise RuntimeError(f"the gateway accepted {accepted} of {scans} scans")
        batch_rate = scans / elapsed
        with phase(f"single scans at {rate:g}/s for {seconds:g}s"):
            latencies, failures = asyncio.run(_steady(base, stations, singles, rate))
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000

        table = Table(title=f"gateway: {scans:,} station scans, {settings.topic_partitions} partitions, one process")
        for column in ("measure", "scans/s", "vs. baseline"):
            table.add_column(column, justify="left" if column == "measure" else "right")
        table.add_row("bare confluent-kafka producer, acks=all (baseline)", f"{baseline:,.0f}", "1.00")
        table.add_row(f"gateway: HTTP batches of {batch} -> Kafka acknowledged", f"{batch_rate:,.0f}",
                      f"{batch_rate / baseline:.3f}")
        console.print(table)
        console.print(f"gateway CPU during the batches: {cpu_batches:.1f} s, {scans / max(cpu_batches, 1e-6):,.0f} "
                      "scans per CPU-second")
        latency = Table(title=f"single scans at {rate:g}/s for {seconds:g}s (open loop, from the scheduled send)")
        for column in ("requests", "answered 200", "p50 ms", "p99 ms", "max ms"):
            latency.add_column(column, justify="right")
        latency.add_row(f"{len(singles):,}", f"{len(latencies):,}", f"{p50:.1f}", f"{p99:.1f}",
                        f"{latencies[-1] * 1000:.1f}")
        console.print(latency)
        if failures:
            console.print(f"[red]{failures} single-scan requests were not answered 200[/red]")
        return {"baseline": baseline, "batches": batch_rate, "ratio": batch_rate / baseline, "p50_ms": p50,
                "p99_ms": p99, "failures": failures, "gateway_cpu_s": cpu_batches}
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(60)
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    run()
