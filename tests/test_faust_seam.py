"""The private API behind `pipeline.stream.faust_seam` is still there, and does what the
worker relies on: this fails on the upgrade that moves or changes it, not in production."""

from __future__ import annotations

import contextvars
import inspect
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.client import AIOKafkaClient
from faust import streams

from pipeline.kafka_io import produce_all, read_to_end, reliable_producer
from pipeline.keys import load_codec
from pipeline.settings import Settings
from pipeline.stream.app import STATE_TABLE
from pipeline.stream.faust_seam import on_behalf_of
from pipeline.stream.layout import partition_of
from pipeline.topics import Topics, groups_for
from scenario import _scan
from schemas.registry import Person, Venue
from stream_helpers import start_worker, stop_worker, visit_records, wait_for


def test_faust_still_keeps_its_current_event_in_the_context_variable_the_seam_sets() -> None:
    assert isinstance(streams._current_event, contextvars.ContextVar)

    class Event:  # what on_behalf_of stores is a weak reference to the event
        pass

    event = Event()
    with on_behalf_of(event):
        assert streams.current_event() is event
    assert streams.current_event() is None


def test_aiokafka_consumers_still_hold_a_client_that_can_refresh_metadata() -> None:
    assert "self._client = AIOKafkaClient(" in inspect.getsource(AIOKafkaConsumer.__init__)
    # It returns an awaitable (a future), which the seam awaits.
    assert "def force_metadata_update(self)" in inspect.getsource(AIOKafkaClient.force_metadata_update)


def test_faust_streams_still_skip_messages_around_a_rebalance_and_the_worker_refuses_their_acknowledgement(
        tmp_path: Path) -> None:
    """`no_skipped_message_lost`: a stream skips a message it reads while the flow is
    stopped or from an earlier generation (the pure-Python iterator acknowledges it);
    the worker's consumer takes an acknowledgement only for a message a stream took for
    processing. When Faust changes how it skips, the first assertion says so."""
    from faust.types.tuples import ConsumerMessage

    from pipeline.stream.app import make_app

    source = inspect.getsource(streams.Stream._py_aiter)
    assert "not self.app.flow_control.is_active()" in source and "do_ack or value is skipped_value" in source
    consumer = make_app(Settings(), "127.0.0.1:1", tmp_path, store="memory://", port=0).consumer
    for name in ("_committed_offset", "_read_offset", "_acked"):
        assert isinstance(getattr(consumer, name), dict), name

    def message(offset: int) -> ConsumerMessage:
        return ConsumerMessage("t.scans.raw", 0, offset, 0.0, 0, None, b"k", b"v", None)

    skipped, taken = message(7), message(8)
    taken.tracked = True  # what a stream does to a message it hands over
    assert consumer.ack(skipped) is False and not skipped.acked
    consumer.ack(taken)
    assert taken.acked


def test_after_faust_seeks_to_the_committed_offsets_a_partition_with_none_above_0_starts_from_its_beginning() -> None:
    """The consumer's own seek leaves such a partition where the fetch left it, past
    what the stream skipped during the rebalance."""
    import asyncio

    import faust
    from faust.types import TP

    from pipeline.stream.faust_seam import guard

    app = faust.App("seam-seek-test", broker="kafka://127.0.0.1:1")
    consumer = app.consumer
    committed = {TP("raw", 0): 120, TP("raw", 1): None, TP("raw", 2): -1, TP("repartition", 0): 0,
                 TP("app-person-state-changelog", 0): None}
    seeks: list[tuple[TP, int]] = []

    async def perform_seek() -> None:  # Faust's: it seeks only where the committed offset is above 0
        consumer._committed_offset.update({tp: c for tp, c in committed.items() if c is not None})

    async def earliest_offsets(*tps: TP) -> dict[TP, int]:
        return {tp: 5 for tp in tps}

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    consumer.perform_seek, consumer.earliest_offsets, consumer.seek = perform_seek, earliest_offsets, seek
    consumer.assignment = lambda: set(committed)
    consumer._is_changelog_tp = lambda tp: tp.topic.endswith("-changelog")
    consumer._read_offset[TP("raw", 2)] = 300  # where the fetch had got to
    guard(consumer)
    asyncio.run(consumer.perform_seek())
    assert sorted(seeks) == [(TP("raw", 1), 5), (TP("raw", 2), 5), (TP("repartition", 0), 5)]
    assert consumer._read_offset[TP("raw", 2)] is None and consumer._committed_offset[TP("raw", 2)] is None
    assert consumer._committed_offset[TP("raw", 0)] == 120


def test_faust_apps_still_have_an_assignor_that_lists_its_active_partitions() -> None:
    import faust
    from faust.types import TP

    from pipeline.stream.faust_seam import active_partitions

    app = faust.App("seam-test", broker="kafka://127.0.0.1:1")
    assignor = app.assignor
    assert callable(assignor.assigned_actives)
    assignor.assigned_actives = lambda: {TP("ticks", 2), TP("ticks", 0), TP("other", 1)}  # what a rebalance sets
    assert active_partitions(app, "ticks") == [0, 2]


@pytest.mark.kafka
def test_a_state_written_for_partition_n_is_in_changelog_partition_n_and_another_worker_restores_it(
        settings: Settings, topics: Topics, tmp_path: Path) -> None:
    """The contract `on_behalf_of` and the changelog receipts stand on, end to end: the
    worker writes a person's state for the event of their partition N, the state lands in
    partition N of the table's changelog, and a worker started afresh elsewhere (another
    name: no local store) restores it from there, so that the person's exit closes the
    visit the first worker opened instead of starting an orphan."""
    shop = Venue(venue_id="VBBBBBBBBBBBBBB", name="Tạp hoá", area_id="25741", area_path=("74", "718", "25741"),
                 category="shop", default_stay_minutes=30, max_stay_minutes=180, owner_phone="0981234791")
    person = Person(person_id="PCBBBBBBBBBBBBB")
    # Others in other partitions, taken in the same batch: each state goes to its own.
    others = [Person(person_id=f"PD{c * 13}") for c in "BCDEFGHIJKLN"]
    homes = {p.person_id: partition_of(p.person_id.encode(), settings.topic_partitions) for p in [person, *others]}
    assert len(set(homes.values())) > 1
    producer = reliable_producer(settings.kafka_bootstrap)
    produce_all(producer, topics.venues.name, [(shop.venue_id.encode(), shop.to_bytes())])
    produce_all(producer, topics.persons.name, [(p.person_id.encode(), p.to_bytes()) for p in [person, *others]])
    codec, now = load_codec(settings), datetime.now(timezone.utc)
    entries = [(p.person_id.encode(), _scan(codec, p.person_id, now - timedelta(minutes=20), venue=shop,
                                            direction="in")) for p in [person, *others]]
    produce_all(producer, topics.scans_raw.name, entries)
    first = start_worker(settings, "w1", tmp_path)
    try:
        wait_for(lambda: len(visit_records(settings, topics.visits.name)) == len(entries), 90, "the entries' visits",
                 [first], tmp_path)
    finally:
        stop_worker(first)
    changelog = f"{groups_for(settings).worker}-{STATE_TABLE}-changelog"
    held = {(partition, key) for key, _, partition, _ in read_to_end(settings.kafka_bootstrap, changelog)}
    for someone, partition in homes.items():
        assert {p for p, key in held if someone.encode() in key} == {partition}, someone

    leaving = _scan(codec, person.person_id, now - timedelta(minutes=5), venue=shop, direction="out")
    produce_all(producer, topics.scans_raw.name, [(person.person_id.encode(), leaving)])
    second = start_worker(settings, "w2", tmp_path)  # another data directory: restores from the changelog
    try:
        wait_for(lambda: any(v.exit_how == "scan" for v in visit_records(settings, topics.visits.name)), 90,
                 "the exit to close the visit", [second], tmp_path)
    finally:
        stop_worker(second)
    visits = [v for v in visit_records(settings, topics.visits.name) if v.person_id == person.person_id]
    assert {v.visit_id for v in visits} == {visits[0].visit_id}, "the exit started a visit of its own"
    assert [(v.version, v.exit_how.value) for v in visits] == [(1, "open"), (2, "scan")]
