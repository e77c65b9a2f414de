"""How the day's stays are scanned, and what the devices send.

What goes wrong, as it did in 2021: exits are forgotten (often at markets and shops,
rarely at factory gates), now and then an entry too; a guard or a reader scans a card
twice within seconds; some phones' clocks are off by a minute or two; some stations lose
the network for hours and send their scans when it comes back, with the original times;
and a few people present forged codes. People without a phone cannot check in with a
poster: where there is no guard or station, their stay leaves no scan at all.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from schemas.qrcode import QrCodec
from schemas.registry import VenueCategory
from schemas.scans import Direction, RawScan, ScanSource

from .clock import at, minutes
from .routines import Stay, plan_day
from .world import Gate, Place, Resident, World

C = VenueCategory
ENTRY_FORGOTTEN = {"gate": 0.005, "poster": 0.04}
EXIT_FORGOTTEN = {C.factory: 0.03, C.market: 0.45, C.hospital: 0.15, C.school: 0.10, C.office: 0.10,
                  C.shop: 0.50, C.restaurant: 0.45}
POSTER_AT_MARKET = 0.3  # of phone users at a market; the others go through the station
DOUBLE_SCAN = 0.04
OFFLINE_STATIONS = 0.15  # share of stations that lose the network for 1 to 5 hours
POSTER = "poster"


@dataclass(frozen=True)
class SentScan:
    """One scan as a device sends it, with what the simulation knows about it."""

    event_id: uuid.UUID
    person_id: str
    venue_id: str
    stay: int  # the person's stay it belongs to (-1: a forged code)
    kind: str  # entry, exit, double (a second scan within seconds), forged
    source: ScanSource
    device_id: str | None
    direction: Direction
    true_at: datetime  # when it happened
    scanned_at: datetime  # what the device's clock said
    deliver_at: datetime  # when it leaves the device (later for a station that was offline)
    person_qr: str
    venue_qr: str | None = None

    def raw(self) -> RawScan:
        return RawScan(event_id=self.event_id, source=self.source, person_qr=self.person_qr,
                       venue_qr=self.venue_qr, device_id=self.device_id, direction=self.direction,
                       scanned_at=self.scanned_at)

    @property
    def key(self) -> bytes:
        """scans.raw is keyed by person id, as the gateway does."""
        return self.person_id.encode()


@dataclass
class StayRecord:
    """A true stay, and how its entry and exit were scanned (station, staff, self, none)."""

    person_id: str
    number: int
    stay: Stay
    entry: str = "none"
    exit: str = "none"


@dataclass
class Traffic:
    stays: list[StayRecord] = field(default_factory=list)
    scans: list[SentScan] = field(default_factory=list)  # in the order they are sent
    offline: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)  # device -> window

    def count(self, kind: str) -> int:
        return sum(1 for s in self.scans if s.kind == kind)

    @property
    def late(self) -> int:
        return sum(1 for s in self.scans if s.deliver_at > s.true_at)


def _event_id(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def simulate_day(world: World, day: date, rng: random.Random, codec: QrCodec, forger: QrCodec) -> Traffic:
    traffic = Traffic()
    stations = sorted((g for g in world.gates if g.source is ScanSource.station), key=lambda g: g.device.device_id)
    for gate in rng.sample(stations, max(1, round(OFFLINE_STATIONS * len(stations)))) if stations else []:
        start = at(day, 7) + minutes(rng.uniform(0, 10 * 60))
        traffic.offline[gate.device.device_id] = (start, start + minutes(rng.uniform(60, 300)))
    for resident in world.residents:
        code = codec.encode(resident.person.person_id)
        for number, stay in enumerate(plan_day(resident, world, day, rng)):
            record = StayRecord(resident.person.person_id, number, stay)
            traffic.stays.append(record)
            entry, exit_ = _means(stay.place, resident, rng)
            if entry is not None and rng.random() >= ENTRY_FORGOTTEN[POSTER if entry == POSTER else "gate"]:
                record.entry = _scan(traffic, rng, codec, resident, code, record, entry, "entry", stay.t_in)
            if exit_ is not None and rng.random() >= EXIT_FORGOTTEN[stay.place.category]:
                record.exit = _scan(traffic, rng, codec, resident, code, record, exit_, "exit", stay.t_out)
    posters = [p for p in world.places if p.poster]
    for _ in range(max(3, len(world.residents) // 150)):
        victim, place = rng.choice(world.residents), rng.choice(posters)
        true_at = at(day, 8) + minutes(rng.uniform(0, 12 * 60))
        traffic.scans.append(SentScan(
            _event_id(rng), victim.person.person_id, place.venue.venue_id, -1, "forged", ScanSource.self_checkin,
            None, Direction.entry, true_at, true_at, true_at, forger.encode(victim.person.person_id),
            codec.encode(place.venue.venue_id)))
    traffic.scans.sort(key=lambda s: (s.deliver_at, s.scanned_at, s.event_id))
    return traffic


def _means(place: Place, resident: Resident, rng: random.Random) -> tuple[Gate | str | None, Gate | str | None]:
    """How this person enters and leaves this place: a gate, the poster, or no way."""
    if place.category is C.market and resident.phone and rng.random() < POSTER_AT_MARKET:
        return POSTER, POSTER
    if place.entry_gates:
        return rng.choice(place.entry_gates), rng.choice(place.exit_gates)
    if place.poster and resident.phone:
        return POSTER, POSTER
    return None, None


def _scan(traffic: Traffic, rng: random.Random, codec: QrCodec, resident: Resident, code: str,
          record: StayRecord, means: Gate | str, kind: str, true_at: datetime) -> str:
    venue_id = record.stay.place.venue.venue_id
    if means == POSTER:
        direction = Direction.entry if kind == "entry" else Direction.exit
        skew, source, device_id, venue_qr = resident.skew, ScanSource.self_checkin, None, codec.encode(venue_id)
    else:
        direction, skew, source, device_id, venue_qr = means.direction, means.skew, means.source, \
            means.device.device_id, None
    window = traffic.offline.get(device_id or "")
    times = [true_at]
    if rng.random() < DOUBLE_SCAN:
        times.append(true_at + timedelta(seconds=rng.randint(5, 40)))
    for n, when in enumerate(times):
        deliver_at = window[1] if window and window[0] <= when < window[1] else when
        scanned_at = (when + skew).astimezone(timezone.utc if source is ScanSource.station else when.tzinfo)
        traffic.scans.append(SentScan(_event_id(rng), record.person_id, venue_id, record.number,
                                      kind if n == 0 else "double", source, device_id, direction, when,
                                      scanned_at, deliver_at, code, venue_qr))
    return source.value
