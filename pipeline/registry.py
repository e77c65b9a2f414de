"""Publishing and reading the registry: areas, venues, persons, personal data, devices.

Registry topics are compacted and keyed by id: the newest record for an id is current,
a record with no value (a tombstone) deletes it. Writers check references (a venue's
area, a device's venue) against what the topics hold before they publish.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TypeVar

from schemas.accounts import Account
from schemas.base import Record, utcnow
from schemas.ids import DEVICE, PERSON, VENUE, new_id
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
    normalise_phone,
)

from .kafka_io import ensure_topics, produce_all, read_to_end, reliable_producer
from .settings import Settings
from .topics import TopicSpec, topics_for

R = TypeVar("R", bound=Record)


class RegistryError(ValueError):
    """A request the registry refuses; the message says what to change."""


def read_latest(bootstrap: str, spec: TopicSpec, model: type[R], skip_invalid: bool = False) -> dict[str, R]:
    """The current record per key on a compacted topic; with ``skip_invalid``, a record
    that is not a ``model`` (or whose key is not text) is left out instead of raising."""
    latest: dict[str, R] = {}
    for key, value, _partition, _offset in read_to_end(bootstrap, spec.name):
        if key is None:
            continue
        try:
            if value is None:
                latest.pop(key.decode(), None)
            else:
                latest[key.decode()] = model.from_bytes(value)
        except ValueError:  # pydantic's ValidationError, or a key that is not UTF-8
            if not skip_invalid:
                raise
    return latest


def _phone(raw: str) -> str:
    try:
        return normalise_phone(raw)
    except ValueError as exc:
        raise RegistryError(str(exc)) from exc


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Registry:
    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.topics = topics_for(settings)
        self._producer = None

    def _publish(self, spec: TopicSpec, records: list[tuple[str, Record]]) -> int:
        ensure_topics(self.bootstrap, [spec], self.settings.topic_replication)
        if self._producer is None:
            self._producer = reliable_producer(self.bootstrap)
        return produce_all(self._producer, spec.name, ((k.encode(), r.to_bytes()) for k, r in records))

    # --- reads -----------------------------------------------------------------------
    def areas(self) -> dict[str, Area]:
        return read_latest(self.bootstrap, self.topics.areas, Area)

    def venues(self) -> dict[str, Venue]:
        return read_latest(self.bootstrap, self.topics.venues, Venue)

    def persons(self) -> dict[str, Person]:
        return read_latest(self.bootstrap, self.topics.persons, Person)

    def devices(self) -> dict[str, Device]:
        return read_latest(self.bootstrap, self.topics.devices, Device)

    def accounts(self) -> dict[str, Account]:
        return read_latest(self.bootstrap, self.topics.accounts, Account)

    # --- writes ----------------------------------------------------------------------
    def load_areas(self, areas: list[Area]) -> int:
        return self._publish(self.topics.areas, [(a.area_id, a) for a in areas])

    def add_venue(self, *, name: str, area_id: str, category: VenueCategory, owner_phone: str,
                  address: str = "", staff_phones: tuple[str, ...] = (),
                  privileged: bool | None = None, default_stay_minutes: int | None = None,
                  max_stay_minutes: int | None = None) -> Venue:
        owner_phone = _phone(owner_phone)
        staff_phones = tuple(_phone(s) for s in staff_phones)
        area = self.areas().get(area_id)
        if area is None:
            raise RegistryError(
                f"unknown area {area_id!r}: load areas first (`ravao areas load ...`) "
                "and give the code of a commune/ward (or any tier)"
            )
        default_stay, max_stay = STAYS[category]
        venue = Venue(
            venue_id=new_id(VENUE), name=name, address=address, area_id=area.area_id,
            area_path=area.path, category=category,
            privileged=category in PRIVILEGED_BY_DEFAULT if privileged is None else privileged,
            default_stay_minutes=default_stay_minutes or default_stay,
            max_stay_minutes=max_stay_minutes or max(max_stay, default_stay_minutes or 0),
            owner_phone=owner_phone, staff_phones=staff_phones,
        )
        self._publish(self.topics.venues, [(venue.venue_id, venue)])
        return venue

    def add_person(self, *, full_name: str, phone: str | None = None, id_number: str | None = None,
                   birth_year: int | None = None, home_area_id: str | None = None) -> Person:
        phone = None if phone is None else _phone(phone)
        if home_area_id is not None and home_area_id not in self.areas():
            raise RegistryError(f"unknown area {home_area_id!r}: load areas first (`ravao areas load ...`)")
        person = Person(person_id=new_id(PERSON), home_area_id=home_area_id)
        personal = PersonalData(person_id=person.person_id, full_name=full_name, phone=phone,
                                id_number=id_number, birth_year=birth_year)
        # Personal data first: a person visible to the pipeline always has it.
        self._publish(self.topics.personal_data, [(person.person_id, personal)])
        self._publish(self.topics.persons, [(person.person_id, person)])
        return person

    def add_device(self, *, venue_id: str, kind: DeviceKind, mode: GateMode = GateMode.auto,
                   phone: str | None = None, label: str = "") -> tuple[Device, str]:
        """The new device and its token (shown once; only its hash is stored)."""
        venue = self.venues().get(venue_id)
        if venue is None:
            raise RegistryError(f"unknown venue {venue_id!r}: add it first with `ravao venue add`")
        if not venue.active:
            raise RegistryError(f"venue {venue_id} is deactivated; devices cannot be bound to it")
        if kind is DeviceKind.guard_phone:
            if phone is None:
                raise RegistryError("a guard phone needs --phone, a number the venue owner authorised")
            phone = _phone(phone)
            if phone not in (venue.owner_phone, *venue.staff_phones):
                raise RegistryError(
                    "this phone is neither the owner's nor a staff phone of the venue: "
                    "add it first with `ravao venue add-staff VENUE PHONE`"
                )
        token = secrets.token_urlsafe(24)
        device = Device(device_id=new_id(DEVICE), venue_id=venue_id, kind=kind, mode=mode,
                        phone=phone, label=label, token_sha256=token_hash(token))
        self._publish(self.topics.devices, [(device.device_id, device)])
        return device, token

    def add_staff_phone(self, venue_id: str, phone: str) -> Venue:
        venue = self.venues().get(venue_id)
        if venue is None:
            raise RegistryError(f"unknown venue {venue_id!r}")
        phone = _phone(phone)
        if phone in venue.staff_phones:
            return venue
        updated = venue.model_copy(update={"staff_phones": (*venue.staff_phones, phone), "updated_at": utcnow()})
        self._publish(self.topics.venues, [(venue_id, updated)])
        return updated

    def put_account(self, account: Account) -> None:
        """Publish ``account`` (checked by `pipeline.access.accounts`, which knows the rules)."""
        self._publish(self.topics.accounts, [(account.phone, account)])

    def remove_account(self, phone: str) -> None:
        """A tombstone: the phone keeps only what the venue registry gives it."""
        ensure_topics(self.bootstrap, [self.topics.accounts], self.settings.topic_replication)
        if self._producer is None:
            self._producer = reliable_producer(self.bootstrap)
        produce_all(self._producer, self.topics.accounts.name, [(phone.encode(), None)])

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10)
