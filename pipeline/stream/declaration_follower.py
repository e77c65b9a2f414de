"""Keeps each person's recent health declarations in memory, from `declarations`, so that
validation can attach the person's status at a scan's time (`status_of`).

Why a follower, and not the declarations in the person's state, consumed co-partitioned
with the scans: a scan is validated, and its `scans.valid` record sent, in the partition
of `scans.raw` it arrived on, which is its person's only when the producer keyed it by
person (a station keyed by device is validated elsewhere and paired after one more hop);
two agents on two topics are not ordered against each other, so a declaration made just
before a scan could still be behind it, and the agent would need the same catch-up as
here; and a person's state is deleted once it holds no scans, which would forget their
declarations. A follower reads every partition, is ordered against a scan by `catch_up`
(as the registry is), and changes no state a replay depends on.

What it costs. Each worker keeps everyone's declarations of the last
`declaration_current_days` + the accepted lateness (older ones cannot make any scan it
accepts current), at most `PER_PERSON` of them per person, as a datetime and a status
word, never the answers: about 260 bytes for a person with one declaration (measured with
tracemalloc: 198 bytes of dict entry, tuple and datetime, beside the id's 64-byte string),
so about 260 MB for a million people who all declared within the window, on every worker. At start it reads only that window of
the topic (`offsets_for_times`), not the whole retention. A batch of scans waits for one
ListOffsets request when declarations may have arrived since the last one.

A message that is not a declaration (garbage, oversized, another schema version) is
counted and skipped, named by its position only: the answers never reach a log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.declarations import Declaration, DeclarationStatus, status_at
from schemas.scans import MAX_RAW_SCAN_BYTES

from .faust_seam import refresh_metadata

log = logging.getLogger(__name__)

PER_PERSON = 8  # a person's latest declarations kept: more a day is not a real person
MAX_DECLARATION_BYTES = MAX_RAW_SCAN_BYTES  # a real one is a few hundred bytes
PRUNE_EVERY = 600.0  # seconds between sweeps of what fell out of the window


class Declared(NamedTuple):
    """All that validation needs of a declaration (what `status_at` reads of one)."""

    declared_at: datetime
    word: DeclarationStatus

    def status(self) -> DeclarationStatus:
        return self.word


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class DeclarationFollower:
    def __init__(self, bootstrap: str, topic: str, current_days: int, lateness: timedelta,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.current_days = current_days
        self.window = timedelta(days=current_days) + lateness
        self.clock = clock
        self.recent: dict[str, tuple[Declared, ...]] = {}
        self.skipped = 0  # messages that were not declarations
        self.ready = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Condition()
        self._last_sync_started = 0.0
        self._sync_lock = asyncio.Lock()
        self._pruned_at = time.monotonic()

    # --- what validation asks --------------------------------------------------------------
    def status_of(self, person_id: str, at: datetime) -> DeclarationStatus:
        return status_at(self.recent.get(person_id, ()), at, self.current_days)

    def apply(self, value: bytes | None, where: str = "") -> None:
        """One message of the topic."""
        if not value or len(value) > MAX_DECLARATION_BYTES:
            self._skip(where)
            return
        try:
            declaration = Declaration.model_validate_json(value)
        except (ValidationError, ValueError):
            self._skip(where)
            return
        if declaration.schema_version != Declaration.SCHEMA_VERSION:
            self._skip(where)  # a version this reader does not know: not guessed at
            return
        self.remember(declaration.person_id, Declared(declaration.declared_at, declaration.status()))

    def remember(self, person_id: str, declared: Declared) -> None:
        if declared.declared_at < self.clock() - self.window:
            return  # no scan accepted now can be within its days
        kept = self.recent.get(person_id, ())
        if declared in kept:
            return  # a replay, or the same declaration sent twice
        self.recent[person_id] = tuple(sorted(kept + (declared,)))[-PER_PERSON:]

    def prune(self) -> None:
        """Forget what fell out of the window."""
        oldest = self.clock() - self.window
        for person, kept in list(self.recent.items()):
            left = tuple(d for d in kept if d.declared_at >= oldest)
            if not left:
                del self.recent[person]
            elif len(left) != len(kept):
                self.recent[person] = left

    def _skip(self, where: str) -> None:
        self.skipped += 1
        log.warning("skipped a message on %s that is not a declaration (%s)", self.topic, where or "unknown offset")

    # --- following the topic ---------------------------------------------------------------
    async def run(self) -> None:
        consumer = self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
            group_id=None, max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(self.topic, p) for p in sorted(await self._partitions())]
            consumer.assign(partitions)
            since = int((self.clock() - self.window).timestamp() * 1000)
            found = await consumer.offsets_for_times({tp: since for tp in partitions})
            for tp in partitions:
                if found.get(tp) is None:
                    await consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, found[tp].offset)
            await self.catch_up()
            self.ready.set()
            log.info("declarations loaded: %d persons with a recent one", len(self.recent))
            while True:
                await self._poll(consumer, 1000)
                if time.monotonic() - self._pruned_at > PRUNE_EVERY:
                    self.prune()
                    self._pruned_at = time.monotonic()
        finally:
            await consumer.stop()

    async def _partitions(self) -> set[int]:
        for _ in range(50):
            found = self._consumer.partitions_for_topic(self.topic)
            if found:
                return found
            await refresh_metadata(self._consumer)
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {self.topic} does not exist: run `ravao kafka topics`")

    async def _poll(self, consumer: AIOKafkaConsumer, timeout_ms: int) -> None:
        batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=5000)
        for tp, messages in batches.items():
            for message in messages:
                self.apply(message.value, f"partition {tp.partition}, offset {message.offset}")
        for tp in consumer.assignment():
            self._positions[tp] = await consumer.position(tp)
        async with self._progress:
            self._progress.notify_all()

    def _caught_up(self, ends: dict[TopicPartition, int]) -> bool:
        return all(self._positions.get(tp, -1) >= end for tp, end in ends.items())

    async def catch_up(self, if_older_than: float | None = None) -> None:
        """Return once every declaration on the topic *now* has been applied: a scan that
        reached the broker after a declaration of its person sees it. ``if_older_than``:
        skip if a sync started after that time (epoch seconds, a scan's arrival)."""
        if if_older_than is not None and self._last_sync_started >= if_older_than:
            return
        async with self._sync_lock:
            if if_older_than is not None and self._last_sync_started >= if_older_than:
                return
            started = time.time()
            consumer = self._consumer
            ends = await consumer.end_offsets(list(consumer.assignment()))
            if not self.ready.is_set():
                for tp in consumer.assignment():
                    self._positions[tp] = await consumer.position(tp)
                while not self._caught_up(ends):  # `run` is not polling yet: poll here
                    await self._poll(consumer, 200)
            else:
                async with self._progress:
                    await self._progress.wait_for(lambda: self._caught_up(ends))
            self._last_sync_started = started
