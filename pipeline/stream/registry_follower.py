"""Keeps a `RegistryCache` up to date from the compacted registry topics.

Runs inside the worker's event loop. At start it reads every registry topic to its end
before the agents may validate anything (`ready`); then it keeps tailing them. When a
scan names an id the cache does not know, the validator calls `catch_up()` first, so a
venue registered a moment before its first scan is not refused. A record its model
refuses is skipped and logged (with where it is, never its content), not applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from ..registry_cache import RegistryCache
from ..topics import Topics
from .topic_follower import TopicFollower

log = logging.getLogger(__name__)


class RegistryFollower(TopicFollower):
    def __init__(self, bootstrap: str, topics: Topics, cache: RegistryCache) -> None:
        super().__init__(bootstrap)
        self.cache = cache
        self.skipped = 0  # records their model refused
        self.appliers: dict[str, tuple[Callable[[bytes, bytes | None], None], bool]] = {
            topics.venues.name: (cache.apply_venue, False),
            topics.devices.name: (cache.apply_device, False),
            topics.persons.name: (cache.apply_person, True),  # resumes from the stored offset
        }

    async def run(self) -> None:
        consumer = self._new_consumer()
        await consumer.start()
        try:
            partitions = []
            for topic in self.appliers:
                for partition in consumer.partitions_for_topic(topic) or await self._partitions(
                        topic, f"registry topic {topic} does not exist: run `ravao kafka topics`"):
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

    def _apply(self, tp: TopicPartition, messages: list[ConsumerRecord]) -> None:
        apply, resumable = self.appliers[tp.topic]
        for message in messages:
            if message.key is None:
                continue
            try:
                apply(message.key, message.value)
            except ValueError:  # a record its model refuses (pydantic's ValidationError): not ours to stop on
                self.skipped += 1
                log.warning("a registry record that is not valid was skipped: %s[%d]@%d", tp.topic, tp.partition,
                            message.offset)
        if messages and resumable:
            self.cache.set_offset(tp.topic, tp.partition, messages[-1].offset + 1)
