"""The registry as the worker sees it: current venues, devices and persons by id,
materialised from the compacted registry topics.

Venues and devices are few (a province has tens of thousands, Hanoi had 605k venues) and
are kept in memory as small tuples. Persons can be millions: only their active flag is
kept, in a RocksDB database on disk (rocksdict) that also remembers how far each registry
topic was read, so a restarted worker resumes instead of re-reading every person; the
flags read most recently are kept in memory in front of it (least recently used go first).

Records are decoded with their models (`schemas.registry`): the defaults are the schema's.
A record that is not valid raises `ValueError` (pydantic's `ValidationError`); the follower
skips it and says so.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import NamedTuple

from cachetools import LRUCache

from schemas.registry import Device, GateMode, Person, Venue, VenueCategory

OFFSET_PREFIX = b"\x00offset\x00"
RECENT_PERSONS = 500_000


class VenueInfo(NamedTuple):
    venue_id: str
    area_id: str
    area_path: tuple[str, ...]
    category: VenueCategory
    active: bool
    default_stay_minutes: int
    max_stay_minutes: int


class DeviceInfo(NamedTuple):
    device_id: str
    venue_id: str
    mode: GateMode
    active: bool


class RegistryCache:
    """Implements `pipeline.validate.RegistryView`. ``store`` holds persons and read
    offsets; a plain dict (tests, tools) or a rocksdict `Rdict` in raw mode (the worker).
    Venues and devices are rebuilt from their topics on every start (they are small)."""

    def __init__(self, store: MutableMapping[bytes, bytes] | None = None) -> None:
        self.venues: dict[str, VenueInfo] = {}
        self.devices: dict[str, DeviceInfo] = {}
        self.store: MutableMapping[bytes, bytes] = {} if store is None else store
        self._recent_persons: LRUCache[str, bool] = LRUCache(RECENT_PERSONS)  # in front of the store (on disk)

    @classmethod
    def on_disk(cls, path: Path) -> "RegistryCache":
        from rocksdict import Options, Rdict

        path.mkdir(parents=True, exist_ok=True)
        return cls(Rdict(str(path), Options(raw_mode=True)))

    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()

    def is_empty(self) -> bool:
        """No venue and no device: the registry topics were not loaded (or not found)."""
        return not self.venues and not self.devices

    # --- RegistryView ------------------------------------------------------------------
    def venue(self, venue_id: str) -> VenueInfo | None:
        return self.venues.get(venue_id)

    def device(self, device_id: str) -> DeviceInfo | None:
        return self.devices.get(device_id)

    def person_active(self, person_id: str) -> bool | None:
        known = self._recent_persons.get(person_id)
        if known is not None:
            return known
        flag = self.store.get(b"p" + person_id.encode())
        if flag is None:
            return None  # not remembered: the person may be registered a moment later
        self._recent_persons[person_id] = active = flag == b"1"
        return active

    # --- updates from the topics ---------------------------------------------------------
    def apply_venue(self, key: bytes, value: bytes | None) -> Venue | None:
        """The record as its model (None for a tombstone), for a subclass to keep more of."""
        if value is None:
            self.venues.pop(key.decode(), None)
            return None
        v = Venue.model_validate_json(value)
        self.venues[v.venue_id] = VenueInfo(v.venue_id, v.area_id, tuple(v.area_path), v.category, v.active,
                                            v.default_stay_minutes, v.max_stay_minutes)
        return v

    def apply_device(self, key: bytes, value: bytes | None) -> Device | None:
        if value is None:
            self.devices.pop(key.decode(), None)
            return None
        d = Device.model_validate_json(value)
        self.devices[d.device_id] = DeviceInfo(d.device_id, d.venue_id, d.mode, d.active)
        return d

    def apply_person(self, key: bytes, value: bytes | None) -> None:
        self._recent_persons.pop(key.decode(), None)
        if value is None:
            self.store.pop(b"p" + key, None)
            return
        self.store[b"p" + key] = b"1" if Person.model_validate_json(value).active else b"0"

    # --- where reading stopped (persons only; venues and devices are re-read) ----------
    def offset(self, topic: str, partition: int) -> int | None:
        raw = self.store.get(OFFSET_PREFIX + f"{topic}:{partition}".encode())
        return None if raw is None else int(raw)

    def set_offset(self, topic: str, partition: int, next_offset: int) -> None:
        self.store[OFFSET_PREFIX + f"{topic}:{partition}".encode()] = str(next_offset).encode()
