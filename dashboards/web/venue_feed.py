"""The live feed of each venue's entries and exits: one follower of `visits` per web
process, fanned out to the pages watching each venue.

    feed = VenueFeed(lambda: bootstrap_servers(settings), topics.visits.name)
    task = asyncio.create_task(feed.run())        # the app's lifespan; never awaited there
    watcher = feed.watch(venue_id)                 # a page's stream
    movement = await watcher.queue.get()           # ... until watcher.overflowed
    feed.stop_watching(watcher)

Why `visits` and not `scans.valid`. A valid scan is what a device said, not what
happened: its direction may be ``auto`` (the pairing decides entry or exit from the
person's state), a double scan within the debounce window is still on `scans.valid`
(the pairing drops it), and the exits nobody scanned — the person scanned in elsewhere,
or stayed past the venue's maximum — are never scans at all. The worker's visits carry
all of that decided: a visit is sent open when the person enters and again, closed, when
they leave (by a scan, or inferred). So an entry is a visit seen open, an exit a visit
seen closed (`movements`). The worker sends each batch's visits within tens of
milliseconds of the scan (`pipeline.stream.worker.BATCH_WAIT`).

The follower starts at the topic's end (the page shows who is inside from the warehouse;
the feed adds what happens next), has no consumer group, and keeps trying in the
background while the broker is away: the web app starts without it. Each page watching
a venue has a bounded queue; a page that does not keep up is dropped (``overflowed``),
and told to reload, rather than let memory grow.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from pipeline.stream.topic_follower import TopicFollower
from schemas import Visit
from schemas.envelopes import unpack

log = logging.getLogger(__name__)

QUEUE_SIZE = 200  # movements a page may fall behind before it is told to reload
REMEMBERED_VISITS = 100_000  # visits whose announced entry and exit are remembered
RETRY_SECONDS = (1, 2, 5, 10, 30)


@dataclass(frozen=True)
class Movement:
    """One entry or exit at a venue. ``how``: ``scan``, or how an exit was inferred
    (``next_scan``, ``timeout``)."""

    kind: str  # "entry" | "exit"
    at: datetime
    person_id: str
    venue_id: str
    visit_id: str
    how: str


class Announced:
    """What the feed has said of each recent visit, so that the worker's redelivered
    records (the same version again) and revisions that change nothing are said once."""

    def __init__(self, size: int = REMEMBERED_VISITS) -> None:
        self.size = size
        self._said: OrderedDict[str, tuple[bool, datetime | None]] = OrderedDict()

    def movements(self, visit: Visit) -> list[Movement]:
        """The movements ``visit`` (a record from `visits`) adds to what was said."""
        key = str(visit.visit_id)
        entry_said, exit_said_at = self._said.get(key, (False, None))
        if visit.deleted:
            return []
        found: list[Movement] = []

        def movement(kind: str, at: datetime, how: str) -> Movement:
            return Movement(kind, at, visit.person_id, visit.venue_id, key, how)

        # A visit's first record says its entry (an inferred entry is not a movement anyone
        # saw); a later one unheard of (the page opened since) says only what it changes.
        if not entry_said and visit.entry_how == "scan" and (visit.version == 1 or visit.exit_how == "open"):
            found.append(movement("entry", visit.t_in, "scan"))
        entry_said = True
        if visit.exit_how != "open" and exit_said_at != visit.t_out:
            found.append(movement("exit", visit.t_out, visit.exit_how))
            exit_said_at = visit.t_out
        self._said[key] = (entry_said, exit_said_at)
        self._said.move_to_end(key)
        while len(self._said) > self.size:
            self._said.popitem(last=False)
        return found


class Watcher:
    """One page's stream of one venue."""

    def __init__(self, venue_id: str, size: int) -> None:
        self.venue_id = venue_id
        self.queue: asyncio.Queue[Movement] = asyncio.Queue(maxsize=size)
        self.overflowed = asyncio.Event()


class VenueFeed(TopicFollower):
    def __init__(self, bootstrap: Callable[[], str], topic: str, queue_size: int = QUEUE_SIZE) -> None:
        super().__init__("")
        self._bootstrap = bootstrap
        self.topic = topic
        self.queue_size = queue_size
        self.announced = Announced()
        self._watchers: dict[str, set[Watcher]] = {}
        self.undecodable = 0

    # --- the pages -------------------------------------------------------------------
    @property
    def live(self) -> bool:
        """Whether the feed is following the topic (else the page says it is waiting)."""
        return self.ready.is_set()

    def watch(self, venue_id: str) -> Watcher:
        watcher = Watcher(venue_id, self.queue_size)
        self._watchers.setdefault(venue_id, set()).add(watcher)
        return watcher

    def stop_watching(self, watcher: Watcher) -> None:
        watchers = self._watchers.get(watcher.venue_id, set())
        watchers.discard(watcher)
        if not watchers:
            self._watchers.pop(watcher.venue_id, None)

    def watching(self, venue_id: str) -> int:
        return len(self._watchers.get(venue_id, ()))

    def hand_out(self, movement: Movement) -> None:
        for watcher in self._watchers.get(movement.venue_id, ()):
            if watcher.overflowed.is_set():
                continue
            try:
                watcher.queue.put_nowait(movement)
            except asyncio.QueueFull:
                watcher.overflowed.set()  # the page is told to reload; nothing more is kept for it

    # --- the topic -------------------------------------------------------------------
    async def run(self) -> None:
        """Follow the topic until cancelled, starting again (at its end) after any failure."""
        failures = 0
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the broker away, the topic missing: try again
                wait = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("the venues' live feed cannot follow %s (%s: %s); trying again in %d s",
                            self.topic, type(exc).__name__, exc, wait)
                await asyncio.sleep(wait)
            finally:
                self.ready.clear()

    async def _follow(self) -> None:
        self.bootstrap = self._bootstrap()
        consumer = self._new_consumer()
        await consumer.start()
        try:
            partitions = [TopicPartition(self.topic, p) for p in sorted(
                consumer.partitions_for_topic(self.topic)
                or await self._partitions(self.topic, f"topic {self.topic} does not exist yet"))]
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            for tp in partitions:  # where "the end" is, fixed before the pages are told live
                await consumer.position(tp)
            self.ready.set()
            log.info("the venues' live feed follows %s", self.topic)
            while True:
                await self._poll(consumer, 500)
        finally:
            await consumer.stop()

    def _apply(self, tp: TopicPartition, messages: list[ConsumerRecord]) -> None:
        for message in messages:
            if message.value is None:
                continue
            try:
                visits = [Visit.from_bytes(value) for value in unpack(message.value)]  # one, or an envelope's
            except (ValidationError, ValueError):  # EnvelopeError too
                self.undecodable += 1  # only the worker writes there; not this reader's to judge
                continue
            for visit in visits:
                if visit.venue_id not in self._watchers:  # remembered only while someone watches
                    continue
                for movement in self.announced.movements(visit):
                    self.hand_out(movement)
