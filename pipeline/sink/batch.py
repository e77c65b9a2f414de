"""What the sink has read and not yet written: rows per table, and how far each topic
partition has been read."""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from schemas.envelopes import PREFIX as ENVELOPE
from schemas.envelopes import EnvelopeError, unpack

from .routes import POSITION, Route, envelope_row

Source = tuple[str, int]  # (topic, partition)
# Where a row was read (topic partition, offset), the row's JSON line, the message value
# (or the envelope's record) it was made from (None for a tombstone's row), kept for
# checking, and the record's place in its envelope (None: the message was the record).
Entry = tuple[Source, int, bytes, "bytes | None", "int | None"]


@dataclass
class Batch:
    rows: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))  # by table
    first: dict[Source, int] = field(default_factory=dict)
    next: dict[Source, int] = field(default_factory=dict)
    messages: int = 0
    records: int = 0  # rows to insert: an envelope's records each (a batch is bounded by these)
    started: float = 0.0

    def take(self, messages: list, routes: dict[str, Route], on_error: Callable) -> None:
        """Note every message of one poll (errors go to ``on_error``). This loop runs once
        per message, so the common case (a value to append the position to, as
        `Route.row` does) is written out here: a method call per message costs more than
        the work."""
        if not messages:
            return
        if not self.messages:
            self.started = time.monotonic()
        rows, first, following = self.rows, self.first, self.next
        taken = 0
        for message in messages:
            if message.error() is not None:
                on_error(message)
                continue
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            source = (topic, partition)
            if source not in first:
                first[source] = offset
            following[source] = offset + 1
            taken += 1
            value = message.value()
            route = routes[topic]
            if value is not None and not value.startswith(ENVELOPE):
                rows[route.table].append((source, offset, value.rstrip()[:-1] + POSITION % (partition, offset), value,
                                          None))
                continue
            if value is not None:  # an envelope: a row per record, all at the envelope's position
                try:
                    records = unpack(value)
                except EnvelopeError as exc:
                    row = envelope_row(route, value, partition, offset, str(exc))
                    rows[row.table].append((source, offset, row.line, value, None))
                    continue
                at = POSITION % (partition, offset)
                rows[route.table].extend((source, offset, record.rstrip()[:-1] + at, record, index)
                                         for index, record in enumerate(records))
                continue
            row = route.row(message.key(), value, partition, offset)  # a tombstone
            if row is not None:
                rows[row.table].append((source, offset, row.line, row.value, None))
        self.messages += taken
        self.records = sum(len(entries) for entries in rows.values())

    def __bool__(self) -> bool:
        return self.messages > 0

    def due(self, max_rows: int, max_seconds: float) -> bool:
        return self.records >= max_rows or (
            self.messages > 0 and time.monotonic() - self.started >= max_seconds)

    def identity(self) -> str:
        """What this batch read, as a short hash: the same source ranges give the same
        identity, hence the same insert deduplication tokens, after a restart too."""
        ranges = ";".join(f"{t}:{p}:{self.first[(t, p)]}-{self.next[(t, p)] - 1}" for t, p in sorted(self.first))
        return hashlib.sha256(ranges.encode()).hexdigest()[:32]

    def forget(self, sources: set[Source]) -> int:
        """Drop what came from ``sources`` (partitions taken away while the warehouse was
        down: their next owner reads them again). Returns the messages dropped."""
        if not sources:
            return 0
        for table, entries in self.rows.items():
            self.rows[table] = [e for e in entries if e[0] not in sources]
        dropped = 0
        for source in sources:
            if source in self.first:
                dropped += self.next.pop(source) - self.first.pop(source)
        self.messages = max(0, self.messages - dropped)
        self.records = sum(len(entries) for entries in self.rows.values())
        return dropped
