"""`ravao bench gateway`: one gateway against a bare Kafka producer, and its latency.

In one run, on the same broker and the same events (station scans of genuine codes):

- baseline: a bare confluent-kafka producer, configured as the gateway's (idempotent,
  acks=all), sends the raw scans and waits for every acknowledgement;
- batches: HTTP batches of 500 posted to one `ravao gateway` by a few concurrent clients,
  timed from the first request to the last answer (every answer comes after Kafka
  acknowledged its scans);
- single scans: one scan per request at a constant rate, from vegeta (`bench/vegeta.py`,
  open loop, quiet), at 200/s and then at the asked rate (500/s) for ``seconds`` each, so
  that the ratio of the two p99 is of the same run.

Each gateway mode asked for (envelopes on, off; ``workers`` processes) gets its own
gateway process, measured in turn. With ``profile``, py-spy samples the gateway during the
single scans at the asked rate and the busiest frames are printed (the collapsed stacks are
kept for a flame graph). vegeta and the broker share the 2 cores with the gateway: compare
ratios between runs, not absolutes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from pipeline.kafka_io import ensure_topics, produce_all, reliable_producer
from bench.broker import bench_broker
from bench.profile import busiest_frames, py_spy
from bench.progress import phase
from bench.vegeta import Latencies, attack, vegeta_binary, write_targets
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


def _cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and of its children (a gateway's uvicorn workers)."""
    total = 0.0
    for process in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
    return [grandchild for child in found for grandchild in [child, *_children(child)]]


@dataclass(frozen=True)
class Mode:
    """How a measured gateway runs."""

    envelopes: bool
    workers: int = 1

    @property
    def label(self) -> str:
        return (f"envelopes {'on' if self.envelopes else 'off'}"
                + (f", {self.workers} workers" if self.workers > 1 else ""))


def _start_gateway(settings: Settings, data_dir: Path, mode: Mode) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAVAO_")}
    env.update(RAVAO_KAFKA_BOOTSTRAP=settings.kafka_bootstrap, RAVAO_TOPIC_PREFIX=settings.topic_prefix,
               RAVAO_DATA_DIR=str(data_dir), RAVAO_QR_KEYS=BENCH_KEYS, RAVAO_GATEWAY_PORT=str(port),
               RAVAO_TOPIC_PARTITIONS=str(settings.topic_partitions),
               RAVAO_GATEWAY_DEVICE_RATE="1000000", RAVAO_GATEWAY_DEVICE_BURST="1000000",
               RAVAO_GATEWAY_ENVELOPES=str(mode.envelopes).lower(), RAVAO_GATEWAY_WORKERS=str(mode.workers))
    log_file = data_dir / f"gateway-{mode.label.replace(' ', '-').replace(',', '')}.log"
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "gateway", "--loglevel", "warning"], env=env,
                               cwd=PROJECT_ROOT, stdout=log_file.open("wb"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited ({process.returncode}); see {log_file}")
        try:
            # Every worker must be ready: each answers /healthz on its own.
            if all(httpx.get(base + "/healthz", timeout=5).status_code == 200 for _ in range(4 * mode.workers)):
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    _stop(process)
    raise RuntimeError("the gateway did not become ready within 120s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def _singles(base: str, stations: list[tuple[str, str]], codes: list[str], rate: float, seconds: float,
             work_dir: Path, name: str) -> Latencies:
    """Single-scan requests from vegeta at ``rate`` for ``seconds``, each a new event."""
    scans = _scans(int(rate * seconds) + int(rate), codes)
    requests = (({"Authorization": f"Bearer {stations[i % STATIONS][0]}:{stations[i % STATIONS][1]}",
                  "Content-Type": "application/json"}, json.dumps(scan).encode()) for i, scan in enumerate(scans))
    targets = work_dir / f"{name}.targets"
    write_targets(targets, base + "/api/v1/scans", requests)
    return attack(targets, rate, seconds, work_dir, name)


def _sent(base: str) -> tuple[float, float]:
    """(messages, scans) the gateway sent to scans.raw so far, from its /metrics (one
    worker's, with several)."""
    found = {"ravao_gateway_scan_messages_total": 0.0, "ravao_gateway_published_scans_total": 0.0}
    for line in httpx.get(base + "/metrics", timeout=10).text.splitlines():
        name, _, value = line.partition(" ")
        if name in found:
            found[name] = float(value)
    return found["ravao_gateway_scan_messages_total"], found["ravao_gateway_published_scans_total"]


def _per_message(before: tuple[float, float], after: tuple[float, float]) -> float:
    messages, scans = after[0] - before[0], after[1] - before[1]
    return scans / messages if messages else 0.0


@dataclass
class Measured:
    mode: Mode
    batch_rate: float
    batch_cpu: float
    singles: dict[float, Latencies]
    singles_cpu_ms: dict[float, float]  # the gateway's CPU per single-scan request
    busiest: list[tuple[str, float]]
    per_message: dict[str, float]  # scans per message sent: "batches", and each rate


def _measure(settings: Settings, data_dir: Path, mode: Mode, stations, codes, events: list[dict], batch: int,
             concurrency: int, rates: list[float], seconds: float, profile: Path | None,
             console: Console) -> Measured:
    gateway, base = _start_gateway(settings, data_dir, mode)
    try:
        with phase(f"{mode.label}: {len(events):,} scans in batches of {batch} from {concurrency} clients"):
            cpu_before, sent_before = _cpu_seconds(gateway.pid), _sent(base)
            elapsed, accepted = asyncio.run(_batches(base, stations, events, batch, concurrency))
            cpu_batches = _cpu_seconds(gateway.pid) - cpu_before
            per_message = {"batches": _per_message(sent_before, _sent(base))}
        if accepted != len(events):
            raise RuntimeError(f"the gateway accepted {accepted} of {len(events)} scans")
        singles, cpu_ms, busiest = {}, {}, []
        for rate in rates:
            name = f"{mode.label.replace(' ', '-').replace(',', '')}-{rate:g}"
            with phase(f"{mode.label}: single scans at {rate:g}/s for {seconds:g}s (vegeta)"):
                sampler = py_spy(gateway.pid, data_dir / f"{name}.folded", seconds) \
                    if profile is not None and rate == rates[-1] else None
                cpu_before, sent_before = _cpu_seconds(gateway.pid), _sent(base)
                singles[rate] = _singles(base, stations, codes, rate, seconds, data_dir, name)
                cpu_ms[rate] = (_cpu_seconds(gateway.pid) - cpu_before) * 1000 / max(singles[rate].requests, 1)
                per_message[f"{rate:g}"] = _per_message(sent_before, _sent(base))
                if sampler is not None:
                    busiest = busiest_frames(sampler.finish())
                    if profile:
                        profile.write_bytes((data_dir / f"{name}.folded").read_bytes())
        return Measured(mode, len(events) / elapsed, cpu_batches, singles, cpu_ms, busiest, per_message)
    finally:
        _stop(gateway)


def run(scans: int = 50_000, batch: int = 500, concurrency: int = 4, rate: float = 500.0,
        seconds: float = 30.0, modes: list[Mode] | None = None, profile: Path | None = None) -> list[Measured]:
    """Run the benchmark, print its tables, and return the figures. ``profile``: where to
    write py-spy's collapsed stacks of the last mode at ``rate`` (a flame graph's input)."""
    console = Console() if sys.stdout.isatty() else Console(width=150)  # a log keeps the tables whole
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the batches' client: no line per request
    modes = modes or [Mode(envelopes=True), Mode(envelopes=False)]
    vegeta_binary()  # installed before anything starts, or a clear error
    base_settings = Settings()
    bootstrap, broker = bench_broker(base_settings)
    data_dir = Path(tempfile.mkdtemp(prefix="ravao-bench-gateway-"))
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=f"benchgw{uuid.uuid4().hex[:6]}.", data_dir=data_dir,
                        qr_keys=BENCH_KEYS, topic_partitions=base_settings.topic_partitions)
    topics = topics_for(settings)
    baseline_topic = TopicSpec(settings.topic_prefix + "baseline", settings.topic_partitions, False,
                               settings.retention_ms, "device id")
    rates = sorted({200.0, rate}) if rate != 200 else [200.0]
    try:
        ensure_topics(bootstrap, [*topics.all(), baseline_topic])
        stations, codes = _registry(settings)
        events = _scans(scans, codes)
        with phase(f"baseline: a bare confluent-kafka producer, {scans:,} scans"):
            now = datetime.now(timezone.utc)
            raw = [(stations[i % STATIONS][0].encode(),
                    RawScan(event_id=e["event_id"], source=ScanSource.station, person_qr=e["person_qr"],
                            device_id=stations[i % STATIONS][0], scanned_at=now).to_bytes())
                   for i, e in enumerate(events)]
            baseline = bare_producer_rate(bootstrap, baseline_topic.name, raw)
        measured = [_measure(settings, data_dir, mode, stations, codes, _scans(scans, codes), batch, concurrency,
                             rates, seconds, profile if mode is modes[-1] else None, console) for mode in modes]
        _print(console, settings, scans, batch, baseline, measured, rates, seconds)
        return measured
    finally:
        if broker is not None:
            broker.stop()


def _print(console: Console, settings: Settings, scans: int, batch: int, baseline: float, measured: list[Measured],
           rates: list[float], seconds: float) -> None:
    table = Table(title=f"gateway: {scans:,} station scans in HTTP batches of {batch}, "
                  f"{settings.topic_partitions} partitions")
    for column in ("measure", "scans/s", "vs. baseline", "scans per gateway CPU-s", "scans per message"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    table.add_row("bare confluent-kafka producer, acks=all (baseline)", f"{baseline:,.0f}", "1.00", "", "1")
    for m in measured:
        table.add_row(f"gateway ({m.mode.label}) -> Kafka acknowledged", f"{m.batch_rate:,.0f}",
                      f"{m.batch_rate / baseline:.3f}", f"{scans / max(m.batch_cpu, 1e-6):,.0f}",
                      f"{m.per_message['batches']:.1f}")
    console.print(table)
    latency = Table(title=f"single scans, one per request, {seconds:g}s per rate (vegeta, open loop)")
    for column in ("gateway", "rate/s", "sent", "answered 200", "p50 ms", "p90 ms", "p99 ms", "max ms",
                   f"p99 vs. {rates[0]:g}/s", "gateway CPU ms/request", "scans per message"):
        latency.add_column(column, justify="left" if column == "gateway" else "right")
    for m in measured:
        low = m.singles[rates[0]]
        for rate in rates:
            r = m.singles[rate]
            latency.add_row(m.mode.label, f"{rate:g}", f"{r.requests:,}", f"{r.ok:,}", f"{r.p50:.1f}",
                            f"{r.p90:.1f}", f"{r.p99:.1f}", f"{r.max:.1f}", f"{r.p99 / max(low.p99, 1e-6):.2f}",
                            f"{m.singles_cpu_ms[rate]:.2f}", f"{m.per_message[f'{rate:g}']:.2f}")
    console.print(latency)
    for m in measured:
        for rate, r in m.singles.items():
            if r.ok != r.requests:
                console.print(f"[red]{m.mode.label}, {rate:g}/s: {r.requests - r.ok} requests not answered 200: "
                              f"{'; '.join(r.errors[:3])}[/red]")
        if m.busiest:
            frames = Table(title=f"where the gateway's time went at {rates[-1]:g}/s ({m.mode.label}; py-spy, "
                           "share of samples in the frame or below it)")
            frames.add_column("frame")
            frames.add_column("share", justify="right")
            for frame, share in m.busiest:
                frames.add_row(frame, f"{share:.1%}")
            console.print(frames)


if __name__ == "__main__":
    run()
