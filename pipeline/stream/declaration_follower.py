"""Keeps each person's recent health declarations in memory, from `declarations`, so that
validation can attach the person's status at a scan's time (`status_of`). The gateway
follows the topic with it too, for the status on a scan's answer.

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
accepts current) in a `pipeline.recent_declarations.RecentDeclarations`, the same memory
the gateway keeps (its module says what it holds and costs). At start it reads only that
window of the topic (`offsets_for_times`), not the whole retention. A batch of scans waits
for one ListOffsets request when declarations may have arrived since the last one.

A message that is not a declaration (garbage, oversized, another schema version) is
counted and skipped, named by its position only: the answers never reach a log.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from schemas.declarations import DeclarationStatus

from ..recent_declarations import RecentDeclarations, read_declaration
from .topic_follower import TopicFollower

log = logging.getLogger(__name__)

PRUNE_EVERY = 600.0  # seconds between sweeps of what fell out of the window


class DeclarationFollower(TopicFollower):
    """Reads `declarations` from the window's start, then tails it, into ``declarations``."""

    def __init__(self, bootstrap: str, topic: str, declarations: RecentDeclarations) -> None:
        super().__init__(bootstrap)
        self.topic = topic
        self.declarations = declarations
        self.skipped = 0  # messages that were not declarations
        self._pruned_at = time.monotonic()

    # --- what validation asks --------------------------------------------------------------
    def status_of(self, person_id: str, at: datetime) -> DeclarationStatus:
        return self.declarations.status(person_id, at)

    def apply(self, value: bytes | None, where: str = "") -> None:
        """One message of the topic."""
        declaration = read_declaration(value)
        if declaration is None:
            self.skipped += 1
            log.warning("skipped a message on %s that is not a declaration (%s)", self.topic,
                        where or "unknown offset")
            return
        self.declarations.add(declaration)

    # --- following the topic ---------------------------------------------------------------
    async def run(self) -> None:
        consumer = self._new_consumer()
        await consumer.start()
        try:
            partitions = [TopicPartition(self.topic, p) for p in sorted(await self._partitions(
                self.topic, f"topic {self.topic} does not exist: run `ravao kafka topics`"))]
            consumer.assign(partitions)
            since = self.declarations.clock() - self.declarations.window
            found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
            for tp in partitions:
                if found.get(tp) is None:
                    await consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, found[tp].offset)
            await self.catch_up()
            self.ready.set()
            log.info("declarations loaded: %d persons with a recent one", len(self.declarations))
            while True:
                await self._poll(consumer, 1000)
                if time.monotonic() - self._pruned_at > PRUNE_EVERY:
                    self.declarations.prune()
                    self._pruned_at = time.monotonic()
        finally:
            await consumer.stop()

    def _apply(self, tp: TopicPartition, messages: list[ConsumerRecord]) -> None:
        for message in messages:
            self.apply(message.value, f"partition {tp.partition}, offset {message.offset}")
