"""Counters of what the worker did, per reason, exposed two ways: Prometheus metrics on the
worker's web port (`/metrics`, prometheus-client's registry and exposition) and snapshots
on the `stats` topic that `ravao stats`, `ravao demo` and the web's operations page read,
summed over every worker that ever ran (processing is at-least-once: after a crash the
replayed messages count again, so counters can exceed distinct events).

The counts live in one plain `Counter`, bumped on the hot path (a dict increment per
scan); the registry reads them only when scraped (`WorkerCollector`), and the snapshot
is the same numbers."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily

from ..pairing import Outcome
from ..prometheus import new_registry

COUNTERS = {
    "scans_accepted": "valid scans sent to scans.valid",
    "scans_rejected": "raw scans sent to scans.dlq, by reason",
    "scans_duplicate": "scans dropped because their event id was seen before",
    "scans_double": "scans ignored as double scans (same person, venue, direction within the debounce)",
    "scans_repeat_entry": "entries ignored because the person was already inside that venue",
    "scans_paired": "valid scans taken in by the pairing",
    "scans_repartitioned": "valid scans whose raw key was not their person id: paired after one more hop",
    "visits_emitted": "visit records sent to visits (new visits and revisions)",
    "visits_revised": "visit records with a version above 1",
    "visits_withdrawn": "revisions that withdraw a visit (deleted)",
    "visits_timed_out_by_clock": "visits closed by the wall-clock tick",
}
# The counters whose counts are kept by reason (a `reason` label); the others have none.
BY_REASON = frozenset({"scans_rejected", "scans_paired"})


class Metrics:
    def __init__(self, worker: str | None = None) -> None:
        self.worker = worker or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.counts: Counter[tuple[str, str]] = Counter()
        self.started = time.time()
        self.registry = new_registry()
        self.registry.register(WorkerCollector(self))

    def inc(self, name: str, reason: str = "", by: int = 1) -> None:
        self.counts[(name, reason)] += by

    def count_outcome(self, outcome: Outcome) -> None:
        """What pairing made of a scan on arrival."""
        if outcome is Outcome.duplicate_event:
            self.inc("scans_duplicate")
        elif outcome is Outcome.double_scan:
            self.inc("scans_double")
        elif outcome is Outcome.repeat_entry:
            self.inc("scans_repeat_entry")
        else:
            self.inc("scans_paired", "" if outcome is Outcome.accepted else outcome.value)

    def get(self, name: str, reason: str = "") -> int:
        return self.counts[(name, reason)]

    def snapshot(self) -> bytes:
        return json.dumps({
            "worker": self.worker, "started": self.started, "at": time.time(),
            "counts": [[n, r, v] for (n, r), v in sorted(self.counts.items())],
        }).encode()


class WorkerCollector:
    """The worker's counters as Prometheus counter families, read at each scrape."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self):
        counts = dict(self.metrics.counts)  # a copy: the loop may add a key meanwhile
        for name, help_text in COUNTERS.items():
            labelled = name in BY_REASON
            family = CounterMetricFamily(f"ravao_{name}", help_text, labels=["reason"] if labelled else None)
            rows = sorted((r, v) for (n, r), v in counts.items() if n == name)
            if labelled:
                for reason, value in rows:
                    family.add_metric([reason], value)
            else:
                family.add_metric([], sum(v for _, v in rows))
            yield family


def sum_snapshots(snapshots: list[bytes]) -> Counter[tuple[str, str]]:
    """The latest snapshot of each worker, added up."""
    latest: dict[str, dict] = {}
    for raw in snapshots:
        snap = json.loads(raw)
        if snap["worker"] not in latest or snap["at"] >= latest[snap["worker"]]["at"]:
            latest[snap["worker"]] = snap
    total: Counter[tuple[str, str]] = Counter()
    for snap in latest.values():
        for name, reason, value in snap["counts"]:
            total[(name, reason)] += value
    return total


def read_stats(bootstrap: str, settings):
    """The counters of every worker that ever ran, summed (`ravao stats`)."""
    from ..kafka_io import read_to_end
    from ..topics import topics_for

    return sum_snapshots([v for _, v, _, _ in read_to_end(bootstrap, topics_for(settings).stats.name) if v])


@dataclass(frozen=True)
class ScanRate:
    """Scans per second over the workers' latest snapshots (`scan_rate`)."""

    accepted: float
    rejected: float
    workers: int  # workers whose latest snapshot is recent
    latest_at: float | None  # time of the newest snapshot, if any

    @property
    def total(self) -> float:
        return self.accepted + self.rejected


def scan_rate(snapshots: list[bytes], now: float, fresh_seconds: float = 30.0) -> ScanRate:
    """Scans accepted and refused per second, summed over the workers whose latest snapshot
    is at most ``fresh_seconds`` old, each from its two latest snapshots (5 s apart): the
    workers count scans, where the offsets of scans.raw count messages (an envelope is
    one message of many scans)."""
    by_worker: dict[str, list[dict]] = {}
    for raw in snapshots:
        snap = json.loads(raw)
        by_worker.setdefault(snap["worker"], []).append(snap)
    accepted = rejected = 0.0
    live = 0
    latest = None
    for snaps in by_worker.values():
        snaps.sort(key=lambda s: s["at"])
        latest = max(latest or 0.0, snaps[-1]["at"])
        if now - snaps[-1]["at"] > fresh_seconds or len(snaps) < 2:
            continue
        live += 1
        before, after = snaps[-2], snaps[-1]
        seconds = after["at"] - before["at"]
        if seconds <= 0:
            continue
        a, b = _scans(before), _scans(after)
        accepted += max(0, b[0] - a[0]) / seconds
        rejected += max(0, b[1] - a[1]) / seconds
    return ScanRate(accepted, rejected, live, latest)


def _scans(snapshot: dict) -> tuple[int, int]:
    accepted = sum(v for n, _, v in snapshot["counts"] if n == "scans_accepted")
    rejected = sum(v for n, _, v in snapshot["counts"] if n == "scans_rejected")
    return accepted, rejected


def recent_snapshots(bootstrap: str, settings, timeout: float, tail: int = 200) -> list[bytes]:
    """The last ``tail`` snapshots on the `stats` topic (enough for each live worker's
    latest two: a worker publishes one every 5 s), read within ``timeout`` seconds."""
    from ..kafka_io import read_tail
    from ..topics import topics_for

    return [v for v in read_tail(bootstrap, topics_for(settings).stats.name, tail, timeout) if v]
