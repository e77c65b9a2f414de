"""A scripted day for the stream tests: venues, stations and people, the raw scans their
day produces, and the visits those scans must give, worked out here from the plan of the
day by the rules in the README (not by the pairing code).

The day lies 40 to 20 hours before now: within the accepted lateness, and far enough
back that every visit has ended by the wall clock (stays are at most 12 hours).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from schemas.ids import new_id
from schemas.qrcode import QrCodec
from schemas.registry import STAYS, Device, DeviceKind, GateMode, Person, Venue, VenueCategory

from pipeline.kafka_io import produce_all, reliable_producer
from pipeline.registry import token_hash
from pipeline.topics import Topics

CATEGORIES = [VenueCategory.factory, VenueCategory.market, VenueCategory.hospital, VenueCategory.shop,
              VenueCategory.office, VenueCategory.restaurant]
COMMUNES = [("74", "718", "25741"), ("74", "718", "25744"), ("74", "719", "25777")]


@dataclass
class Plan:
    venue: Venue
    t_in: datetime
    t_out: datetime
    scan_entry: bool = True
    scan_exit: bool = True


@dataclass
class Day:
    venues: list[Venue]
    devices: list[Device]
    persons: list[Person]
    # (device id, raw bytes): what stations and phones send, in the order they send it
    scans: list[tuple[str, bytes]] = field(default_factory=list)
    late: list[tuple[str, bytes]] = field(default_factory=list)  # a station that was offline
    forged: int = 0
    # (person, venue, t_in, t_out, entry_how, exit_how)
    expected: set[tuple] = field(default_factory=set)

    def publish(self, bootstrap: str, topics: Topics, codec_keys: str | None = None) -> None:
        producer = reliable_producer(bootstrap)
        produce_all(producer, topics.venues.name, [(v.venue_id.encode(), v.to_bytes()) for v in self.venues])
        produce_all(producer, topics.devices.name, [(d.device_id.encode(), d.to_bytes()) for d in self.devices])
        produce_all(producer, topics.persons.name, [(p.person_id.encode(), p.to_bytes()) for p in self.persons])

    def expected_visits(self) -> set[tuple]:
        return self.expected


def _scan(codec: QrCodec, person: str, at: datetime, *, device: Device | None = None, venue: Venue | None = None,
          direction: str = "auto", event_id: uuid.UUID | None = None) -> bytes:
    body = {"event_id": str(event_id or uuid.uuid4()), "person_qr": codec.encode(person), "direction": direction,
            "scanned_at": at.isoformat()}
    if device is not None:
        body.update(source="station", device_id=device.device_id)
    else:
        body.update(source="self", venue_qr=codec.encode(venue.venue_id))
    return json.dumps(body).encode()


def scripted_day(codec: QrCodec, persons: int = 300, seed: int = 20211025, now: datetime | None = None) -> Day:
    rng = random.Random(seed)
    now = now or datetime.now(timezone.utc)
    day_start = (now - timedelta(hours=40)).replace(microsecond=0)
    venues = []
    for i, category in enumerate(CATEGORIES * 2):
        default, maximum = STAYS[category]
        path = COMMUNES[i % len(COMMUNES)]
        venues.append(Venue(venue_id=new_id("V"), name=f"{category.value} {i}", area_id=path[-1], area_path=path,
                            category=category, default_stay_minutes=default, max_stay_minutes=maximum,
                            owner_phone="0981234791"))
    devices: dict[str, list[Device]] = {}
    all_devices = []
    for venue in venues:
        modes = [GateMode.auto] if rng.random() < 0.5 else [GateMode.entry, GateMode.exit]
        devices[venue.venue_id] = [Device(device_id=new_id("D"), venue_id=venue.venue_id, kind=DeviceKind.reader_station,
                                          mode=mode, token_sha256=token_hash(new_id("D"))) for mode in modes]
        all_devices += devices[venue.venue_id]
    people = [Person(person_id=new_id("P")) for _ in range(persons)]
    day = Day(venues, all_devices, people)
    late_device = devices[venues[1].venue_id][0].device_id  # the first market's first gate

    def send(device: Device | None, raw: bytes) -> None:
        target = day.late if device is not None and device.device_id == late_device else day.scans
        target.append((device.device_id if device else "self", raw))

    def gate(venue: Venue, entering: bool) -> Device | None:
        gates = devices[venue.venue_id]
        if rng.random() < 0.15:
            return None  # the person scans the poster with their phone
        if len(gates) == 1:
            return gates[0]
        return gates[0] if entering else gates[1]

    def scan_at(person: str, venue: Venue, at: datetime, entering: bool) -> None:
        device = gate(venue, entering)
        direction = ("in" if entering else "out") if device is None else "auto"
        raw = _scan(codec, person, at, device=device, venue=venue, direction=direction)
        send(device, raw)
        if rng.random() < 0.1:  # a double scan: the guard scans the card again
            send(device, _scan(codec, person, at + timedelta(seconds=20), device=device, venue=venue,
                               direction=direction))

    for number, person in enumerate(people):
        pid = person.person_id
        t = day_start + timedelta(minutes=rng.randint(6 * 60, 10 * 60))
        plans: list[Plan] = []
        last_venue = None
        if number < 5:
            # A factory shift longer than the maximum stay, exit scanned: one visit (rule 7).
            factory = venues[0]
            plans.append(Plan(factory, t, t + timedelta(hours=12, minutes=30)))
        else:
            for _ in range(rng.randint(2, 4)):
                venue = rng.choice([v for v in venues if v is not last_venue])
                stay = rng.randint(10, int(venue.max_stay_minutes * 0.8))
                plan = Plan(venue, t, t + timedelta(minutes=stay))
                if plan.t_out > now - timedelta(hours=13):
                    break  # every visit must be over, even by timeout, when the test runs
                previous_closed = not plans or plans[-1].scan_exit
                plan.scan_exit = rng.random() < 0.8
                plan.scan_entry = not (previous_closed and plan.scan_exit and rng.random() < 0.05)
                plans.append(plan)
                last_venue = venue
                t = plan.t_out + timedelta(minutes=rng.randint(10, 120))
        for plan in plans:
            if plan.scan_entry:
                scan_at(pid, plan.venue, plan.t_in, True)
            if plan.scan_exit and plan.scan_entry and number >= 5:
                scan_at(pid, plan.venue, plan.t_out, False)
            elif plan.scan_exit:
                # An explicit exit on the phone: at an "auto" gate a lone exit would count as
                # an entry, and after a timeout only an explicit exit ends the visit.
                send(None, _scan(codec, pid, plan.t_out, venue=plan.venue, direction="out"))
        day.expected |= _expected(pid, plans)
    # A few forged cards: a valid-looking code with a wrong signature.
    forger = QrCodec({codec.signing_key_id: b"not-the-real-key-0000"})
    for _ in range(7):
        raw = _scan(forger, people[0].person_id, day_start + timedelta(hours=9), venue=venues[2], direction="in")
        day.scans.append(("self", raw))
        day.forged += 1
    return day


def _expected(person: str, plans: list[Plan]) -> set[tuple]:
    """The visits the rules give for a planned day (see the README's pairing rules)."""
    out = set()
    prev_end = None
    for i, plan in enumerate(plans):
        venue = plan.venue
        default = timedelta(minutes=venue.default_stay_minutes)
        maximum = timedelta(minutes=venue.max_stay_minutes)
        if not plan.scan_entry:  # exit without entry: inferred entry
            t_in = plan.t_out - default
            if prev_end is not None:
                t_in = min(max(t_in, prev_end), plan.t_out)
            out.add((person, venue.venue_id, t_in, plan.t_out, "inferred", "scan"))
            prev_end = plan.t_out
            continue
        if plan.scan_exit:
            # Within the maximum stay, or past it but within a day with an explicit exit.
            out.add((person, venue.venue_id, plan.t_in, plan.t_out, "scan", "scan"))
            prev_end = plan.t_out
            continue
        following = plans[i + 1] if i + 1 < len(plans) else None
        next_scan = following.t_in if following is not None else None
        if next_scan is not None and next_scan <= plan.t_in + maximum:
            out.add((person, venue.venue_id, plan.t_in, next_scan, "scan", "next_scan"))
            prev_end = next_scan
        else:
            prev_end = plan.t_in + default
            out.add((person, venue.venue_id, plan.t_in, prev_end, "scan", "timeout"))
    return out
