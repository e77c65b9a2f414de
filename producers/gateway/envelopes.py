"""The scans of one partition as one Kafka message (`schemas.envelopes`), across requests.

Each message costs the producer, the broker and above all the worker (Faust spends about
as much on a message as the whole of a scan's work) the same whatever it holds, so the
gateway publishes the scans of one partition of `scans.raw` (the person's: the same murmur2
as Faust, `pipeline.stream.layout.partition_of`) together, as an envelope:

- the scans of one request go together (a station's batch: one envelope per partition);
- with a flush window (RAVAO_GATEWAY_FLUSH_MS, a few ms), the scans of every request that
  arrives within it go together too: the first scan of a window starts its clock, so a
  single scan at low load waits at most the window, never for it to fill;
- `pack` keeps each message within `MAX_ENVELOPE_RECORDS` and `MAX_ENVELOPE_BYTES`; a scan
  alone in its partition's window goes as itself, as before envelopes.

A request still answers only after Kafka acknowledged every message that holds one of its
scans; when one of them fails, every request with a scan in that partition's window gets
503 and sends its scans again (same event ids; the worker drops the copies). A window's
scans of one partition stand or fall together: that is one message, or, past the limits,
a few that are treated as one.

With envelopes off (RAVAO_GATEWAY_ENVELOPES=false, for workers that read no envelopes),
every scan is its own message, keyed by its person, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from pipeline.stream.layout import partition_of
from schemas.envelopes import pack

from .publisher import NotAcknowledged, Publisher


class _Window:
    """The scans of one partition gathered for the next flush, and the future their
    requests wait on."""

    __slots__ = ("records", "done")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.records: list[tuple[bytes, bytes]] = []
        self.done: asyncio.Future = loop.create_future()
        self.done.add_done_callback(lambda f: f.cancelled() or f.exception())


def _follow(acknowledged: asyncio.Future, window: _Window) -> None:
    if window.done.done():
        return
    if acknowledged.cancelled():
        window.done.set_exception(NotAcknowledged("the messages were not sent"))
    elif acknowledged.exception() is not None:
        window.done.set_exception(acknowledged.exception())
    else:
        window.done.set_result(None)


class ScanPublisher:
    """Publishes raw scans as envelopes per partition (or one message each, when off)."""

    def __init__(self, publisher: Publisher, partitions: int, flush_seconds: float, envelopes: bool = True,
                 sent: Callable[[int, int], None] = lambda messages, scans: None) -> None:
        self.publisher = publisher
        self.partitions = partitions
        self.flush_seconds = flush_seconds
        self.envelopes = envelopes
        self.sent = sent  # (messages, scans) handed to Kafka: the metrics
        self._windows: dict[int, _Window] = {}
        self._timer: asyncio.TimerHandle | None = None

    async def publish(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        """Return once Kafka acknowledged every message holding one of these (person id,
        raw scan) records; `NotAcknowledged` otherwise."""
        if not records:
            return
        if not self.envelopes:
            self.sent(len(records), len(records))
            return await self.publisher.publish(records)
        loop = asyncio.get_running_loop()
        by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
        for key, value in records:
            by_partition.setdefault(partition_of(key, self.partitions), []).append((key, value))
        if self.flush_seconds <= 0:
            windows = {partition: _Window(loop) for partition in by_partition}
            for partition, window in windows.items():
                window.records = by_partition[partition]
                self._send(partition, window)
        else:
            windows = {partition: self._windows.get(partition) or self._open(partition, loop)
                       for partition in by_partition}
            for partition, window in windows.items():
                window.records.extend(by_partition[partition])
            if self._timer is None:
                self._timer = loop.call_later(self.flush_seconds, self.flush)
        await self.publisher.wait(*(window.done for window in windows.values()))

    def _open(self, partition: int, loop: asyncio.AbstractEventLoop) -> _Window:
        window = self._windows[partition] = _Window(loop)
        return window

    def flush(self) -> None:
        """Send every gathered window now (the timer's end, or the gateway stopping)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        windows, self._windows = self._windows, {}
        for partition, window in windows.items():
            self._send(partition, window)

    def _send(self, partition: int, window: _Window) -> None:
        # The message's key is its first scan's person: a single scan is keyed as before
        # envelopes, and an envelope's key hashes to its own partition anyway.
        key = window.records[0][0]
        messages = [(key, value) for value in pack(value for _, value in window.records)]
        self.sent(len(messages), len(window.records))
        try:
            acknowledged = self.publisher.send(messages, partition=partition)
        except NotAcknowledged as error:
            window.done.set_exception(error)
            return
        acknowledged.add_done_callback(lambda f: _follow(f, window))
