"""The worker's person states: each person's pairing state, in the Faust table (RocksDB,
with its changelog on Kafka) behind an in-memory cache of decoded states.

A mixin of `pipeline.stream.worker.Worker`, which declares ``self.states`` (the table) and
``self._cache`` in `_declare`. Every read and write of a state is made on behalf of the
event it is for (`on_behalf_of`): the table partition, and the changelog's, are that
event's.
"""

from __future__ import annotations

from cachetools import LRUCache
from faust.types import EventT

from ..person_state import PersonState
from .faust_seam import on_behalf_of

STATE_CACHE_SIZE = 200_000  # persons whose decoded state is kept in memory (a few KB each) ...


def state_cache() -> LRUCache:
    """... the least recently used go first when it is full (no burst of store reads)."""
    return LRUCache(STATE_CACHE_SIZE)


class PersonStates:
    states: object
    _cache: LRUCache

    def _state_of(self, key: str, event: EventT) -> PersonState:
        """The person's state: from the in-memory cache, else from the table. Only the
        owner of a partition writes its persons, so the cache is exact until a rebalance,
        which clears it."""
        state = self._cache.get(key)
        if state is None:
            with on_behalf_of(event):
                stored = self.states.get(key)
            state = PersonState.from_bytes(stored) if stored else PersonState(key)
            self._cache[key] = state
        return state

    def _write_states(self, states: dict[str, tuple[EventT, PersonState]]) -> None:
        for key, (event, state) in states.items():
            with on_behalf_of(event):  # the table partition, and the changelog's, of that event
                if state.is_empty:
                    self.states.pop(key, None)
                    self._cache.pop(key, None)
                else:
                    self.states[key] = state.to_bytes()

    async def _forget_cached_states(self, *_args, **_kwargs) -> None:
        self._cache.clear()
