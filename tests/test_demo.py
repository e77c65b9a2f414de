"""`ravao demo` on the embedded default, its output to a pipe (as in a log): within two
minutes the warehouse shows visits and tier counts and the case's alerts; it prints a
sign-in per role that really signs in (the code read from the web's log), adds those
accounts once, prints plain summary lines (no live view off a terminal), and Ctrl-C
leaves no process behind, children of its children included."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from conftest import ROOT, TEST_QR_KEYS
from pipeline.kafka_local import bootstrap_servers, process_alive
from pipeline.privacy import mask_phone
from pipeline.process_groups import descendants, processes
from pipeline.settings import Settings
from pipeline.topics import topics_for
from pipeline.warehouse.connect import running_sink
from pipeline.warehouse.queries import load, run

pytestmark = pytest.mark.kafka

PEOPLE, COMMUNES, SEED = 200, 4, 2021
SIGN_IN_ROW = re.compile(r"^(?P<who>.+?)\s{2,}(?P<phone>0\d{9})\s{2,}(?P<url>http://\S+)\s{2,}in the log as 'SMS to (?P<masked>\S+)'$")
PLAIN_LINE = re.compile(r"^\d\d:\d\d:\d\d stream: [\d,]+ scans accepted .* \| tiers 74: [\d,]+ venues, .* \| alerts: ")


def end_offsets(bootstrap: str, topic: str, partitions: int) -> list[int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-demo-offsets"})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1] for p in range(partitions)]
    finally:
        consumer.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Output:
    """The demo's output, read as it comes (a pipe: not a terminal)."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        for raw in process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)

    def join(self) -> str:
        self._thread.join(30)
        return self.text()


def wait_for(condition, demo: subprocess.Popen, output: Output, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        assert demo.poll() is None, output.text()[-3000:]
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f}s:\n" + output.text()[-3000:]
        time.sleep(1)


def code_in_log(log: Path, masked: str) -> str | None:
    if not log.exists():
        return None
    found = re.findall(rf"SMS to {re.escape(masked)}: ravao: (\d{{6}}) is your sign-in code", log.read_text())
    return found[-1] if found else None


def sign_in_with_the_printed_rows(rows: list[dict], web: str, log: Path, demo,
                                  output) -> tuple[dict[str, list[dict]], dict[str, httpx.Cookies]]:
    """Each printed phone asks for a code, finds it in the web's log, and signs in: the
    grants and the session cookies of each."""
    grants, sessions = {}, {}
    for row in rows:
        with httpx.Client(base_url=web, timeout=10) as client:
            assert client.post("/api/v1/session/code", json={"phone": row["phone"]}).status_code == 202
            code = wait_for(lambda: code_in_log(log, row["masked"]), demo, output, 30, f"code for {row['who']}")
            answer = client.post("/api/v1/session", json={"phone": row["phone"], "code": code})
            assert answer.status_code == 200, (row["who"], answer.text)
            grants[row["who"]], sessions[row["who"]] = answer.json()["grants"], client.cookies
    return grants, sessions


def every_page_shows_data(web: str, sessions: dict[str, httpx.Cookies], pages: dict[str, str], demo,
                          output) -> None:
    """Each role's page, as printed beside its sign-in (``pages``), with the demo's data on it:
    counts on the tier pages, the venue's feed, the case and its contacts in the tracing
    console, the pipeline on the operations page."""
    roles = {who.split(" (")[0]: who for who in sessions}

    def page(who: str, path: str) -> str:
        answer = httpx.get(web + path, cookies=sessions[roles.get(who, who)], timeout=30, follow_redirects=True)
        assert answer.status_code == 200, (who, path, answer.status_code, answer.text[:500])
        return answer.text

    for who, path in pages.items():
        role = who.split(" (")[0]
        if role.endswith("officer"):
            figures = re.search(r'data-count="scans"><span class="value">([\d.]+)', page(who, path))
            assert figures and int(figures.group(1).replace(".", "")) > 0, who
        elif role == "venue owner":
            venue = page(who, path)
            assert 'id="feed"' in venue and '<ul id="staff"' in venue, who
    case = wait_for(lambda: re.search(r'data-case="(C[B-X]{14})"', page("tracer", "/")), demo, output, 60,
                    "the demo's case in the tracing console")
    wait_for(lambda: 'data-visit="' in page("tracer", f"/trace/cases/{case.group(1)}")
             and 'id="f1"' in page("tracer", f"/trace/cases/{case.group(1)}"), demo, output, 60,
             "the case's visits and contacts")
    wait_for(lambda: all(f'<table id="{t}"' in page("admin", "/ops") for t in ("consumer-lag", "sink")), demo,
             output, 30, "the consumer lag and the sink's progress on the operations page")


def test_the_demo_fills_the_warehouse_signs_in_every_role_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    ports = {name: str(free_port()) for name in ("RAVAO_WORKER_PORT", "RAVAO_SINK_PORT", "RAVAO_GATEWAY_PORT", "RAVAO_WEB_PORT")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAVAO_")}
    env.update(RAVAO_DATA_DIR=str(tmp_path), RAVAO_QR_KEYS=TEST_QR_KEYS, RAVAO_TOPIC_PARTITIONS="3",
               RAVAO_PUBLIC_URL=f"http://127.0.0.1:{ports['RAVAO_GATEWAY_PORT']}",
               RAVAO_ALERTS_HEARTBEAT_FILE=str(tmp_path / "alerts.alive"), **ports)
    demo = subprocess.Popen([sys.executable, "-m", "pipeline", "demo", "--people", str(PEOPLE), "--communes",
                             str(COMMUNES), "--seed", str(SEED), "--speed", "0", "--case-after", "5"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = Output(demo)
    settings = Settings(data_dir=tmp_path, sink_port=int(ports["RAVAO_SINK_PORT"]))
    web = f"http://127.0.0.1:{ports['RAVAO_WEB_PORT']}"
    found: dict[str, int] = {}
    pids: dict[str, int] = {}
    below = []
    try:
        def warehouse_filled() -> bool:
            warehouse = running_sink(settings)
            if warehouse is None:
                return False
            found["visits"] = warehouse.query("SELECT count() FROM visits FINAL WHERE NOT deleted").scalar()
            today = date.today()
            rows = run(warehouse, load("tier_counts"), {"area": "74", "from_day": str(today - timedelta(days=1)),
                                                        "to_day": str(today)}).dicts()
            found["scans"] = rows[0]["scans"] if rows else 0
            return found["visits"] > 0 and found["scans"] > 0

        wait_for(warehouse_filled, demo, output, 120, "visits and tier counts")

        def alerts_flagged() -> bool:  # the demo registers a case; the alerting job flags its venues
            warehouse = running_sink(settings)
            return warehouse is not None and warehouse.query("SELECT count() FROM alerts WHERE kind = 'venue'").scalar() > 0

        wait_for(alerts_flagged, demo, output, 90, "venue alert")

        # The sign-in table: one row per role, each phone really signs in with the role printed.
        wait_for(lambda: "sign-in accounts ready (5 added)" in output.text(), demo, output, 60, "accounts")
        rows = [m.groupdict() for m in map(SIGN_IN_ROW.match, output.lines) if m]
        assert [r["who"].split(" (")[0] for r in rows] == [
            "provincial officer", "district officer", "commune officer", "venue owner", "tracer", "admin"], output.text()
        assert all(r["masked"] == mask_phone(r["phone"]) for r in rows)
        assert {r["url"].removeprefix(web).rsplit("/", 1)[0] for r in rows} == {"/areas", "/venues", ""}, rows
        assert f"find the code in {tmp_path / 'logs' / 'web.log'}" in output.text()
        grants, sessions = sign_in_with_the_printed_rows(rows, web, tmp_path / "logs" / "web.log", demo, output)
        pages = {r["who"]: r["url"].removeprefix(web) for r in rows}
        for who, grant in grants.items():
            role = {"provincial officer": "area_officer", "district officer": "area_officer",
                    "commune officer": "area_officer", "venue owner": "venue_owner"}.get(who.split(" (")[0], who)
            assert [g["role"] for g in grant] == [role], (who, grant)
            where = grant[0].get("area_id") or grant[0].get("venue_id")
            assert where is None or pages[who].split("?")[0].endswith("/" + where), (who, grant, pages[who])

        every_page_shows_data(web, sessions, pages, demo, output)

        # Run again (as a restarted demo does), the accounts are there: nothing is published.
        from pipeline.cli.demo_sign_in import demo_sign_ins, ensure_accounts

        bootstrap = bootstrap_servers(settings)
        accounts = topics_for(settings).accounts
        before = end_offsets(bootstrap, accounts.name, accounts.partitions)
        assert sum(before) >= 5
        assert ensure_accounts(settings, bootstrap, demo_sign_ins(SEED, PEOPLE, COMMUNES)) == 0
        assert end_offsets(bootstrap, accounts.name, accounts.partitions) == before

        # The compose file's health checks, against the demo's web and alerting job.
        for check in ("web", "alerts"):
            ran = subprocess.run([sys.executable, "deploy/healthcheck.py", check], env={**env, "PYTHONPATH": str(ROOT)},
                                 cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert ran.returncode == 0, (check, ran.stderr)

        # Off a terminal the summary is plain lines (the live view would print nothing).
        wait_for(lambda: any(PLAIN_LINE.match(line) for line in output.lines), demo, output, 30, "plain summary line")

        pids = json.loads((tmp_path / "stack.json").read_text())
        assert {"kafka", "worker", "sink", "gateway", "web", "alerts"} <= set(pids)
        below = descendants(demo.pid)
        assert {pids[name] for name in ("kafka", "worker", "sink", "web", "alerts")} <= {p.pid for p in below}
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(90)
        finally:
            text = output.join()
    assert "stopped; data kept" in text, text[-2000:]
    left = [name for name, pid in pids.items() if process_alive(pid)]
    assert not left, f"still running after Ctrl-C: {left}"
    # Nothing below the demo survives: no process it started (the same pid and start time),
    # and nothing in the sessions its services ran in (whatever they started themselves).
    started = {(p.pid, p.started) for p in below}
    sessions = {p.sid for p in below if p.sid == p.pid}
    survivors = [p for p in processes() if (p.pid, p.started) in started or p.sid in sessions]
    assert not survivors, f"still running after Ctrl-C: {survivors}"
