"""`ravao up`: a service that dies is started again with a growing pause and the terminal
says so; every service stops within its grace on Ctrl-C; the data directory is the
service user's alone."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, TEST_QR_KEYS
from pipeline.kafka_local import process_alive
from pipeline.private_files import make_private, open_entries
from pipeline.settings import Settings
from pipeline.stack import RESTART_FIRST_DELAY, RESTART_MAX_DELAY, STABLE_AFTER, Service, Stack
from test_demo import free_port


def failing_service(stack: Stack, name: str = "flaky") -> Service:
    service = Service(name, [sys.executable, "-c", "import sys; sys.exit(3)"])
    stack._launch(service)
    stack.services.append(service)
    service.process.wait(10)
    return service


def test_it_restarts_a_failed_service_with_a_doubling_pause(tmp_path: Path) -> None:
    stack = Stack(Settings(data_dir=tmp_path))
    service = failing_service(stack)
    now = service.started_at + 0.5
    pauses = []
    for _ in range(9):
        said = stack.supervise(now)
        assert said and "flaky exited with status 3" in said[0] and "starting it again" in said[0], said
        pauses.append(service.restart_at - now)
        assert stack.supervise(service.restart_at - 0.01) == [], "started again before its pause was over"
        said = stack.supervise(service.restart_at)
        assert said == [f"flaky started again (restart {len(pauses)})"]
        service.process.wait(10)
        now = service.started_at + 0.5
    assert pauses[:4] == [RESTART_FIRST_DELAY, 2 * RESTART_FIRST_DELAY, 4 * RESTART_FIRST_DELAY,
                          8 * RESTART_FIRST_DELAY]
    assert max(pauses) == RESTART_MAX_DELAY
    assert json.loads((tmp_path / "stack.json").read_text())["flaky"] == service.process.pid


def test_a_service_that_ran_for_a_while_is_restarted_after_the_first_pause_again(tmp_path: Path) -> None:
    stack = Stack(Settings(data_dir=tmp_path))
    service = failing_service(stack)
    service.failures = 6  # it had been failing for a while, then ran fine
    stack.supervise(service.started_at + STABLE_AFTER + 1)
    assert service.restart_at - (service.started_at + STABLE_AFTER + 1) == RESTART_FIRST_DELAY


STUBBORN_CHILD = """
import signal, subprocess, sys, time
# A child of the service's that ignores SIGTERM and outlives the service.
subprocess.Popen([sys.executable, "-c", "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                  "open(sys.argv[1], 'w').close(); time.sleep(600)", sys.argv[1]])
time.sleep(600) if sys.argv[2] == "stay" else None
"""


@pytest.mark.parametrize("leader", ["stay", "exit"])
def test_stopping_a_service_stops_every_process_it_started(tmp_path: Path, leader: str) -> None:
    from pipeline.process_groups import group_members

    stack = Stack(Settings(data_dir=tmp_path))
    ready = tmp_path / "child-ready"
    service = Service("spawner", [sys.executable, "-c", STUBBORN_CHILD, str(ready), leader])
    stack._launch(service)
    stack.services.append(service)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.05)
        if leader == "exit":  # the service is gone (a restart would be due); its child is not
            service.process.wait(10)
            stack.supervise()
        assert len(group_members(service.process.pid)) >= 1
        stack.stop(grace=1.0)
        assert group_members(service.process.pid) == [], "a process the service started outlived the stop"
    finally:
        if group_members(service.process.pid):
            os.killpg(service.process.pid, signal.SIGKILL)


def test_make_private_takes_group_and_other_bits_off_everything_below(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "warehouse" / "store").mkdir(parents=True)
    (data / "warehouse" / "store").chmod(0o755)
    for name in ("demo-truth.jsonl", "warehouse/store/part.bin"):
        (data / name).write_text("x")
        (data / name).chmod(0o644)
    (data / "link").symlink_to("/etc/hostname")
    assert len(open_entries(data)) >= 4
    assert make_private(data) >= 4
    assert open_entries(data) == []
    assert stat.S_IMODE((data / "demo-truth.jsonl").stat().st_mode) == 0o600
    assert stat.S_IMODE(Path("/etc/hostname").stat().st_mode) & 0o044, "a symlink's target was changed"


@pytest.mark.kafka
def test_ravao_up_restarts_a_killed_service_keeps_data_private_and_stops_in_time(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    left_open = data / "demo-truth.jsonl"  # as an older version left it
    left_open.write_text("{}\n")
    left_open.chmod(0o644)
    ports = {name: str(free_port()) for name in ("RAVAO_WORKER_PORT", "RAVAO_SINK_PORT", "RAVAO_GATEWAY_PORT", "RAVAO_WEB_PORT")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAVAO_")}
    env.update(RAVAO_DATA_DIR=str(data), RAVAO_QR_KEYS=TEST_QR_KEYS, RAVAO_TOPIC_PARTITIONS="3",
               RAVAO_PUBLIC_URL=f"http://127.0.0.1:{ports['RAVAO_GATEWAY_PORT']}", **ports)
    up = subprocess.Popen([sys.executable, "-m", "pipeline", "up"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    pids: dict[str, int] = {}
    try:
        pids = wait_for_stack(data, up, {"kafka", "worker", "sink", "gateway", "web", "alerts"})
        wait_until(lambda: (data / "sink.json").exists() and (data / "warehouse").exists(), up, 90)
        os.killpg(pids["worker"], signal.SIGKILL)
        wait_until(lambda: stack_pids(data).get("worker") not in (None, pids["worker"]), up, 30)
        pids["worker_again"] = stack_pids(data)["worker"]
        assert process_alive(pids["worker_again"])
        assert all(process_alive(pids[name]) for name in ("kafka", "sink", "gateway", "web", "alerts")), "a death spread"
        assert open_entries(data) == [], "readable by others: " + ", ".join(map(str, open_entries(data)[:10]))
    finally:
        up.send_signal(signal.SIGINT)
        started = time.monotonic()
        output = up.communicate(timeout=120)[0].decode()
        took = time.monotonic() - started
    assert "worker exited with status" in output and "worker started again (restart 1)" in output, output[-3000:]
    assert "did not stop within" not in output, output[-3000:]
    assert "stopped; data kept" in output, output[-3000:]
    left = [name for name, pid in pids.items() if process_alive(pid)]
    assert not left, f"still running after Ctrl-C: {left}"
    # Three services and the broker, each within its grace; generous for a loaded machine.
    assert took < 60, f"stopping took {took:.0f}s"


def stack_pids(data: Path) -> dict[str, int]:
    try:
        return json.loads((data / "stack.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_until(condition, up: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert up.poll() is None, "ravao up exited: " + up.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def wait_for_stack(data: Path, up: subprocess.Popen, names: set[str]) -> dict[str, int]:
    wait_until(lambda: names <= set(stack_pids(data)), up, 120)
    return stack_pids(data)
