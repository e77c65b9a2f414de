"""Running `ravao gateway` as a user would (a subprocess on a free loopback port) over a
small registry, and reading back what it published to the real broker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from conftest import ROOT, settings_env
from pipeline.kafka_io import produce_all, read_to_end, reliable_producer
from pipeline.keys import load_codec
from pipeline.registry import Registry
from pipeline.settings import Settings
from pipeline.topics import topics_for
from schemas.qrcode import QrCodec
from schemas.registry import Area, Device, DeviceKind, GateMode, VenueCategory
from schemas.envelopes import unpack
from schemas.scans import RawScan

OWNER = "0981234791"
AREAS = [
    Area(area_id="74", name="Bình Dương", tier="province", level=0, path=("74",)),
    Area(area_id="718", name="Thủ Dầu Một", tier="district", level=1, parent_id="74", path=("74", "718")),
    Area(area_id="25741", name="Phú Cường", tier="commune", level=2, parent_id="718", path=("74", "718", "25741")),
]
NAMES = ["Nguyễn Văn An", "Trần Thị Bích", "Lê Hoàng Cường"]
TEXTED = 3  # the index of the person with a phone number on record


@dataclass
class Stack:
    """A venue with a guard phone (entry gate) and a station (auto), a privileged hospital
    with a guard phone, a deactivated device, and three people with their codes."""

    settings: Settings
    codec: QrCodec
    market: str = ""
    hospital: str = ""
    market_code: str = ""
    guard: tuple[str, str] = ("", "")  # (device id, token), entry gate at the market
    station: tuple[str, str] = ("", "")  # auto, at the market
    hospital_guard: tuple[str, str] = ("", "")
    inactive: tuple[str, str] = ("", "")
    spare: tuple[str, str] = ("", "")  # a station for tests that exhaust its rate
    # The first three have no phone number on record (they enrol with a guard, who checks
    # their ID); the last, TEXTED, has OWNER's (enrols by SMS, never with a guard).
    persons: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)

    def bearer(self, device: tuple[str, str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {device[0]}:{device[1]}"}


def register(settings: Settings) -> Stack:
    registry = Registry(settings, settings.kafka_bootstrap)
    registry.load_areas(AREAS)
    stack = Stack(settings, load_codec(settings))
    market = registry.add_venue(name="Chợ Thủ Dầu Một", area_id="25741", category=VenueCategory.market,
                                owner_phone=OWNER)
    hospital = registry.add_venue(name="Bệnh viện Đa khoa", area_id="25741", category=VenueCategory.hospital,
                                  owner_phone=OWNER)
    stack.market, stack.hospital = market.venue_id, hospital.venue_id
    stack.market_code = stack.codec.encode(market.venue_id)
    device, token = registry.add_device(venue_id=market.venue_id, kind=DeviceKind.guard_phone, mode=GateMode.entry,
                                        phone=OWNER, label="cổng chính")
    stack.guard = (device.device_id, token)
    device, token = registry.add_device(venue_id=market.venue_id, kind=DeviceKind.reader_station)
    stack.station = (device.device_id, token)
    device, token = registry.add_device(venue_id=hospital.venue_id, kind=DeviceKind.guard_phone, phone=OWNER)
    stack.hospital_guard = (device.device_id, token)
    device, token = registry.add_device(venue_id=market.venue_id, kind=DeviceKind.reader_station)
    stack.inactive = (device.device_id, token)
    spare, spare_token = registry.add_device(venue_id=market.venue_id, kind=DeviceKind.reader_station)
    stack.spare = (spare.device_id, spare_token)
    deactivated = Device(**{**device.model_dump(), "active": False})
    produce_all(reliable_producer(settings.kafka_bootstrap), topics_for(settings).devices.name,
                [(device.device_id.encode(), deactivated.to_bytes())])
    for name in NAMES:
        person = registry.add_person(full_name=name)
        stack.persons.append(person.person_id)
        stack.codes.append(stack.codec.encode(person.person_id))
    texted = registry.add_person(full_name="Hoàng Văn Em", phone=OWNER)
    stack.persons.append(texted.person_id)
    stack.codes.append(stack.codec.encode(texted.person_id))
    registry.close()
    return stack


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gateway(settings: Settings, log_dir: Path, name: str = "gateway", port: int | None = None,
                  loglevel: str = "warning", **env: str) -> tuple[subprocess.Popen, str]:
    """A `ravao gateway` subprocess; returns it and its base URL once /healthz says ready.
    ``port``: a fixed one (a gateway restarted where its clients expect it); else a free one."""
    port = port or free_port()
    environment = settings_env(settings)
    environment.update({"RAVAO_GATEWAY_PORT": str(port), **env})
    log = open(log_dir / f"{name}.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "gateway", "--loglevel", loglevel],
                               env=environment, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the gateway exited ({process.returncode}):\n"
                                 f"{(log_dir / f'{name}.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
                if json.loads(response.read())["ready"]:
                    return process, base
        except OSError:
            pass
        time.sleep(0.3)
    stop_gateway(process)
    raise AssertionError("the gateway did not become ready within 120s")


def stop_gateway(process: subprocess.Popen, timeout: float = 60) -> int:
    """SIGTERM, as a service manager stops it; 0 for a clean stop. (uvicorn shuts down
    gracefully, then re-raises the signal, so a clean stop reports -SIGTERM.)"""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.wait(timeout)
    return 0 if code == -signal.SIGTERM else code


def published(settings: Settings) -> list[tuple[str, RawScan]]:
    """(person id, scan) of every scan on scans.raw, each scan of an envelope on its own
    (its person: the key of a message of one scan, the scan's code in an envelope)."""
    topic = topics_for(settings).scans_raw.name
    found = []
    for key, value, _, _ in read_to_end(settings.kafka_bootstrap, topic):
        records = unpack(value)
        for record in records:
            scan = RawScan.from_bytes(record)
            found.append((key.decode() if len(records) == 1 else person_of(settings, scan), scan))
    return found


def person_of(settings: Settings, scan: RawScan) -> str:
    return load_codec(settings).decode(scan.person_qr, expect="P").entity_id


def wait_published(settings: Settings, event_ids: set[str], timeout: float = 60) -> dict[str, tuple[str, RawScan]]:
    """The published scans with these event ids, once all are on the topic."""
    deadline = time.monotonic() + timeout
    while True:
        found = {str(s.event_id): (k, s) for k, s in published(settings) if str(s.event_id) in event_ids}
        if set(found) == event_ids or time.monotonic() > deadline:
            return found
        time.sleep(0.5)
