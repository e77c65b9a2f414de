"""`ravao gateway` on several processes (RAVAO_GATEWAY_WORKERS, uvicorn workers on one
port): it starts, each process serves, and SIGTERM stops them all, with nothing left."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from conftest import TEST_QR_KEYS
from gateway_helpers import register, start_gateway, stop_gateway, wait_published
from pipeline.kafka_io import ensure_topics
from pipeline.settings import Settings
from pipeline.topics import topics_for

pytestmark = pytest.mark.kafka


def group_members(group: int) -> list[int]:
    """Live processes of a process group (the gateway starts its own)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_two_workers_start_serve_and_stop_with_nothing_left(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"w{uuid.uuid4().hex[:10]}.",
                        topic_partitions=3, data_dir=tmp_path / "data", qr_keys=TEST_QR_KEYS)
    ensure_topics(kafka_bootstrap, topics_for(settings).all())
    stack = register(settings)
    process, base = start_gateway(settings, tmp_path, RAVAO_GATEWAY_WORKERS="2")
    try:
        # The supervisor and its two workers; each worker answers once it is ready.
        deadline = time.monotonic() + 120
        while len(group_members(process.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(group_members(process.pid)) >= 3
        event_ids = set()
        for i in range(20):  # a new connection each: the kernel hands them to either worker
            body = {"event_id": str(uuid.uuid4()), "person_qr": stack.codes[i % len(stack.codes)]}
            while True:
                with httpx.Client(base_url=base, timeout=30) as http:
                    response = http.post("/api/v1/scans", json=body, headers=stack.bearer(stack.station))
                if response.status_code != 503:  # a worker still loading the registry says so
                    break
                time.sleep(0.5)
            assert response.status_code == 200, response.text
            event_ids.add(body["event_id"])
        assert set(wait_published(settings, event_ids)) == event_ids
    finally:
        members = group_members(process.pid)
        assert stop_gateway(process) == 0
    # Every process of the gateway ended: the workers, and multiprocessing's resource
    # tracker (which ends after its parent, so that init reaps it).
    assert group_members(process.pid) == []
    assert [pid for pid in members if alive(pid)] == []
    log = (tmp_path / "gateway.log").read_text()
    assert "Traceback" not in log, log[-3000:]
