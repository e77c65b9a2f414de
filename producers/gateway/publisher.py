"""Publishes scans to Kafka and lets a request await their acknowledgement.

One confluent-kafka producer per gateway process, idempotent with acks=all
(`pipeline.kafka_io.reliable_producer`). A thread polls it, so delivery callbacks run
there; each `publish` call gets one asyncio future that the callbacks resolve on the
event loop when the last of its messages is acknowledged (or one failed). The loop
never blocks on Kafka.

`publish` raises `NotAcknowledged` when the broker does not acknowledge within the
timeout, when a message fails, or when the producer's queue is full: the request then
answers 503, and the client sends the same events again. A message that the broker
acknowledges later anyway is then on the topic twice, with the same event id; the
worker drops the second copy. Nothing is acknowledged to a client before Kafka has it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

from confluent_kafka import KafkaError, Producer

from pipeline.kafka_io import reliable_producer

log = logging.getLogger(__name__)


class NotAcknowledged(Exception):
    """Kafka did not take the messages; retryable."""


class _Pending:
    """The messages of one `publish` call, counted down by delivery callbacks (poll thread)."""

    __slots__ = ("loop", "future", "left", "error")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.loop = loop
        self.future: asyncio.Future = loop.create_future()
        # A request that stopped waiting (timeout) must not leave an unretrieved exception.
        self.future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.left = count
        self.error: str | None = None

    def delivered(self, err: KafkaError | None, _msg: object) -> None:
        if err is not None and self.error is None:
            self.error = str(err)
        self.left -= 1
        if self.left == 0 or err is not None:
            self.loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        if self.future.done():
            return
        if self.error is not None:
            self.future.set_exception(NotAcknowledged(self.error))
        elif self.left == 0:
            self.future.set_result(None)


class Publisher:
    def __init__(self, bootstrap: str, topic: str, ack_timeout: float, **producer_config: object) -> None:
        self.topic = topic
        self.ack_timeout = ack_timeout
        # linger.ms stays at reliable_producer's 5 ms: 1-2 ms cut the latency of an idle
        # gateway by a few ms but multiplied the broker's produce requests, and on a busy
        # 2-core machine single-scan latency then grew worse, not better (bench/gateway.py).
        config = {"error_cb": self._on_error, "queue.buffering.max.messages": 200_000}
        config.update(producer_config)
        self._producer: Producer = reliable_producer(bootstrap, **config)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="kafka-poll", daemon=True)
        self._thread.start()
        self.last_error: str | None = None
        self.fatal = False

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def _on_error(self, err: KafkaError) -> None:
        # Broker down, connection refused, ...: the client retries by itself; the requests
        # waiting meanwhile time out with 503. A fatal error needs a new producer.
        self.last_error = str(err)
        if err.fatal():
            self.fatal = True
            log.error("the Kafka producer failed for good: %s; restart the gateway", err)
        else:
            log.warning("Kafka: %s", err)

    async def publish(self, messages: Sequence[tuple[bytes, bytes]], topic: str | None = None) -> None:
        """Return when Kafka acknowledged every (key, value) of ``messages``, on ``topic``
        (default: the scans topic)."""
        if not messages:
            return
        if self.fatal:
            raise NotAcknowledged(f"the Kafka producer failed: {self.last_error}")
        pending = _Pending(asyncio.get_running_loop(), len(messages))
        produce, topic = self._producer.produce, topic or self.topic
        for key, value in messages:
            try:
                produce(topic, value=value, key=key, on_delivery=pending.delivered)
            except BufferError:
                # The local queue is full (the broker has been away a while). What was queued
                # of this request may still be delivered; the client resends all of it.
                pending.future.cancel()
                raise NotAcknowledged("the Kafka producer's queue is full") from None
        try:
            await asyncio.wait_for(asyncio.shield(pending.future), self.ack_timeout)
        except TimeoutError:
            raise NotAcknowledged(f"Kafka did not acknowledge within {self.ack_timeout:g}s "
                                  f"({self.last_error or 'no error reported'})") from None

    def queued(self) -> int:
        return len(self._producer)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop polling."""
        self._stop.set()
        self._thread.join(5)
        left = self._producer.flush(timeout)
        if left:
            log.warning("%d scan(s) were still unacknowledged at shutdown; their clients got 503 and resend", left)
