"""Counters of what the worker did, per reason, exposed two ways: Prometheus text on the
worker's web port (`/metrics`) and snapshots on the `stats` topic that `ravao stats`
sums over every worker that ever ran (processing is at-least-once: after a crash the
replayed messages count again, so counters can exceed distinct events)."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections import Counter

from ..pairing import Outcome

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


class Metrics:
    def __init__(self, worker: str | None = None) -> None:
        self.worker = worker or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.counts: Counter[tuple[str, str]] = Counter()
        self.started = time.time()

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

    def prometheus(self) -> str:
        lines = []
        for name, help_text in COUNTERS.items():
            metric = f"ravao_{name}_total"
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
            rows = [(r, v) for (n, r), v in sorted(self.counts.items()) if n == name] or [("", 0)]
            for reason, value in rows:
                label = f'{{reason="{reason}"}}' if reason else ""
                lines.append(f"{metric}{label} {value}")
        return "\n".join(lines) + "\n"

    def snapshot(self) -> bytes:
        return json.dumps({
            "worker": self.worker, "started": self.started, "at": time.time(),
            "counts": [[n, r, v] for (n, r), v in sorted(self.counts.items())],
        }).encode()


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
