"""Scans submitted twice through the gateway (a retry after a lost answer) are published
twice and end as one event downstream: a real `ravao worker` drops the second copy."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from conftest import run_cli, settings_env
from gateway_helpers import published, register, start_gateway, stop_gateway
from phone_helpers import Phone, enrol_with_a_guard
from pipeline.settings import Settings
from pipeline.topics import Topics
from stream_helpers import latest_visits, settle, start_worker, stop_worker, visit_records, wait_for


@pytest.mark.kafka
def test_a_batch_and_a_check_in_sent_twice_are_counted_once(settings: Settings, topics: Topics,
                                                             tmp_path: Path) -> None:
    stack = register(settings)
    gateway, base = start_gateway(settings, tmp_path)
    worker = None
    try:
        start = (datetime.now(timezone.utc) - timedelta(hours=3)).replace(microsecond=0)
        station_scans = []
        for i, code in enumerate(stack.codes[:2]):
            t_in = start + timedelta(minutes=10 * i)
            station_scans += [
                {"event_id": str(uuid.uuid4()), "person_qr": code, "direction": "in", "scanned_at": t_in.isoformat()},
                {"event_id": str(uuid.uuid4()), "person_qr": code, "direction": "out",
                 "scanned_at": (t_in + timedelta(minutes=30)).isoformat()},
            ]
        # A self check-in is signed by the person's enrolled phone, and never dated before
        # the enrolment (give or take RAVAO_GATEWAY_SELF_CLOCK_SKEW_SECONDS).
        recent = (datetime.now(timezone.utc) - timedelta(minutes=3)).replace(microsecond=0)
        phone = Phone(tmp_path / "phone")
        with httpx.Client(base_url=base, timeout=60) as http:
            enrol_with_a_guard(http, stack.bearer(stack.guard), phone, stack.codes[2])
        checkins = [phone.checkin(stack.persons[2], stack.codes[2], stack.market, stack.market_code, direction,
                                  scanned_at=recent + timedelta(minutes=minutes))
                    for direction, minutes in (("in", 0), ("out", 2))]
        with httpx.Client(base_url=base, timeout=60, headers=stack.bearer(stack.station)) as http:
            for _ in range(2):  # the retry of a batch whose answer was lost
                response = http.post("/api/v1/scans/batch", json={"scans": station_scans})
                assert response.status_code == 200 and response.json()["accepted"] == 4, response.text
                for checkin in checkins:
                    assert http.post("/api/v1/checkins", json=checkin).json()["status"] == "accepted"
        sent = [str(s.event_id) for _, s in published(settings)]
        assert len(sent) == 12 and len(set(sent)) == 6  # "simply published again"

        worker = start_worker(settings, "w1", tmp_path)
        settle(settings, [worker], tmp_path)
        visits = [v for v in latest_visits(visit_records(settings, topics.visits.name)).values() if not v.deleted]
        got = sorted((v.person_id, v.venue_id, v.t_in, v.t_out, v.exit_how.value) for v in visits)
        expected = sorted(
            [(stack.persons[i], stack.market, start + timedelta(minutes=10 * i),
              start + timedelta(minutes=10 * i + 30), "scan") for i in range(2)]
            + [(stack.persons[2], stack.market, recent, recent + timedelta(minutes=2), "scan")])
        assert got == expected

        def counted_once() -> bool:
            stats = json.loads(run_cli("stats", "--json", env=settings_env(settings)).stdout)
            return stats.get("scans_duplicate") == 6 and stats.get("scans_paired") == 6

        wait_for(counted_once, 60, "the worker's counters: 6 duplicates dropped, 6 scans paired", [worker], tmp_path)
    finally:
        if worker is not None:
            stop_worker(worker)
        stop_gateway(gateway)
