"""Nothing personal in logs: the embedded stack (worker, sink, gateway, web) runs with
traffic (a station's scans, a person's enrolment and signed self check-ins, a guard signed
in with a phone), sign-ins (right and wrong codes, a phone with no account), a case, a
trace in full and the audit trail; then every log file under the data directory and every
service's output (stdout and stderr), and every command's error output, are searched for
the people's names, phone numbers and ID numbers, in any of their written forms. None may
appear. (A command's answer on stdout is the product itself: `ravao trace --with-names`
prints names to the tracer who asked, and is audited; it is not a log.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from conftest import ROOT, run_cli
from gateway_helpers import AREAS, free_port, start_gateway, stop_gateway
from phone_helpers import Phone, enrol, sms_code
from pipeline.kafka_io import produce_all, reliable_producer
from pipeline.keys import load_codec
from pipeline.privacy import mask_phone
from pipeline.registry import Registry
from pipeline.settings import Settings
from pipeline.topics import Topics
from schemas import Case, CaseStatus, VenueCategory
from schemas.ids import new_id
from schemas.registry import DeviceKind
from stream_helpers import start_worker, stop_worker
from test_sink_replay import sink_env

pytestmark = pytest.mark.kafka

PEOPLE = [("Phạm Thị Hồng Nhung", "0934567812", "079301234567"),
          ("Đỗ Quang Khải", "0945671234", "079402345678"),
          ("Vũ Minh Tuấn", "0356781234", "031203456")]
OWNER, STAFF, TRACER, STRANGER = "0961234508", "0971234509", "0381234510", "0391234511"


def forms(phone: str) -> list[str]:
    """How a phone number may be written: 0XXXXXXXXX, +84XXXXXXXXX, 84XXXXXXXXX, and the
    nine digits after the 0 on their own."""
    return [phone, "84" + phone[1:], phone[1:]]


def secrets_of_the_test() -> list[str]:
    words = []
    for name, phone, id_number in PEOPLE:
        words += [name, id_number, *forms(phone)]
        words += [w for w in name.split()[1:] if len(w) >= 4]  # the given names (the family name stays in a mask)
    for phone in (OWNER, STAFF, TRACER, STRANGER):
        words += forms(phone)
    return words


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def start_web(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "web", "--port", str(port)], env=env, cwd=ROOT,
                               stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)

    def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"ravao web exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/session", timeout=3)
        except urllib.error.HTTPError as answer:
            return answer.code == 401
        except OSError:
            return False
        return False

    wait_until(answering, 120, "ravao web to answer")
    return process


def web_code(log: Path, phone: str, after: int) -> str:
    return sms_code(log, mask_phone(phone), after)


def sign_in(http: httpx.Client, log: Path, phone: str) -> None:
    after = log.stat().st_size
    assert http.post("/api/v1/session/code", json={"phone": phone}).status_code == 202
    answer = http.post("/api/v1/session", json={"phone": phone, "code": web_code(log, phone, after)})
    assert answer.status_code == 200, answer.text


def test_no_name_phone_or_id_number_reaches_any_log_or_service_output(
        settings: Settings, topics: Topics, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    web_port = free_port()
    env = sink_env(settings, RAVAO_SESSION_COOKIE_SECURE="false", RAVAO_WEB_PORT=str(web_port))
    codec = load_codec(settings)

    registry = Registry(settings, settings.kafka_bootstrap)
    registry.load_areas(AREAS)
    market = registry.add_venue(name="Chợ Phú Cường", area_id="25741", category=VenueCategory.market,
                                owner_phone=OWNER, staff_phones=[STAFF])
    hospital = registry.add_venue(name="Bệnh viện Phú Cường", area_id="25741", category=VenueCategory.hospital,
                                  owner_phone=OWNER)
    station, token = registry.add_device(venue_id=market.venue_id, kind=DeviceKind.reader_station)
    persons = [registry.add_person(full_name=name, phone=phone, id_number=id_number) for name, phone, id_number
               in PEOPLE]
    registry.close()
    errors = [run_cli("user", "add", "--phone", TRACER, "--role", "tracer", env=env).stderr]
    answers: list[str] = []  # the commands' answers: the product, not logs

    worker = start_worker(settings, "worker", outputs, **{k: v for k, v in env.items() if k.startswith("RAVAO_SINK")})
    sink = subprocess.Popen([sys.executable, "-m", "pipeline", "sink"], env=env, cwd=ROOT, start_new_session=True,
                            stdout=open(outputs / "sink.log", "wb"), stderr=subprocess.STDOUT)
    gateway, base = start_gateway(settings, outputs, RAVAO_SESSION_COOKIE_SECURE="false")
    web = None
    try:
        wait_until(lambda: (settings.data_dir / "sink.json").exists(), 120, "the sink's door")
        web = start_web(env, web_port, outputs / "web.log")
        gateway_log, web_log = outputs / "gateway.log", outputs / "web.log"
        station_auth = {"Authorization": f"Bearer {station.device_id}:{token}"}
        now = datetime.now(timezone.utc)
        with httpx.Client(base_url=base, timeout=30) as gw:
            # A station's scans: everyone in, then out an hour later.
            scans = [{"event_id": str(uuid.uuid4()), "person_qr": codec.encode(p.person_id), "direction": d,
                      "scanned_at": (now - timedelta(hours=h)).isoformat()}
                     for p in persons for d, h in (("in", 2), ("out", 1))]
            answer = gw.post("/api/v1/scans/batch", json={"scans": scans}, headers=station_auth)
            assert answer.status_code == 200, answer.text
            # A person enrols a phone by SMS and checks in with it; a copied card is refused.
            phone = Phone(tmp_path / "phones")
            person_code, venue_code = codec.encode(persons[0].person_id), codec.encode(market.venue_id)
            after = gateway_log.stat().st_size
            assert gw.post("/api/v1/enrolment/code", json={"person_qr": person_code}).status_code == 200
            enrol(gw, phone, person_code, sms_code(gateway_log, mask_phone(PEOPLE[0][1]), after))
            signed = phone.checkin(persons[0].person_id, person_code, market.venue_id, venue_code)
            assert gw.post("/api/v1/checkins", json=signed).json()["status"] == "accepted"
            copied = Phone(tmp_path / "phones").checkin(persons[0].person_id, person_code, market.venue_id,
                                                        venue_code, key_id=phone.key_id)
            assert gw.post("/api/v1/checkins", json=copied).json()["status"] == "refused"
            # A guard signs in with the staff phone and scans; a stranger's phone gets no code.
            after = gateway_log.stat().st_size
            assert gw.post("/api/v1/session/code", json={"phone": STAFF}).status_code == 202
            assert gw.post("/api/v1/session/code", json={"phone": STRANGER}).status_code == 202
            session = gw.post("/api/v1/session", json={"phone": STAFF, "code": sms_code(
                gateway_log, mask_phone(STAFF), after)})
            assert session.status_code == 200, session.text
            guard_scan = {"event_id": str(uuid.uuid4()), "person_qr": codec.encode(persons[1].person_id),
                          "direction": "in"}
            scanned = gw.post("/api/v1/scans", json=guard_scan)
            assert scanned.status_code == 200 and scanned.json()["status"] == "accepted", scanned.text
            assert gw.post("/api/v1/session", json={"phone": STRANGER, "code": "000000"}).status_code == 401

        # A case, registered on its topic.
        case = Case(case_id=new_id("C"), person_id=persons[0].person_id, status=CaseStatus.confirmed,
                    onset=now.date(), registered_by="test")
        producer = reliable_producer(settings.kafka_bootstrap)
        produce_all(producer, topics.cases.name, [(case.case_id.encode(), case.to_bytes())])
        del producer

        with httpx.Client(base_url=f"http://127.0.0.1:{web_port}", timeout=60) as http:
            sign_in(http, web_log, OWNER)
            feed = wait_until(lambda: http.get(f"/api/v1/venues/{market.venue_id}/visits",
                                               params={"from": "now-1d"}).json().get("rows"), 120,
                              "the market's visits in the warehouse")
            assert all("*" in row["full_name"] for row in feed)
            assert http.get(f"/api/v1/venues/{hospital.venue_id}/inside").status_code == 200
            http.delete("/api/v1/session")
            after = web_log.stat().st_size
            assert http.post("/api/v1/session/code", json={"phone": TRACER}).status_code == 202
            code = web_code(web_log, TRACER, after)
            wrong = "000000" if code != "000000" else "111111"
            assert http.post("/api/v1/session", json={"phone": TRACER, "code": wrong}).status_code == 401
            assert http.post("/api/v1/session", json={"phone": TRACER, "code": code}).status_code == 200
            # Once the sink has landed the case, the tracer may name it.
            wait_until(lambda: http.get(f"/api/v1/trace/{persons[0].person_id}", params={
                "case": case.case_id, "from": "now-1d", "min_overlap": "1s", "names": "true"}).status_code == 200,
                60, "the case in the warehouse")
            assert http.get(f"/api/v1/persons/{persons[0].person_id}/visits", params={"case": case.case_id}
                            ).status_code == 200
        for args in (["trace", persons[0].person_id, "--from", "now-1d", "--min-overlap", "1s", "--with-names",
                      "--case", case.case_id, "--format", "csv"], ["audit"], ["user", "list"], ["sql", "person_visits", "-p",
                      f"person={persons[1].person_id}", "-p", "from=now-1d", "-p", "to=now"]):
            done = run_cli(*args, env=env)
            errors.append(done.stderr)
            answers.append(done.stdout)
    finally:
        if web is not None and web.poll() is None:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(60)
        stop_gateway(gateway)
        stop_worker(worker)
        stop_worker(sink)

    texts = {path: path.read_text(errors="replace") for path in [*outputs.iterdir(),
                                                                 *(settings.data_dir / "logs").glob("**/*")]
             if path.is_file()}
    texts.update({Path(f"stderr of command {i}"): text for i, text in enumerate(errors)})
    assert any("SMS to " in text for text in texts.values()), "the console sender wrote nothing: nothing tested"
    found = {(str(path), word) for path, text in texts.items() for word in secrets_of_the_test() if word in text}
    assert not found, f"personal data in logs: {sorted(found)}"
    assert {"worker.log", "sink.log", "gateway.log", "web.log"} <= {path.name for path in texts}
    # The search finds what it looks for: a tracer's own answer holds the names in full.
    assert PEOPLE[2][0] in answers[0] and PEOPLE[2][1] in answers[0] and PEOPLE[2][2] in answers[0]
