"""`ravao demo` on the embedded default: within two minutes the warehouse shows visits and
tier counts, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from conftest import ROOT, TEST_QR_KEYS
from pipeline.kafka_local import process_alive
from pipeline.settings import Settings
from pipeline.warehouse.connect import running_sink
from pipeline.warehouse.queries import load, run

pytestmark = pytest.mark.kafka


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_demo_fills_the_warehouse_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    ports = {name: str(free_port()) for name in ("RAVAO_WORKER_PORT", "RAVAO_SINK_PORT", "RAVAO_GATEWAY_PORT", "RAVAO_WEB_PORT")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAVAO_")}
    env.update(RAVAO_DATA_DIR=str(tmp_path), RAVAO_QR_KEYS=TEST_QR_KEYS, RAVAO_TOPIC_PARTITIONS="3",
               RAVAO_PUBLIC_URL=f"http://127.0.0.1:{ports['RAVAO_GATEWAY_PORT']}", **ports)
    demo = subprocess.Popen([sys.executable, "-m", "pipeline", "demo", "--people", "200", "--communes", "4",
                             "--speed", "0", "--case-after", "5"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    settings = Settings(data_dir=tmp_path, sink_port=int(ports["RAVAO_SINK_PORT"]))
    found: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (found.get("visits") and found.get("scans")):
            assert demo.poll() is None, demo.stdout.read().decode()
            time.sleep(2)
            warehouse = running_sink(settings)
            if warehouse is None:
                continue
            found["visits"] = warehouse.query("SELECT count() FROM visits FINAL WHERE NOT deleted").scalar()
            today = date.today()
            rows = run(warehouse, load("tier_counts"), {"area": "74", "from_day": str(today - timedelta(days=1)),
                                                        "to_day": str(today)}).dicts()
            found["scans"] = rows[0]["scans"] if rows else 0
        assert found.get("visits", 0) > 0 and found.get("scans", 0) > 0, found
        # The demo registers a case; the alerting job flags the venues it visited.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not found.get("alerts"):
            assert demo.poll() is None, demo.stdout.read().decode()
            time.sleep(2)
            warehouse = running_sink(settings)
            if warehouse is not None:
                found["alerts"] = warehouse.query("SELECT count() FROM alerts WHERE kind = 'venue'").scalar()
        assert found.get("alerts", 0) > 0, found
        pids = json.loads((tmp_path / "stack.json").read_text())
        assert {"kafka", "worker", "sink", "gateway", "web", "alerts"} <= set(pids)
    finally:
        demo.send_signal(signal.SIGINT)
        output = demo.communicate(timeout=90)[0].decode()
    assert "stopped; data kept" in output, output[-2000:]
    left = [name for name, pid in pids.items() if process_alive(pid)]
    assert not left, f"still running after Ctrl-C: {left}"
