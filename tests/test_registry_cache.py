"""The worker's registry cache and the gateway's directory decode registry records with
their models (the schema's defaults, the schema's refusals), a record its model refuses
is skipped by the follower, not applied and not fatal; and the caches in front of the
store (persons' flags, persons' states) drop the least recently used entry when full,
instead of emptying themselves (which cost a burst of store reads)."""

from __future__ import annotations

import json
import logging
from collections import UserDict

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

import pipeline.registry_cache as registry_cache
from pipeline.registry_cache import RegistryCache
from pipeline.settings import Settings
from pipeline.stream.person_store import PersonStates, state_cache
from pipeline.stream.registry_follower import RegistryFollower
from pipeline.topics import topics_for
from producers.gateway.directory import GatewayDirectory
from schemas import Device, Person, PersonalData, Venue
from schemas.ids import new_id
from pipeline.pairing import PersonState


class CountingStore(UserDict):
    """A store that counts its reads (the RocksDB the cache is in front of)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key, default=None):
        self.reads += 1
        return super().get(key, default)


def a_venue(**changes) -> Venue:
    return Venue(venue_id=new_id("V"), name="Chợ Phú Cường", area_id="25741", area_path=("74", "718", "25741"),
                 category="market", default_stay_minutes=60, max_stay_minutes=240, owner_phone="0981234791",
                 **changes)


def test_records_are_read_with_the_schemas_defaults_and_refusals() -> None:
    cache = RegistryCache()
    venue = a_venue()
    written = json.loads(venue.to_bytes())
    del written["active"], written["privileged"]  # the schema's defaults fill them in
    cache.apply_venue(venue.venue_id.encode(), json.dumps(written).encode())
    assert cache.venue(venue.venue_id).active is True
    device = Device(device_id=new_id("D"), venue_id=venue.venue_id, kind="reader_station", token_sha256="0" * 64)
    written = json.loads(device.to_bytes())
    del written["mode"]
    cache.apply_device(device.device_id.encode(), json.dumps(written).encode())
    assert cache.device(device.device_id).mode == Device.model_fields["mode"].default
    for bad in (b'{"venue_id": "V1"}', b"not json", json.dumps({**json.loads(venue.to_bytes()),
                                                                "category": "casino"}).encode()):
        with pytest.raises(ValueError):
            cache.apply_venue(b"V1", bad)
    with pytest.raises(ValueError):
        cache.apply_person(b"P1", b'{"person_id": "not an id"}')


def test_the_gateway_directory_keeps_what_the_models_say() -> None:
    directory = GatewayDirectory()
    venue = a_venue(privileged=True)
    directory.apply_venue(venue.venue_id.encode(), venue.to_bytes())
    assert directory.venue_labels[venue.venue_id] == (venue.name, True)
    person = new_id("P")
    directory.apply_personal_data(person.encode(), PersonalData(person_id=person, full_name="Lê Văn Tám",
                                                                phone="+84 98 123 4791").to_bytes())
    assert directory.full_name(person) == "Lê Văn Tám" and directory.phone(person) == "0981234791"
    with pytest.raises(ValueError):
        directory.apply_personal_data(person.encode(), b'{"person_id": "P", "phone": 12}')


def test_a_record_its_model_refuses_is_skipped_and_said_and_the_next_is_applied(caplog) -> None:
    topics = topics_for(Settings())
    cache = RegistryCache()
    follower = RegistryFollower("127.0.0.1:1", topics, cache)
    good = a_venue()
    records = [ConsumerRecord(topics.venues.name, 0, offset, 0, 0, key, value, None, 0, 0, [])
               for offset, (key, value) in enumerate([(b"V1", b'{"venue_id": "broken"}'),
                                                      (good.venue_id.encode(), good.to_bytes())])]
    with caplog.at_level(logging.WARNING):
        follower._apply(TopicPartition(topics.venues.name, 0), records)
    assert follower.skipped == 1 and cache.venue(good.venue_id) is not None
    assert f"{topics.venues.name}[0]@0" in caplog.text and "broken" not in caplog.text


def test_a_full_persons_cache_drops_the_least_recently_used_not_everything(monkeypatch) -> None:
    monkeypatch.setattr(registry_cache, "RECENT_PERSONS", 100)
    store = CountingStore()
    cache = RegistryCache(store)
    people = [new_id("P") for _ in range(150)]
    for person in people:
        cache.apply_person(person.encode(), Person(person_id=person).to_bytes())
    hot = people[:50]
    for person in people[:100]:
        assert cache.person_active(person) is True
    for person in hot:  # used again: the most recent now
        cache.person_active(person)
    store.reads = 0
    for person in people[100:]:  # 50 more: the 50 least recently used (people[50:100]) go
        cache.person_active(person)
    assert store.reads == 50
    store.reads = 0
    for person in hot:
        cache.person_active(person)
    assert store.reads == 0, "a full cache emptied itself instead of dropping the least recently used"


def test_a_full_states_cache_drops_the_least_recently_used(monkeypatch) -> None:
    monkeypatch.setattr("pipeline.stream.person_store.STATE_CACHE_SIZE", 10)

    class Store(PersonStates):
        def __init__(self) -> None:
            self._cache = state_cache()
            self.states = CountingStore()

    store = Store()
    keep = PersonState("P-kept")
    store._cache["P-kept"] = keep
    for n in range(30):
        store._cache[f"P{n}"] = PersonState(f"P{n}")
        assert store._cache.get("P-kept") is keep  # used at every step: never the one to go
    assert len(store._cache) == 10
