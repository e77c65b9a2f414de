"""While the warehouse is down the sink stops consuming, keeps the batch, retries with
growing waits and commits nothing; when it is back, everything lands once."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from pipeline.settings import Settings
from pipeline.sink.sink import Sink
from pipeline.topics import Topics, groups_for
from pipeline.warehouse import Warehouse, WarehouseUnavailable, open_warehouse
from pipeline.warehouse.migrations import migrate
from stream_helpers import count_messages, lag
from test_sink_replay import sink_env
from warehouse_day import generate_day, publish_day

pytestmark = pytest.mark.kafka


class Outage(Warehouse):
    """The real embedded engine behind a switch: its first ``failures`` inserts fail as a
    warehouse that cannot be reached fails (the fault is injected, the engine is real)."""

    def __init__(self, real: Warehouse, failures: int) -> None:
        self.real, self.failures, self.attempts = real, failures, 0
        self.location, self.exclusive = real.location, False

    def command(self, sql, params=None):
        return self.real.command(sql, params)

    def query(self, sql, params=None):
        return self.real.query(sql, params)

    def insert_json(self, table, payload, token=None):
        self.attempts += 1
        if self.attempts <= self.failures:
            raise WarehouseUnavailable("connection refused (injected)")
        return self.real.insert_json(table, payload, token)


def test_a_batch_waits_for_the_warehouse_and_lands_once(settings: Settings, topics: Topics,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    day = generate_day(persons=60, seed=9)
    publish_day(settings.kafka_bootstrap, topics, day)
    quick = settings.model_copy(update={"sink_retry_max_seconds": 0.4})
    with open_warehouse(quick) as real:
        migrate(real, quick.retention_days)
        flaky = Outage(real, failures=4)
        caplog.set_level(logging.INFO, logger="pipeline.sink")
        Sink(quick, flaky, settings.kafka_bootstrap, until_caught_up=True).run()
        assert flaky.attempts > 4
        unique = {str(s.event_id) for s in day.scans}
        assert real.query("SELECT count(), uniqExact(event_id) FROM scans").rows == [[len(unique)] * 2]
        assert real.query("SELECT uniqExact(visit_id) FROM visits").scalar() == len(day.latest())
    messages = [r.getMessage() for r in caplog.records]
    assert sum("warehouse unavailable, consuming paused" in m for m in messages) == 4
    assert any("consuming resumed" in m for m in messages)


def test_a_sink_waits_for_an_unreachable_server_and_stops_on_sigterm(settings: Settings, topics: Topics,
                                                                     tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    publish_day(settings.kafka_bootstrap, topics, generate_day(persons=20, seed=2))
    env = sink_env(settings, RAVAO_CLICKHOUSE_URL=f"http://127.0.0.1:{port}/ravao", RAVAO_SINK_RETRY_MAX_SECONDS="1")
    log = tmp_path / "sink.log"
    sink = subprocess.Popen([sys.executable, "-m", "pipeline", "sink"], env=env, cwd=ROOT, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while log.read_text().count("warehouse unavailable") < 3:
        assert sink.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    published = count_messages(settings, topics.scans_valid.name)
    assert lag(settings, groups_for(settings).sink, topics.scans_valid.name) == published  # none taken
    sink.send_signal(signal.SIGTERM)
    assert sink.wait(15) == 0, log.read_text()
    text = log.read_text()
    assert "cannot be reached" in text and "Traceback" not in text
