"""A generated day for the warehouse tests, and the brute-force answers to check the SQL
against.

The day: a few dozen venues in three communes, people with a handful of visits each at
random times, some visits revised (the same visit id again with a higher version and
other times), some withdrawn (a last version with ``deleted``), some records sent twice
and some revisions arriving before the version they revise. The valid scans behind the
visits come with duplicated event ids, as a retrying device and a replaying worker send
them. `brute_*` compute contacts in plain Python over the latest, non-withdrawn visits.
"""

from __future__ import annotations

import os
import random
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.settings import Settings
from pipeline.sink.routes import Route
from pipeline.warehouse import Warehouse
from pipeline.warehouse.migrations import migrate
from schemas import Area, Case, Person, PersonalData, ValidScan, Venue, Visit
from schemas.declarations import DeclarationStatus
from schemas.ids import new_id

DECLARATION_STATUSES = list(DeclarationStatus)

COMMUNES = [("74", "718", "25741"), ("74", "718", "25744"), ("74", "719", "25777")]
AREA_NAMES = {"74": "Bình Dương", "718": "Thủ Dầu Một", "719": "Bến Cát", "25741": "Phú Cường",
              "25744": "Hiệp Thành", "25777": "Mỹ Phước"}


@dataclass
class GeneratedDay:
    day: date
    venues: list[Venue]
    persons: list[str]
    areas: list[Area]
    records: list[Visit] = field(default_factory=list)  # every version, in arrival order, repeats included
    scans: list[ValidScan] = field(default_factory=list)  # repeats included
    cases: list[Case] = field(default_factory=list)
    personal: list[PersonalData] = field(default_factory=list)

    @property
    def start(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, tzinfo=timezone.utc)

    def latest(self) -> dict[str, Visit]:
        latest: dict[str, Visit] = {}
        for visit in self.records:
            key = str(visit.visit_id)
            if key not in latest or visit.version > latest[key].version:
                latest[key] = visit
        return latest

    def live_visits(self) -> list[Visit]:
        return [v for v in self.latest().values() if not v.deleted]

    def unique_scans(self) -> list[ValidScan]:
        seen: dict[str, ValidScan] = {}
        for scan in self.scans:
            seen.setdefault(str(scan.event_id), scan)
        return list(seen.values())


def generate_day(persons: int = 700, venues: int = 36, seed: int = 7, day: date | None = None) -> GeneratedDay:
    """About 4.5 visits per person; a tenth revised, one in thirty withdrawn."""
    rng = random.Random(seed)
    day = day or (datetime.now(timezone.utc) - timedelta(days=2)).date()
    start = datetime(day.year, day.month, day.day, 6, tzinfo=timezone.utc)
    areas = []
    for area_id, name in AREA_NAMES.items():
        level = {2: 0, 3: 1, 5: 2}[len(area_id)]
        path = next(p[: level + 1] for p in COMMUNES if p[level] == area_id)
        areas.append(Area(area_id=area_id, name=name, tier=["province", "district", "commune"][level], level=level,
                          parent_id=path[level - 1] if level else None, path=path))
    places = []
    for i in range(venues):
        path = COMMUNES[i % len(COMMUNES)]
        places.append(Venue(venue_id=new_id("V"), name=f"venue {i}", area_id=path[-1], area_path=path,
                            category=["market", "shop", "restaurant", "office"][i % 4], default_stay_minutes=60,
                            max_stay_minutes=240, owner_phone="0981234791"))
    people = [new_id("P") for _ in range(persons)]
    generated = GeneratedDay(day, places, people, areas)
    for person in people:
        t = start + timedelta(seconds=rng.randint(0, 5 * 3600))
        for _ in range(rng.randint(2, 7)):
            venue = rng.choice(places[: 12] if rng.random() < 0.5 else places)  # some venues are busy
            stay = timedelta(seconds=rng.randint(60, 3 * 3600), milliseconds=rng.choice([0, 0, 0, 250, 500]))
            visit = _visit(person, venue, t, t + stay)
            generated.records.append(visit)
            generated.scans += _scans(rng, visit, venue)
            if rng.random() < 0.1:  # revised: other times, a higher version
                shift = timedelta(seconds=rng.randint(-1800, 1800))
                revised = visit.model_copy(update={"version": 2, "t_in": visit.t_in + shift,
                                                   "t_out": visit.t_out + shift + timedelta(minutes=rng.randint(0, 40))})
                generated.records.append(revised)
                if rng.random() < 0.3:  # the revision arrives first
                    generated.records[-1], generated.records[-2] = generated.records[-2], generated.records[-1]
            if rng.random() < 0.035:  # withdrawn
                generated.records.append(visit.model_copy(update={"version": 3, "deleted": True}))
            if rng.random() < 0.05:  # delivered twice
                generated.records.append(visit)
            t += stay + timedelta(seconds=rng.randint(0, 2 * 3600))
    for i in range(3):  # registered, never visited
        path = COMMUNES[i]
        generated.venues.append(Venue(venue_id=new_id("V"), name=f"idle venue {i}", area_id=path[-1],
                                      area_path=path, category="office", default_stay_minutes=60,
                                      max_stay_minutes=240, owner_phone="0981234791"))
    for person in rng.sample(people, min(3, len(people))):
        generated.cases.append(Case(case_id=new_id("C"), person_id=person, status="confirmed", onset=day,
                                    registered_by="test"))
    for i, person in enumerate(people[:50]):
        generated.personal.append(PersonalData(person_id=person, full_name=f"Nguyễn Văn {i}", phone="0981234791"))
    return generated


def _visit(person: str, venue: Venue, t_in: datetime, t_out: datetime) -> Visit:
    return Visit(visit_id=uuid.uuid4(), version=1, person_id=person, venue_id=venue.venue_id, area_id=venue.area_id,
                 area_path=venue.area_path, category=venue.category, t_in=t_in, t_out=t_out, entry_how="scan",
                 exit_how="scan", updated_at=t_out)


def _scans(rng: random.Random, visit: Visit, venue: Venue) -> list[ValidScan]:
    out = []
    for direction, at in (("in", visit.t_in), ("out", visit.t_out)):
        if rng.random() < 0.15:
            direction = "auto"
        event_id = uuid.uuid4()
        scan = ValidScan(event_id=event_id, source="station", person_id=visit.person_id, venue_id=venue.venue_id,
                         direction=direction, scanned_at=at, received_at=at, area_id=venue.area_id,
                         area_path=venue.area_path, category=venue.category, default_stay_minutes=60,
                         max_stay_minutes=240,
                         # Every status, by event id (the rng's sequence stays what it was).
                         declaration=DECLARATION_STATUSES[event_id.int % len(DECLARATION_STATUSES)])
        out.append(scan)
        if rng.random() < 0.08:  # the device retried, or the worker replayed: same event id again
            out.append(scan.model_copy(update={"received_at": at + timedelta(seconds=5)}))
    return out


# --- loading without Kafka: the sink's own row builder, straight into the warehouse ---------
def load_records(warehouse: Warehouse, table: str, model, records: list, key_field: str | None = None) -> None:
    route = Route(f"test.{table}", table, model, key_field)
    lines = [route.row(None, r.to_bytes(), 0, offset).line for offset, r in enumerate(records)]
    if lines:
        warehouse.insert_json(table, b"\n".join(lines), token=None)


def load_day(warehouse: Warehouse, generated: GeneratedDay) -> None:
    """Visits in chunks of arrival order (several inserts, as batches would be)."""
    for start in range(0, len(generated.records), 1000):
        load_records(warehouse, "visits", Visit, generated.records[start : start + 1000])
    load_records(warehouse, "venues", Venue, generated.venues)
    load_records(warehouse, "areas", Area, generated.areas)
    load_records(warehouse, "cases", Case, generated.cases)


# --- brute force -----------------------------------------------------------------------------
@dataclass
class Contact:
    total_ms: int = 0
    overlaps: int = 0
    venues: set = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None
    via: str = ""

    def add(self, venue: str, start: datetime, end: datetime) -> None:
        self.total_ms += round((end - start).total_seconds() * 1000)
        self.overlaps += 1
        self.venues.add(venue)
        self.first = start if self.first is None else min(self.first, start)
        self.last = end if self.last is None else max(self.last, end)


def _clipped(visits: list[Visit], start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
    out = []
    for v in visits:
        a, b = max(v.t_in, start), min(v.t_out, end)
        if v.t_in < end and v.t_out > start:
            out.append((v.venue_id, a, b))
    return out


def _contacts_of(person: str, by_person: dict[str, list[Visit]], by_venue: dict[str, list[Visit]],
                 start: datetime, end: datetime, exclude: set[str]) -> dict[str, Contact]:
    found: dict[str, Contact] = defaultdict(Contact)
    for venue, a, b in _clipped(by_person.get(person, []), start, end):
        for other in by_venue.get(venue, []):
            if other.person_id == person or other.person_id in exclude:
                continue
            s, e = max(a, other.t_in), min(b, other.t_out)
            if e > s:
                found[other.person_id].add(venue, s, e)
    return found


def brute_f1(live: list[Visit], person: str, start: datetime, end: datetime, min_seconds: int) -> dict[str, Contact]:
    by_person, by_venue = _index(live)
    found = _contacts_of(person, by_person, by_venue, start, end, set())
    return {p: c for p, c in found.items() if c.total_ms >= min_seconds * 1000}


def brute_f2(live: list[Visit], person: str, start: datetime, end: datetime, min_seconds: int) -> dict[str, Contact]:
    by_person, by_venue = _index(live)
    f1 = set(brute_f1(live, person, start, end, min_seconds))
    totals: dict[str, Contact] = {}
    best: dict[str, tuple[int, str]] = {}
    for f in sorted(f1):
        links = _contacts_of(f, by_person, by_venue, start, end, f1 | {person})
        for p, link in links.items():
            if link.total_ms < min_seconds * 1000:
                continue
            c = totals.setdefault(p, Contact())
            c.total_ms += link.total_ms
            c.overlaps += link.overlaps
            c.venues |= link.venues
            c.first = link.first if c.first is None else min(c.first, link.first)
            c.last = link.last if c.last is None else max(c.last, link.last)
            if p not in best or (-link.total_ms, f) < best[p]:
                best[p] = (-link.total_ms, f)
    for p, c in totals.items():
        c.via = best[p][1]
    return totals


def _index(live: list[Visit]):
    by_person: dict[str, list[Visit]] = defaultdict(list)
    by_venue: dict[str, list[Visit]] = defaultdict(list)
    for v in live:
        by_person[v.person_id].append(v)
        by_venue[v.venue_id].append(v)
    return by_person, by_venue


def ch_time(value: datetime) -> str:
    """How the engine prints a DateTime64(3, 'UTC')."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


# --- fixtures --------------------------------------------------------------------------------
def _server_database(url: str) -> Iterator[str]:
    """A fresh database on the server for one test, dropped after it."""
    from urllib.parse import urlsplit, urlunsplit

    from pipeline.warehouse.opened import open_url

    name = f"ravao_test_{uuid.uuid4().hex[:10]}"
    admin = open_url(url)
    admin.command(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(url)._replace(path="/" + name))
    finally:
        admin.command(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


@pytest.fixture(params=["embedded", "server"])
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a fresh warehouse of each backend. The server runs only when
    RAVAO_CLICKHOUSE_URL names one: no modern ClickHouse server can be installed on these
    machines, and a fake would prove nothing."""
    if request.param == "server":
        url = os.environ.get("RAVAO_CLICKHOUSE_URL")
        if not url:
            pytest.skip("server backend: RAVAO_CLICKHOUSE_URL is not set (no ClickHouse server here; "
                        "set it to run this contract against one)")
        yield from (Settings(data_dir=tmp_path / "data", clickhouse_url=db) for db in _server_database(url))
        return
    yield Settings(data_dir=tmp_path / "data", clickhouse_url=None)


@pytest.fixture
def warehouse(backend_settings: Settings) -> Iterator[Warehouse]:
    from pipeline.warehouse import open_warehouse

    opened = open_warehouse(backend_settings)
    try:
        migrate(opened, backend_settings.retention_days)
        yield opened
    finally:
        opened.close()


class ThroughTheDoor:
    """The embedded default as every process but the sink sees it: reads through the
    sink's door (ClickHouse's HTTP interface, clickhouse-connect's HTTP client, signed in
    as ``account``), writes by the sink's own writer, as the sink makes them."""

    def __init__(self, sink: Warehouse, reader: Warehouse) -> None:
        self.sink, self.reader = sink, reader
        self.location, self.exclusive = reader.location, False
        self.command, self.insert_json, self.insert = sink.command, sink.insert_json, sink.insert
        self.query, self.read_personal = reader.query, reader.read_personal


@pytest.fixture(params=["chdb", "door", "server"])
def any_warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """A fresh, migrated warehouse, reached each way a process reaches one: chdb in this
    process, the embedded sink's door over HTTP, and a server when RAVAO_CLICKHOUSE_URL
    names one (skipped otherwise: there is none to install here, and a fake proves nothing)."""
    from pipeline.sink.endpoint import Endpoint
    from pipeline.warehouse import open_warehouse
    from pipeline.warehouse.opened import open_url

    if request.param == "server":
        url = os.environ.get("RAVAO_CLICKHOUSE_URL")
        if not url:
            pytest.skip("server: RAVAO_CLICKHOUSE_URL is not set (no ClickHouse server here; set it to run this "
                        "contract against one)")
        for database in _server_database(url):
            with open_warehouse(Settings(data_dir=tmp_path / "data", clickhouse_url=database)) as opened:
                migrate(opened, 30)
                yield opened
        return
    settings = Settings(data_dir=tmp_path / "data", clickhouse_url=None, sink_port=0)
    sink = open_warehouse(settings)
    try:
        migrate(sink, settings.retention_days)
        if request.param == "chdb":
            yield sink
            return
        endpoint = Endpoint(sink, settings.data_dir, 0)
        state = endpoint.start()
        try:
            with open_url(state.url_for("admin"), door_is_remote=True) as reader:
                yield ThroughTheDoor(sink, reader)
        finally:
            endpoint.stop()
    finally:
        sink.close()


# --- publishing to Kafka, as the worker and the registry do ----------------------------------
def publish_day(bootstrap: str, topics, generated: GeneratedDay, *, scans: slice = slice(None),
                visits: slice = slice(None), registry: bool = True, extras: bool = True) -> None:
    """The day's records on their topics, keyed as their producers key them. ``extras``:
    a few dead letters, one message no model can read, and a venue tombstone."""
    import base64

    from pipeline.kafka_io import produce_all, reliable_producer
    from schemas import DeadLetter

    producer = reliable_producer(bootstrap)
    if registry:
        produce_all(producer, topics.areas.name, [(a.area_id.encode(), a.to_bytes()) for a in generated.areas])
        produce_all(producer, topics.venues.name, [(v.venue_id.encode(), v.to_bytes()) for v in generated.venues])
        produce_all(producer, topics.persons.name,
                    [(p.encode(), Person(person_id=p).to_bytes()) for p in generated.persons])
        produce_all(producer, topics.personal_data.name,
                    [(p.person_id.encode(), p.to_bytes()) for p in generated.personal])
        produce_all(producer, topics.cases.name, [(c.case_id.encode(), c.to_bytes()) for c in generated.cases])
    chosen = generated.scans[scans]
    messages = [(s.person_id.encode(), s.to_bytes()) for s in chosen]
    produce_all(producer, topics.scans_valid.name, messages)
    produce_all(producer, topics.visits.name,
                [(v.person_id.encode(), v.to_bytes()) for v in generated.records[visits]])
    if extras:
        letters = [DeadLetter(reason="bad_signature", message="forged", raw_base64=base64.b64encode(b"x").decode(),
                              source_topic=topics.scans_raw.name, source_partition=0, source_offset=i)
                   for i in range(5)]
        produce_all(producer, topics.scans_dlq.name, [(None, d.to_bytes()) for d in letters])
        produce_all(producer, topics.visits.name, [(b"PBBBBBBBBBBBBBB", b"not a visit at all")])
        produce_all(producer, topics.venues.name, [(generated.venues[-1].venue_id.encode(), None)])
