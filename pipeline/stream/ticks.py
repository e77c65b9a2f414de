"""The wall clock in the pairing: a timer sends a tick to each `scans.repartition`
partition the worker owns, and the agent then closes the visits of that partition whose
maximum stay has passed (`advance`). A mixin of `Worker`, whose table, cache and
batches it uses."""

from __future__ import annotations

from faust.types import EventT

from ..pairing import PersonState, advance
from .batch import Batch, OpenVisits
from .faust_seam import active_partitions, on_behalf_of
from .layout import partition_of

TICK = b'{"tick":1}'


class WallClock:
    def _owned_partitions(self) -> list[int]:
        return active_partitions(self.app, self.repartition_topic.get_topic_name())

    async def _send_ticks(self) -> None:
        for partition in self._owned_partitions():
            await self._send(self.repartition_name, None, TICK, partition=partition)

    def _rebuild_open_visits(self) -> None:
        owned = frozenset(self._owned_partitions())
        if owned == self.open_visits.built_for:
            return
        partitions = self.topics.scans_repartition.partitions
        self.open_visits = OpenVisits(built_for=owned)
        for key, value in self.states.items():
            self.open_visits.note(key, partition_of(key.encode(), partitions), PersonState.from_bytes(value))

    def _on_tick(self, event: EventT, batch: Batch) -> None:
        self._rebuild_open_visits()
        partition = event.message.partition
        now = self.clock()
        for key in self.open_visits.due(partition, now.timestamp()):
            with on_behalf_of(event):
                gone = key not in self._cache and not self.states.get(key)
            if gone:
                self.open_visits.deadlines.pop(key, None)
                continue
            state, visits = advance(self._state_of(key, event), now, self.debounce, self.horizon)
            self.metrics.inc("visits_timed_out_by_clock", by=sum(v.exit_how == "timeout" for v in visits))
            batch.add(key, event, state, visits)
            self._cache[key] = state
            self.open_visits.note(key, partition, state)

