"""`ravao sink`: Kafka -> ClickHouse, in batches, idempotently.

Life cycle of one process:

1. open the warehouse (the embedded engine is this process's alone), apply migrations,
   check the tier counts against the raw scans (`pipeline.warehouse.tier_counts`);
2. join the consumer group; on every assignment, start each partition at the position
   stored in the warehouse (``sink_positions``), not at Kafka's committed offset, so the
   position and the data it covers live and die together (``--replay``: from offset 0);
3. loop: read messages into a `Batch`; when it holds RAVAO_SINK_BATCH_ROWS messages or is
   RAVAO_SINK_BATCH_SECONDS old, write it (`write_batch`), then commit the offsets to
   Kafka, which only serves lag monitoring;
4. when the warehouse is down, or a step of the batch failed for a reason that is not its
   rows (`BatchIncomplete`: cancelled, out of parts or memory): pause every partition,
   keep polling (librdkafka leaves the group if poll() is not called within
   max.poll.interval.ms) and retry the same batch with doubling waits; never drop it,
   never commit past it; the attempt after a failure repairs the tier counts first;
5. on SIGTERM/SIGINT: write what is read, commit, leave the group, close.
"""

from __future__ import annotations

import logging
import signal
import socket
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from ..kafka_io import ensure_topics
from ..settings import Settings
from ..topics import groups_for, topics_for
from ..warehouse import Warehouse, WarehouseUnavailable
from .batch import Batch
from .metrics import SinkMetrics
from .routes import routes_for
from .writer import BatchIncomplete, stored_positions, write_batch

log = logging.getLogger(__name__)

POLL_MESSAGES = 5_000
ISOLATE_AFTER = 3  # failed attempts of one batch before looking for a record that makes them fail
REPORT_EVERY = 30.0
LAG_EVERY = 5.0  # seconds between updates of the lag gauges


class Sink:
    def __init__(self, settings: Settings, warehouse: Warehouse, bootstrap: str, *, group: str | None = None,
                 replay: bool = False, until_caught_up: bool = False, metrics: SinkMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or SinkMetrics()
        self.warehouse = warehouse
        self.bootstrap = bootstrap
        self.topics = topics_for(settings)
        self.routes = routes_for(self.topics)
        self.group = group or groups_for(settings).sink
        self.replay = replay
        self.until_caught_up = until_caught_up
        self.batch = Batch()
        self.stopping = False
        self.closing = False
        self.assigned: set[tuple[str, int]] = set()
        self.ends: dict[tuple[str, int], int] = {}  # --until-caught-up: end offsets at assignment
        self.done: dict[tuple[str, int], int] = {}  # next offset written, per partition
        self.outage = False
        self.failed = False  # an attempt at writing the current batch failed part-way
        self.failures = 0  # attempts at the current batch that failed for a reason not its rows
        self.totals: dict[str, int] = {}
        self._report_at = time.monotonic() + REPORT_EVERY
        self._lag_at = 0.0
        self.consumer: Consumer | None = None

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        ensure_topics(self.bootstrap, self.topics.all(), self.settings.topic_replication)
        config = {
            "bootstrap.servers": self.bootstrap,
            "group.id": self.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "range",
            "fetch.max.bytes": 16 * 1024 * 1024,
            "log_level": 3,
        }
        if self.warehouse.exclusive:
            # One sink per embedded warehouse: a static member, so a restarted (or killed and
            # restarted) sink takes its partitions back at once instead of waiting for the
            # broker to time the old session out.
            config["group.instance.id"] = f"{self.group}@{socket.gethostname()}:{self.warehouse.location}"[:240]
        self.consumer = Consumer(config)
        self.consumer.subscribe(sorted(self.routes), on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("sink reading %d topics as group %s into %s", len(self.routes), self.group, self.warehouse.location)
        try:
            while not self.stopping:
                self.batch.take(self.consumer.consume(POLL_MESSAGES, timeout=0.2), self.routes, self._kafka_error)
                if self.batch.due(self.settings.sink_batch_rows, self.settings.sink_batch_seconds):
                    self.flush()
                if self.until_caught_up and self._read_to_ends():
                    self.flush()  # nothing more will come for this run: no reason to wait
                    log.info("caught up with the end offsets seen at start: stopping")
                    break
                self._report()
            self.flush()
        finally:
            self.closing = True  # the revocation that closing makes leaves the last positions reported
            self.consumer.close()
            log.info("sink stopped; rows written: %s", self.totals or "none")

    def stop(self, *_: object) -> None:
        self.stopping = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def _kafka_error(self, message) -> None:
        error = message.error()
        if error.fatal():
            raise KafkaException(error)
        if error.code() != KafkaError._PARTITION_EOF:
            log.warning("kafka: %s", error)

    # --- writing, with back-pressure ----------------------------------------------------------
    def flush(self) -> None:
        """Write the batch; while the warehouse is down, or a step of the batch fails for a
        reason that is not its rows (`BatchIncomplete`: the insert cancelled, the engine out
        of memory...), pause and retry the same batch until it is written (or the process is
        told to stop: then nothing is committed and the batch is read again at the next
        start). An attempt after a failed one also checks the tier counts (writer.py)."""
        delay = 0.5
        while self.batch:
            try:
                self._write()
                return
            except (WarehouseUnavailable, BatchIncomplete) as exc:
                self.failed = True
                self.failures += isinstance(exc, BatchIncomplete)
                self.metrics.failed("batch_incomplete" if isinstance(exc, BatchIncomplete) else "warehouse_unavailable")
                if not self.outage:
                    self.outage = True
                    self.consumer.pause(self._assignment())
                if self.stopping:
                    log.error("stopping with %d messages unwritten (%s); they will be read again at the next start",
                              self.batch.messages, "the warehouse is down" if isinstance(exc, WarehouseUnavailable)
                              else "a step of their batch failed")
                    self.batch = Batch()
                    return
                if isinstance(exc, WarehouseUnavailable):
                    log.warning("warehouse unavailable, consuming paused, retrying in %.1fs: %s", delay, exc)
                else:
                    log.warning("writing a batch of %d messages failed part-way, consuming paused; writing it again "
                                "in %.1fs, then checking the counts (nothing is skipped): %s",
                                self.batch.messages, delay, exc)
                    if self.failures == ISOLATE_AFTER:
                        log.warning("the batch failed %d times in a row: the next attempts halve it, looking for a "
                                    "record the engine refuses alone (it would become a dead letter)", self.failures)
                self._wait(delay)
                delay = min(delay * 2, self.settings.sink_retry_max_seconds)

    def _write(self) -> None:
        """One attempt at writing the batch, then the bookkeeping; never polls Kafka (it
        also runs inside a rebalance callback)."""
        started = time.perf_counter()
        written = write_batch(self.warehouse, self.batch, self.routes, after_failure=self.failed,
                              isolate=self.failures >= ISOLATE_AFTER)
        self.metrics.written(self.batch, written.rows, written.refused, time.perf_counter() - started)
        self.failed, self.failures = False, 0
        if self.outage:
            self.outage = False
            self.consumer.resume(self._assignment())
            log.info("warehouse back: consuming resumed")
        for table, count in written.rows.items():
            table = "scans" if table == "scans_incoming" else table
            self.totals[table] = self.totals.get(table, 0) + count
        self.done.update(self.batch.next)
        self._commit(self.batch.next)
        self.batch = Batch()

    def _wait(self, seconds: float) -> None:
        """Sleep while keeping the consumer in its group (paused partitions fetch nothing;
        a message already fetched before the pause joins the batch)."""
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            message = self.consumer.poll(min(0.5, max(0.0, deadline - time.monotonic())))
            if message is not None:
                self.batch.take([message], self.routes, self._kafka_error)

    def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        mine = [TopicPartition(t, p, o) for (t, p), o in offsets.items() if (t, p) in self.assigned]
        if not mine:
            return
        try:
            self.consumer.commit(offsets=mine, asynchronous=True)
        except KafkaException as exc:  # lag monitoring only: the position is in the warehouse
            log.warning("committing offsets to Kafka failed: %s", exc)

    # --- rebalancing ---------------------------------------------------------------------------
    def _assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in sorted(self.assigned)]

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        names = sorted({tp.topic for tp in partitions})
        delay = 0.5
        while True:
            try:
                stored = {} if self.replay else stored_positions(self.warehouse, names)
                break
            except WarehouseUnavailable as exc:
                if self.stopping:
                    stored = {}
                    break
                log.warning("warehouse unavailable, cannot read the stored positions; retrying in %.1fs: %s",
                            delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, self.settings.sink_retry_max_seconds)
        for tp in partitions:
            source = (tp.topic, tp.partition)
            tp.offset = stored.get(source, OFFSET_BEGINNING)
            self.assigned.add(source)
            if self.until_caught_up:
                low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=15)
                self.ends[source] = high
                # Reading starts at the stored position, or at the oldest offset still kept.
                self.done[source] = max(self.done.get(source, 0), tp.offset, low)
        consumer.assign(partitions)
        if self.outage:
            consumer.pause(partitions)
        log.info("assigned %d partitions (%s)", len(partitions), "from offset 0" if self.replay else
                 f"{sum(1 for tp in partitions if tp.offset >= 0)} at stored positions, the rest from the start")

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        if self.batch and not self.outage:
            try:
                self._write()
            except (WarehouseUnavailable, BatchIncomplete):
                self.failed = True
        if self.batch:
            dropped = self.batch.forget(revoked)
            if dropped:
                log.warning("%d unwritten messages of revoked partitions left for their next owner", dropped)
        self.assigned -= revoked
        if not self.closing:
            self.metrics.forget(revoked)  # another sink's to report now
        for source in revoked:
            self.ends.pop(source, None)

    def _read_to_ends(self) -> bool:
        """--until-caught-up: has every assigned partition been read to the end offset it
        had when assigned?"""
        if not self.assigned:
            return False
        positions = self.consumer.position(self._assignment())
        return all(
            max(tp.offset, self.done.get((tp.topic, tp.partition), 0)) >= self.ends.get((tp.topic, tp.partition), 0)
            for tp in positions
        )

    def _report(self) -> None:
        now = time.monotonic()
        if now >= self._lag_at:
            self._lag_at = now + LAG_EVERY
            self.metrics.lag(self.consumer, self.assigned, self.done)
        if now < self._report_at:
            return
        self._report_at = now + REPORT_EVERY
        log.info("sink: rows written so far %s", self.totals or "none")
