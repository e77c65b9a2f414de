"""A sink killed with SIGKILL mid-batch, again and again, and restarted: nothing lost,
nothing counted twice. Every scan once, every visit at its latest version, tier counts
equal to a recount, contacts equal to the brute-force ones."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from pipeline.settings import Settings
from pipeline.topics import Topics
from pipeline.warehouse import open_warehouse
from pipeline.warehouse.tier_counts import mismatches
from pipeline.warehouse.trace import TraceRequest, trace
from test_sink_replay import sink_env
from warehouse_day import brute_f1, generate_day, publish_day

pytestmark = pytest.mark.kafka


def start_sink(settings: Settings, log: Path) -> subprocess.Popen:
    env = sink_env(settings, RAVAO_SINK_BATCH_ROWS="300", RAVAO_SINK_BATCH_SECONDS="0.2")
    return subprocess.Popen([sys.executable, "-m", "pipeline", "sink"], env=env, cwd=ROOT, start_new_session=True,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)


def wait_until_writing(log: Path, process: subprocess.Popen, timeout: float = 60) -> None:
    """Until this sink has its partitions (each start logs to a file of its own)."""
    deadline = time.monotonic() + timeout
    while b"assigned" not in log.read_bytes():
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the sink never joined its group"
        time.sleep(0.2)


def test_a_sink_killed_mid_batch_loses_and_duplicates_nothing(settings: Settings, topics: Topics,
                                                              tmp_path: Path) -> None:
    day = generate_day(persons=600, seed=5)
    rng = random.Random(5)
    logs = iter(tmp_path / f"sink-{n}.log" for n in range(100))
    publish_day(settings.kafka_bootstrap, topics, day, scans=slice(0, 0), visits=slice(0, 0), extras=False)
    chunks = 8
    scan_step, visit_step = -(-len(day.scans) // chunks), -(-len(day.records) // chunks)
    sink = start_sink(settings, log := next(logs))
    wait_until_writing(log, sink)
    kills = 0
    for i in range(chunks):
        publish_day(settings.kafka_bootstrap, topics, day, registry=False, extras=i == chunks - 1,
                    scans=slice(i * scan_step, (i + 1) * scan_step),
                    visits=slice(i * visit_step, (i + 1) * visit_step))
        if i % 2 == 1:
            time.sleep(rng.uniform(0.05, 0.6))  # somewhere in reading, batching or inserting
            os.killpg(sink.pid, signal.SIGKILL)
            sink.wait(30)
            kills += 1
            sink = start_sink(settings, log := next(logs))
            wait_until_writing(log, sink)
    os.killpg(sink.pid, signal.SIGKILL)
    sink.wait(30)
    assert kills == chunks // 2
    run_cli("sink", "--until-caught-up", env=sink_env(settings))

    unique = {str(s.event_id) for s in day.scans}
    latest = day.latest()
    with open_warehouse(settings) as warehouse:
        assert warehouse.query("SELECT count(), uniqExact(event_id) FROM scans").rows == [[len(unique)] * 2]
        assert not mismatches(warehouse).rows
        stored = warehouse.query("SELECT toString(visit_id), max(version) FROM visits GROUP BY visit_id").rows
        assert dict(stored) == {k: v.version for k, v in latest.items()}
        live = day.live_visits()
        for case in rng.sample(sorted({v.person_id for v in live}), 3):
            start, end = day.start, day.start + timedelta(days=2)
            got = {r["person_id"]: round(r["overlap_seconds"] * 1000)
                   for r in trace(warehouse, TraceRequest(case, start, end, 600)).dicts()}
            assert got == {p: c.total_ms for p, c in brute_f1(live, case, start, end, 600).items()}
        assert warehouse.query("SELECT count() FROM dead_letters FINAL").scalar() == 6
