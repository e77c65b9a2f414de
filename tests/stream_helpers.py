"""Running workers as a user would (`ravao worker` subprocesses) and reading what they
wrote back from the real broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from conftest import ROOT, settings_env
from pipeline.kafka_io import read_to_end, reliable_producer
from pipeline.settings import Settings
from pipeline.topics import groups_for
from schemas import DeadLetter, ValidScan, Visit
from schemas.envelopes import unpack

VOLATILE = {"updated_at"}


def start_worker(settings: Settings, name: str, log_dir: Path, **env: str) -> subprocess.Popen:
    environment = settings_env(settings)
    environment.update({"RAVAO_WORKER_PORT": "0", "RAVAO_TICK_SECONDS": "1", **env})
    log = open(log_dir / f"{name}.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "pipeline", "worker", "--name", name, "--loglevel", "warning"],
                            env=environment, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                            start_new_session=True)


def stop_worker(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    return process.wait(timeout)


def timed_stop(process: subprocess.Popen, timeout: float = 60) -> tuple[int, float]:
    """SIGTERM, then the exit status and the seconds the process took to exit."""
    assert process.poll() is None, f"the worker had already exited ({process.returncode})"
    started = time.monotonic()
    code = stop_worker(process, signal.SIGTERM, timeout)
    return code, time.monotonic() - started


# The local broker's message.max.bytes (Kafka's default): the largest record batch it takes.
BROKER_MAX_MESSAGE_BYTES = 1_048_588
LARGEST_VALUE = BROKER_MAX_MESSAGE_BYTES - 512  # what fits in one batch with its key and headers


def hostile_producer(settings: Settings):
    """A producer that sends what the broker accepts, uncompressed: a value of about 1 MiB
    reaches the broker at its real size."""
    return reliable_producer(settings.kafka_bootstrap, **{"message.max.bytes": BROKER_MAX_MESSAGE_BYTES,
                                                          "compression.type": "none"})


def records_on(settings: Settings, topic: str) -> list[bytes]:
    """Every record on ``topic``, in order: a message's value, or each record of an envelope."""
    return [record for _, v, _, _ in read_to_end(settings.kafka_bootstrap, topic) if v for record in unpack(v)]


def visit_records(settings: Settings, topic: str) -> list[Visit]:
    return [Visit.from_bytes(v) for v in records_on(settings, topic)]


def valid_scans_on(settings: Settings, topic: str) -> list[ValidScan]:
    return [ValidScan.from_bytes(v) for v in records_on(settings, topic)]


def latest_visits(records: list[Visit]) -> dict[str, Visit]:
    """The latest version of every visit id. Redelivered records (same id and version)
    must say the same thing: anything else is a bug."""
    latest: dict[str, Visit] = {}
    seen: dict[tuple[str, int], dict] = {}
    for visit in records:
        body = visit.model_dump(exclude=VOLATILE)
        key = (str(visit.visit_id), visit.version)
        assert seen.setdefault(key, body) == body, f"two different records for visit {key}"
        current = latest.get(key[0])
        if current is None or visit.version > current.version:
            latest[key[0]] = visit
    return latest


def as_tuples(latest: dict[str, Visit]) -> set[tuple]:
    return {(v.person_id, v.venue_id, v.t_in, v.t_out, v.entry_how.value, v.exit_how.value)
            for v in latest.values() if not v.deleted}


def dead_letters(settings: Settings, topic: str) -> list[DeadLetter]:
    return [DeadLetter.from_bytes(v) for _, v, _, _ in read_to_end(settings.kafka_bootstrap, topic) if v]


def wait_for(condition: Callable[[], bool], timeout: float, what: str | Callable[[], str],
             workers: list[subprocess.Popen] = (), logs: Path | None = None) -> None:
    """Poll ``condition`` each second; fail when a worker exits or after ``timeout``,
    saying ``what`` (text, or a function giving it then) with the workers' log tails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for worker in workers:
            if worker.poll() is not None:
                raise AssertionError(f"a worker exited ({worker.returncode}) while waiting for "
                                     f"{what() if callable(what) else what}:\n{log_tails(logs)}")
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what() if callable(what) else what}:\n"
                         f"{log_tails(logs)}")


def log_tails(logs: Path | None, chars: int = 3000) -> str:
    """The end of every process log under ``logs``, each under its name."""
    if logs is None:
        return ""
    return "".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}\n" for p in sorted(logs.glob("*.log")))


def count_messages(settings: Settings, topic: str) -> int:
    return sum(1 for _ in read_to_end(settings.kafka_bootstrap, topic))



def lag(settings: Settings, group: str, topic: str) -> int:
    """Messages of ``topic`` not yet committed by consumer group ``group``."""
    by_partition = offsets(settings, group, topic)
    return -1 if by_partition is None else sum(end - committed for committed, end in by_partition.values())


def offsets(settings: Settings, group: str, topic: str) -> dict[int, tuple[int, int]] | None:
    """Partition -> (offset committed by ``group``, end offset) of ``topic``; None while
    the group's coordinator is still being chosen."""
    from confluent_kafka import Consumer, TopicPartition

    from confluent_kafka import KafkaException

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        tps = [TopicPartition(topic, p) for p in partitions]
        try:
            committed = consumer.committed(tps, timeout=10)
        except KafkaException:  # the group's coordinator is still being chosen
            return None
        return {tp.partition: (max(tp.offset, 0),
                               consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)[1])
                for tp in committed}
    finally:
        consumer.close()


def settle(settings: Settings, workers: list[subprocess.Popen], logs: Path, timeout: float = 180) -> None:
    """Wait until the workers have taken in every raw scan, then every scan handed on
    through scans.repartition (a station's, keyed by device: paired after its raw scan
    was committed, and a rebalance can hold it back for seconds), and the visits topic
    has been quiet for a few seconds."""
    group = groups_for(settings).worker
    raw = f"{settings.topic_prefix}scans.raw"
    repartition = f"{settings.topic_prefix}scans.repartition"
    visits = f"{settings.topic_prefix}visits"
    wait_for(lambda: lag(settings, group, raw) == 0, timeout,
             lambda: f"the raw scans to be consumed ((committed, end) by partition: {offsets(settings, group, raw)})",
             workers, logs)
    # Raw scans are committed only after what they handed on was sent: it is all there now
    # (the wall clock's ticks keep arriving, and are taken within a second).
    wait_for(lambda: lag(settings, group, repartition) == 0, timeout, "the repartitioned scans to be consumed",
             workers, logs)
    counts = []

    def quiet() -> bool:
        counts.append(count_messages(settings, visits))
        return len(counts) >= 4 and len(set(counts[-4:])) == 1

    wait_for(quiet, timeout, "the visits topic to settle", workers, logs)
