"""Publishes messages to Kafka and lets a request await their acknowledgement.

One confluent-kafka producer per gateway process, idempotent with acks=all
(`pipeline.kafka_io.reliable_producer`). A thread polls it, so delivery callbacks run
there; each `send` gets one asyncio future, resolved on the event loop when the last of
its messages is acknowledged (or one failed). The callbacks only count down: what they
settle is handed to the loop once per poll (one wake-up of the loop for every message
acknowledged in that poll, not one each), and the poll thread takes the GIL as little as
it can, since the loop waits for it every time it does. The loop never blocks on Kafka.

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

from confluent_kafka import KafkaError, KafkaException, Producer

from pipeline.kafka_io import reliable_producer

log = logging.getLogger(__name__)


class NotAcknowledged(Exception):
    """Kafka did not take the messages; retryable."""


def _retrieved(future: asyncio.Future) -> None:
    # A request that stopped waiting (timeout) must not leave an unretrieved exception.
    if not future.cancelled():
        future.exception()


class _Pending:
    """The messages of one `send`, counted down by delivery callbacks (poll thread)."""

    __slots__ = ("future", "left", "error", "settled")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int, settled: list) -> None:
        self.future: asyncio.Future = loop.create_future()
        self.future.add_done_callback(_retrieved)
        self.left = count
        self.error: str | None = None
        self.settled = settled  # the publisher's: handed to the loop after this poll

    def delivered(self, err: KafkaError | None, _msg: object) -> None:
        first_error = err is not None and self.error is None
        if first_error:
            self.error = str(err)
        self.left -= 1
        if self.left == 0 or first_error:
            self.settled.append(self)

    def settle(self) -> None:
        if self.future.done():
            return
        if self.error is not None:
            self.future.set_exception(NotAcknowledged(self.error))
        elif self.left == 0:
            self.future.set_result(None)


def _settle_all(pendings: list[_Pending]) -> None:
    for pending in pendings:
        pending.settle()


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
        self._settled: list[_Pending] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="kafka-poll", daemon=True)
        self._thread.start()
        self.last_error: str | None = None
        self.fatal = False

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)
            self._hand_over()

    def _hand_over(self) -> None:
        """Give the loop what the last callbacks settled, in one call."""
        if self._settled and self._loop is not None:
            settled, self._settled[:] = self._settled[:], []
            try:
                self._loop.call_soon_threadsafe(_settle_all, settled)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    def _on_error(self, err: KafkaError) -> None:
        # Broker down, connection refused, ...: the client retries by itself; the requests
        # waiting meanwhile time out with 503. A fatal error needs a new producer.
        self.last_error = str(err)
        if err.fatal():
            self.fatal = True
            log.error("the Kafka producer failed for good: %s; restart the gateway", err)
        else:
            log.warning("Kafka: %s", err)

    def send(self, messages: Sequence[tuple[bytes, bytes]], topic: str | None = None,
             partition: int | None = None) -> asyncio.Future:
        """Queue every (key, value) of ``messages`` on ``topic`` (default: the scans topic),
        in ``partition`` if given (else the key's); a future that is done when Kafka
        acknowledged them all, or failed with `NotAcknowledged`. Raises `NotAcknowledged`
        at once when the producer failed for good, its queue is full or it refused a
        message."""
        if self.fatal:
            raise NotAcknowledged(f"the Kafka producer failed: {self.last_error}")
        self._loop = loop = asyncio.get_running_loop()
        pending = _Pending(loop, len(messages), self._settled)
        if not messages:
            pending.future.set_result(None)
            return pending.future
        produce, topic = self._producer.produce, topic or self.topic
        extra = {} if partition is None else {"partition": partition}
        for key, value in messages:
            try:
                produce(topic, value=value, key=key, on_delivery=pending.delivered, **extra)
            except BufferError:
                # The local queue is full (the broker has been away a while). What was queued
                # may still be delivered; the clients resend all of it.
                pending.future.cancel()
                raise NotAcknowledged("the Kafka producer's queue is full") from None
            except KafkaException as error:  # refused by the client itself (e.g. over its size limit)
                pending.future.cancel()
                raise NotAcknowledged(f"the Kafka producer refused the message: {error}") from None
        return pending.future

    async def wait(self, *futures: asyncio.Future) -> None:
        """Return when every future of `send` is done; `NotAcknowledged` for the first
        that failed, or when they are not done within the ack timeout."""
        try:
            await asyncio.wait_for(asyncio.gather(*map(asyncio.shield, futures)), self.ack_timeout)
        except TimeoutError:
            raise NotAcknowledged(f"Kafka did not acknowledge within {self.ack_timeout:g}s "
                                  f"({self.last_error or 'no error reported'})") from None

    async def publish(self, messages: Sequence[tuple[bytes, bytes]], topic: str | None = None) -> None:
        """Return when Kafka acknowledged every (key, value) of ``messages``, on ``topic``
        (default: the scans topic)."""
        if messages:
            await self.wait(self.send(messages, topic))

    def queued(self) -> int:
        return len(self._producer)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop polling."""
        self._stop.set()
        self._thread.join(5)
        left = self._producer.flush(timeout)
        self._hand_over()
        if left:
            log.warning("%d message(s) were still unacknowledged at shutdown; their clients got 503 and resend",
                        left)
