"""Keeps a `RegistryCache` up to date from the compacted registry topics.

Runs inside the worker's event loop. At start it reads every registry topic to its end
before the agents may validate anything (`ready`); then it keeps tailing them. When a
scan names an id the cache does not know, the validator calls `catch_up()` first, so a
venue registered a moment before its first scan is not refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from ..registry_cache import RegistryCache
from ..topics import Topics
from .faust_seam import refresh_metadata

log = logging.getLogger(__name__)


class RegistryFollower:
    def __init__(self, bootstrap: str, topics: Topics, cache: RegistryCache) -> None:
        self.bootstrap = bootstrap
        self.cache = cache
        self.appliers: dict[str, tuple[Callable[[bytes, bytes | None], None], bool]] = {
            topics.venues.name: (cache.apply_venue, False),
            topics.devices.name: (cache.apply_device, False),
            topics.persons.name: (cache.apply_person, True),  # resumes from the stored offset
        }
        self.ready = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Condition()
        self._last_sync_started = 0.0
        self._sync_lock = asyncio.Lock()

    async def run(self) -> None:
        consumer = self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
            group_id=None, max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await consumer.start()
        try:
            partitions = []
            for topic in self.appliers:
                for partition in consumer.partitions_for_topic(topic) or await self._partitions(topic):
                    partitions.append(TopicPartition(topic, partition))
            consumer.assign(partitions)
            for tp in partitions:
                stored = self.cache.offset(tp.topic, tp.partition) if self.appliers[tp.topic][1] else None
                if stored is not None:
                    consumer.seek(tp, stored)
                else:
                    await consumer.seek_to_beginning(tp)
            await self.catch_up()
            self.ready.set()
            log.info("registry loaded: %d venues, %d devices", len(self.cache.venues), len(self.cache.devices))
            while True:
                await self._poll(consumer, 1000)
        finally:
            await consumer.stop()

    async def _partitions(self, topic: str) -> set[int]:
        for _ in range(50):
            found = self._consumer.partitions_for_topic(topic)
            if found:
                return found
            await refresh_metadata(self._consumer)
            await asyncio.sleep(0.1)
        raise RuntimeError(f"registry topic {topic} does not exist: run `ravao kafka topics`")

    async def _poll(self, consumer: AIOKafkaConsumer, timeout_ms: int) -> None:
        batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=5000)
        for tp, messages in batches.items():
            apply, resumable = self.appliers[tp.topic]
            for message in messages:
                if message.key is not None:
                    apply(message.key, message.value)
            if messages and resumable:
                self.cache.set_offset(tp.topic, tp.partition, messages[-1].offset + 1)
        for tp in consumer.assignment():
            # The fetch position also moves past offsets that compaction removed.
            self._positions[tp] = await consumer.position(tp)
        async with self._progress:
            self._progress.notify_all()

    def _caught_up(self, ends: dict[TopicPartition, int]) -> bool:
        return all(self._positions.get(tp, -1) >= end for tp, end in ends.items())

    async def catch_up(self, if_older_than: float | None = None) -> None:
        """Return once everything on the registry topics *now* has been applied.
        ``if_older_than``: skip if a sync started after that time (epoch seconds)."""
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
