"""What the agents keep between events: the open visits the wall clock must look at, and
what one batch of events changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from faust.types import EventT

from ..pairing import PersonState, next_timeout
from .outbox import Outbox


@dataclass
class OpenVisits:
    """In memory: person -> (partition, when the open visit times out). Rebuilt from the
    table after each rebalance; it only tells the tick whom to look at."""

    deadlines: dict[str, tuple[int, float]] = field(default_factory=dict)
    built_for: frozenset = frozenset()

    def note(self, person: str, partition: int, state: PersonState) -> None:
        deadline = next_timeout(state)
        if deadline is None:
            self.deadlines.pop(person, None)
        else:
            self.deadlines[person] = (partition, deadline.timestamp())

    def due(self, partition: int, now: float) -> list[str]:
        return [p for p, (part, at) in self.deadlines.items() if part == partition and at <= now]


@dataclass
class Batch:
    """What a batch of events changed: each person's latest state, with the event to write
    it on behalf of (the person's partition), the visits to send once it is written, and
    the valid and repartitioned scans to send with them (`outbox`)."""

    states: dict[str, tuple[EventT, PersonState]] = field(default_factory=dict)
    visits: list[tuple[str, int, list]] = field(default_factory=list)
    outbox: Outbox = field(default_factory=Outbox)
    scans: int = 0  # scans taken (an envelope holds many)

    def add(self, key: str, event: EventT, state: PersonState, visits: list) -> None:
        self.states[key] = (event, state)
        if visits:
            self.visits.append((key, event.message.partition, visits))
