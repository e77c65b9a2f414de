"""What every follower of a topic inside the worker's event loop shares: one consumer
without a group over every partition, a polling loop, and `catch_up`, which returns once
everything on the topics *now* has been applied, so that a scan that reached the broker
after a record sees it. A subclass says where to start (`_seek`) and what a batch of
messages does (`_apply`).
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from .faust_seam import refresh_metadata


class TopicFollower:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.ready = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Condition()
        self._last_sync_started = 0.0
        self._sync_lock = asyncio.Lock()

    def _new_consumer(self) -> AIOKafkaConsumer:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
            group_id=None, max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        return self._consumer

    def _apply(self, tp: TopicPartition, messages: list[ConsumerRecord]) -> None:
        raise NotImplementedError

    async def _partitions(self, topic: str, missing: str) -> set[int]:
        """The partitions of ``topic``, once the broker's metadata has them; ``missing``: the
        error if it never does."""
        for _ in range(50):
            found = self._consumer.partitions_for_topic(topic)
            if found:
                return found
            await refresh_metadata(self._consumer)
            await asyncio.sleep(0.1)
        raise RuntimeError(missing)

    async def _poll(self, consumer: AIOKafkaConsumer, timeout_ms: int) -> None:
        batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=5000)
        for tp, messages in batches.items():
            self._apply(tp, messages)
        for tp in consumer.assignment():
            # The fetch position also moves past offsets that compaction removed.
            self._positions[tp] = await consumer.position(tp)
        async with self._progress:
            self._progress.notify_all()

    def _caught_up(self, ends: dict[TopicPartition, int]) -> bool:
        return all(self._positions.get(tp, -1) >= end for tp, end in ends.items())

    async def catch_up(self, if_older_than: float | None = None) -> None:
        """Return once everything on the followed topics *now* has been applied.
        ``if_older_than``: skip if a sync started after that time (epoch seconds, a scan's
        arrival)."""
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
