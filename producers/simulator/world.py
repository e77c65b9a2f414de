"""The simulated province: venues with their gates, and the people who live there.

Everything is drawn from one `random.Random`, ids included, so a seed gives the same
registry every time. Per commune: a market, a school, the commune office, two shops, a
restaurant, and in about half of them factories; per district a hospital, and one for
the province. How each category is scanned follows what the 2021 letter describes:

| category | entry | exit |
|---|---|---|
| factory | entry-gate station (mode entry) | exit-gate station (mode exit) |
| market | a station (auto), or the poster with a phone | the same way |
| hospital | a guard's phone (auto) | the same |
| school, office | a station (auto) | the same |
| shop, restaurant | the poster, with a phone | the poster |
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import timedelta

from pipeline.registry import token_hash
from schemas.ids import ALPHABET, ID_BODY_LENGTH
from schemas.registry import (
    PRIVILEGED_BY_DEFAULT,
    STAYS,
    Area,
    Device,
    DeviceKind,
    GateMode,
    Person,
    PersonalData,
    Venue,
    VenueCategory,
)
from schemas.scans import Direction, ScanSource

C = VenueCategory
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Hữu", "Minh", "Ngọc", "Thanh", "Đức", "Quốc", "Kim", "Xuân"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Hương", "Khoa", "Lan", "Linh",
         "Long", "Mai", "Nam", "Phúc", "Quang", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Vy", "Yến"]
FACTORY_NAMES = ["Giày Da", "Dệt May", "Gỗ Nội Thất", "Điện Tử", "Bao Bì", "Thực Phẩm", "Cơ Khí", "Gốm Sứ"]
# Roles and their shares of the population (Binh Duong is an industrial province).
ROLES = {"factory_worker": 0.42, "office_worker": 0.12, "student": 0.15, "hospital_staff": 0.03, "at_home": 0.28}
PHONE_SHARE = 0.85  # the others carry a printed card: a guard or a station scans it
SKEWED_SHARE = 0.12  # phones whose clock is off by up to MAX_SKEW
MAX_SKEW = timedelta(seconds=150)  # well within RAVAO_FUTURE_TOLERANCE_MINUTES


@dataclass(frozen=True)
class Gate:
    """A scanning device at a venue, and the direction it sends."""

    device: Device
    token: str
    direction: Direction
    source: ScanSource
    skew: timedelta = timedelta(0)  # a guard phone's clock


@dataclass
class Place:
    venue: Venue
    entry_gates: list[Gate] = field(default_factory=list)
    exit_gates: list[Gate] = field(default_factory=list)
    poster: bool = False  # a visitor can check in with their phone

    @property
    def category(self) -> VenueCategory:
        return self.venue.category


@dataclass
class Resident:
    person: Person
    personal: PersonalData
    commune: str
    district: str
    role: str
    workplace: Place | None
    phone: bool
    skew: timedelta  # of their phone


@dataclass
class World:
    areas: list[Area]
    places: list[Place]
    residents: list[Resident]
    # commune id -> category -> places
    local: dict[str, dict[VenueCategory, list[Place]]]

    @property
    def gates(self) -> list[Gate]:
        seen: dict[str, Gate] = {}
        for place in self.places:
            for gate in place.entry_gates + place.exit_gates:
                seen.setdefault(gate.device.device_id, gate)
        return list(seen.values())

    def nearby(self, resident: Resident, category: VenueCategory, rng: random.Random) -> Place | None:
        """A place of ``category`` in the resident's commune, sometimes elsewhere."""
        here = self.local.get(resident.commune, {}).get(category, [])
        if here and rng.random() < 0.75:
            return rng.choice(here)
        everywhere = [p for p in self.places if p.category is category]
        return rng.choice(everywhere) if everywhere else None


def seeded_id(rng: random.Random, kind: str) -> str:
    return kind + "".join(rng.choice(ALPHABET) for _ in range(ID_BODY_LENGTH))


def _phone(rng: random.Random) -> str:
    return rng.choice(["03", "05", "07", "08", "09"]) + "".join(rng.choice(string.digits) for _ in range(8))


def _token(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(32))


def build_world(areas: list[Area], rng: random.Random, people: int, communes: int | None = None) -> World:
    by_id = {a.area_id: a for a in areas}
    leaves = sorted((a for a in areas if a.tier == "commune"), key=lambda a: a.area_id)
    if not leaves:  # a two-tier file names its lowest tier "commune" too; any depth: the leaves
        parents = {a.parent_id for a in areas}
        leaves = sorted((a for a in areas if a.area_id not in parents), key=lambda a: a.area_id)
    chosen = sorted(rng.sample(leaves, communes), key=lambda a: a.area_id) if communes and communes < len(leaves) else leaves
    builder = _Builder(rng)
    local: dict[str, dict[VenueCategory, list[Place]]] = {}
    hospitals: dict[str, Place] = {}
    for commune in chosen:
        district = by_id.get(commune.parent_id) if commune.parent_id else None
        here: dict[VenueCategory, list[Place]] = {}
        plan = [(C.market, f"Chợ {commune.name}"), (C.school, f"Trường THCS {commune.name}"),
                (C.office, f"UBND {commune.name}"), (C.shop, f"Cửa hàng tiện lợi {commune.name} 1"),
                (C.shop, f"Tạp hóa {commune.name} 2"), (C.restaurant, f"Quán cơm {commune.name}")]
        if rng.random() < 0.5:
            for _ in range(rng.randint(1, 2)):
                plan.append((C.factory, f"Công ty TNHH {rng.choice(FACTORY_NAMES)} {commune.name}"))
        for category, name in plan:
            here.setdefault(category, []).append(builder.place(name, commune, category))
        key = district.area_id if district else commune.area_id
        if key not in hospitals:
            where = district.name if district else commune.name
            hospitals[key] = builder.place(f"Bệnh viện Đa khoa {where}", commune, C.hospital)
            here.setdefault(C.hospital, []).append(hospitals[key])
        local[commune.area_id] = here
    if not any(p.category is C.factory for p in builder.places):
        builder.place(f"Công ty TNHH {FACTORY_NAMES[0]}", chosen[0], C.factory)
        local[chosen[0].area_id].setdefault(C.factory, []).append(builder.places[-1])
    world = World(areas, builder.places, [], local)
    residents = []
    for _ in range(people):
        commune = rng.choice(chosen)
        residents.append(builder.resident(world, commune, by_id))
    world.residents = residents
    return world


class _Builder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.places: list[Place] = []

    def place(self, name: str, area: Area, category: VenueCategory) -> Place:
        rng = self.rng
        default, maximum = STAYS[category]
        staff = _phone(rng)
        venue = Venue(venue_id=seeded_id(rng, "V"), name=name, area_id=area.area_id, area_path=area.path,
                      category=category, privileged=category in PRIVILEGED_BY_DEFAULT,
                      default_stay_minutes=default, max_stay_minutes=maximum, owner_phone=_phone(rng),
                      staff_phones=(staff,))
        place = Place(venue)
        if category is C.factory:
            place.entry_gates = [self.gate(venue, GateMode.entry, "Cổng vào")]
            place.exit_gates = [self.gate(venue, GateMode.exit, "Cổng ra")]
        elif category in (C.market, C.school, C.office):
            place.entry_gates = place.exit_gates = [self.gate(venue, GateMode.auto, "Cổng chính")]
            place.poster = category is C.market
        elif category is C.hospital:
            place.entry_gates = place.exit_gates = [self.gate(venue, GateMode.auto, "Bảo vệ", phone=staff)]
        else:
            place.poster = True
        self.places.append(place)
        return place

    def gate(self, venue: Venue, mode: GateMode, label: str, phone: str | None = None) -> Gate:
        rng = self.rng
        token = _token(rng)
        kind = DeviceKind.guard_phone if phone else DeviceKind.reader_station
        device = Device(device_id=seeded_id(rng, "D"), venue_id=venue.venue_id, kind=kind, mode=mode,
                        phone=phone, label=label, token_sha256=token_hash(token))
        direction = {GateMode.entry: Direction.entry, GateMode.exit: Direction.exit}.get(mode, Direction.auto)
        skew = timedelta(seconds=rng.randint(-150, 150)) if phone and rng.random() < 0.2 else timedelta(0)
        source = ScanSource.staff if phone else ScanSource.station
        return Gate(device, token, direction, source, skew)

    def resident(self, world: World, commune: Area, by_id: dict[str, Area]) -> Resident:
        rng = self.rng
        person = Person(person_id=seeded_id(rng, "P"), home_area_id=commune.area_id)
        birth_year = rng.randint(1950, 2012)
        personal = PersonalData(person_id=person.person_id, phone=_phone(rng) if birth_year < 2008 else None,
                                full_name=f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
                                id_number="".join(rng.choice(string.digits) for _ in range(12)),
                                birth_year=birth_year)
        role = rng.choices(list(ROLES), weights=list(ROLES.values()))[0]
        if birth_year >= 2006:
            role = "student"
        district = commune.parent_id or commune.area_id
        workplace_category = {"factory_worker": C.factory, "office_worker": C.office, "student": C.school,
                              "hospital_staff": C.hospital}.get(role)
        stub = Resident(person, personal, commune.area_id, district, role, None, False, timedelta(0))
        workplace = world.nearby(stub, workplace_category, rng) if workplace_category else None
        if workplace_category is C.factory and workplace is not None and workplace.venue.area_id != commune.area_id:
            # Factories hire from around: prefer one in the home district.
            same = [p for p in world.places if p.category is C.factory and p.venue.area_path[:-1] == commune.path[:-1]]
            workplace = rng.choice(same) if same else workplace
        phone = rng.random() < PHONE_SHARE
        skew = timedelta(seconds=rng.choice([-1, 1]) * rng.randint(10, int(MAX_SKEW.total_seconds()))) \
            if phone and rng.random() < SKEWED_SHARE else timedelta(0)
        return Resident(person, personal, commune.area_id, district, role, workplace, phone, skew)
