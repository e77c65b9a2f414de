"""Every use of Faust's, mode's and aiokafka's private API, in one place.

- `on_behalf_of`: Faust's current event (`faust.streams._current_event`), which decides
  the table partition a read or write goes to; Faust sets it only for single-event
  iteration, and the worker takes events in batches.
- `refresh_metadata`: an aiokafka consumer's client (`_client.force_metadata_update`), to
  see a topic created a moment ago.
- `FaustProcess._schedule_shutdown`: the one method mode calls on SIGINT and SIGTERM,
  where the stop's deadline is armed (`stopping`).
- `active_partitions`: the assignor's actives (the wall clock ticks the partitions it holds).
- `ChangelogReceipts`: wraps a table's `send_changelog` (the method its writes call) to
  keep the delivery future of each changelog message.
- `no_skipped_message_lost`: the app's `_new_consumer`, the consumer's `ack` and
  `perform_seek`, and its `_committed_offset` and `_read_offset` (see there why).

tests/test_faust_seam.py and tests/test_stream_stopping.py fail when an upgrade moves any
of them.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from aiokafka import AIOKafkaConsumer
from faust.streams import _current_event
from faust.types import EventT, FutureMessage
from faust.worker import Worker as FaustWorker

from .stopping import EXIT_STOPPED_HARD, STOP_GRACE_SECONDS, exit_unless_stopped


@contextmanager
def on_behalf_of(event: EventT) -> Iterator[None]:
    """Make ``event`` Faust's current event: its table reads and writes go to the table
    partition (and changelog partition) of that event. Within a batch each event's
    writes must say whose they are."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class ChangelogReceipts:
    """The changelog messages a table's writes queued, to wait until Kafka has them.

    Faust's `producer.flush()` cannot be trusted for that: it stops waiting as soon as its
    buffer hands no message over within 0.1 s (when a partition's batch is full, handing
    one over waits for the batch to reach the broker), and it misses the message being
    handed over. Faust commits offsets after that same flush, so without this wait an
    event could be committed while the state it made was only in the local store."""

    def __init__(self, table) -> None:
        self._pending: list[FutureMessage] = []
        send = table.send_changelog

        def recorded(*args, **kwargs) -> FutureMessage:
            sent = send(*args, **kwargs)
            self._pending.append(sent)
            return sent

        table.send_changelog = recorded  # what `on_key_set` and `on_key_del` call

    async def delivered(self) -> None:
        """Return once every changelog message queued so far is on the broker; raise
        if one of them was refused."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)


def no_skipped_message_lost(app) -> None:
    """Close a hole through which Faust loses messages around a rebalance.

    A stream skips a message it reads while the app's flow is stopped (a rebalance, its
    recovery), or that was fetched in an earlier generation; Faust counts on the seek to
    the committed offsets at the end of the rebalance to fetch such messages again. But
    the consumer seeks only where the committed offset is above 0, so a partition with
    no committed offset yet (its earlier owner never committed it: a new topic, a new
    group, a worker that did not get that far) lost what was fetched during the
    rebalance: the messages after them were processed and committed, or the commit
    stopped short of them for good (Faust sees a gap at the head). Seen here as scans
    never paired, and as a partition whose committed offset never reached its end. The
    pure-Python stream iterator even acknowledges a skipped message ("otherwise the lag
    would increase"), which lets the offset be committed past it.

    Here a partition with no committed offset above 0 is sought to its beginning with the
    others, so what was skipped is fetched again and processed (at most again: a scan's
    replay is harmless); and only a message a stream took for processing (``tracked``,
    before any of our code sees it) can be acknowledged."""
    new_consumer = app._new_consumer  # wrapped, not called: the consumer is made when Faust first needs it

    def consumer_made_safe():
        consumer = new_consumer()
        guard(consumer)
        return consumer

    app._new_consumer = consumer_made_safe


def guard(consumer) -> None:
    """The consumer's half of `no_skipped_message_lost`."""
    ack, perform_seek = consumer.ack, consumer.perform_seek

    def ack_if_taken(message) -> bool:
        return ack(message) if message.tracked else False

    async def seek_all() -> None:
        await perform_seek()
        uncommitted = {tp for tp in consumer.assignment() if not consumer._is_changelog_tp(tp)
                       and not (consumer._committed_offset.get(tp) or 0) > 0}
        if uncommitted:
            for tp, offset in (await consumer.earliest_offsets(*uncommitted)).items():
                await consumer.seek(tp, offset)
                consumer._read_offset[tp] = None  # whatever comes next is read
                # Faust's "nothing committed" (it keeps -1 when the broker says so, and
                # then waits forever for an offset before the first one there is).
                consumer._committed_offset[tp] = None

    consumer.ack = ack_if_taken
    consumer.perform_seek = seek_all


def active_partitions(app, topic: str) -> list[int]:
    """The partitions of ``topic`` this worker holds as active (not standby), from the
    assignor, which has no public call for it."""
    return sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic)


async def refresh_metadata(consumer: AIOKafkaConsumer) -> None:
    """Ask the broker for the cluster's metadata now (aiokafka has no public call)."""
    await consumer._client.force_metadata_update()


class FaustProcess(FaustWorker):
    """Faust's worker as `ravao worker` runs it: quiet, and stopping in time."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        # Faust's terminal spinner sets the root logger to DEBUG so that it spins on
        # every record: each message sent then builds a debug record holding its
        # key and value. Keep the level asked for, and no spinner.
        self.spinner = None
        logger.setLevel(level)

    def _schedule_shutdown(self, signal) -> None:  # mode's handler of SIGINT and SIGTERM
        exit_unless_stopped(STOP_GRACE_SECONDS, EXIT_STOPPED_HARD, f"the stop asked by {signal.name}")
        super()._schedule_shutdown(signal)
