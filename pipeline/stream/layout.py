"""The partition layout the worker relies on: a person's partition is the same in every
person-keyed topic and in the state table."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.partitioner import murmur2

from schemas.envelopes import MAX_ENVELOPE_RECORDS, packed

from ..kafka_io import partition_counts
from ..topics import Topics


def partition_of(key: bytes, partitions: int) -> int:
    """The partition the Kafka default partitioner gives ``key`` (murmur2, as aiokafka
    and the Java client do), to know which table keys belong to a ticked partition."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def in_envelopes(messages: Iterable[tuple[bytes, bytes]], partitions: int,
                 size: int = MAX_ENVELOPE_RECORDS) -> list[tuple[bytes, bytes]]:
    """(key, value) messages as envelopes (`schemas.envelopes`): the records of one
    partition (by their key, as the producer's murmur2 places them) in envelopes of up to
    ``size``, in their order within the partition, each keyed by its first record's key
    (so the producer puts it in that partition)."""
    by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
    for key, value in messages:
        by_partition.setdefault(partition_of(key, partitions), []).append((key, value))
    out = []
    for group in by_partition.values():
        for start in range(0, len(group), size):
            chunk, at = group[start:start + size], 0
            for count, message in packed(value for _, value in chunk):
                out.append((chunk[at][0], message))
                at += count
    return out


class TopicLayoutError(RuntimeError):
    pass


def check_partitions(bootstrap: str, topics: Topics) -> None:
    """The person-keyed topics must have the partitions the settings say: a person's state
    lives in table partition N, written while processing partition N of scans.raw or of
    scans.repartition, and Faust gives partition N of each to the same worker only when
    their counts agree. A topic created by hand with other counts is refused, not guessed at."""
    specs = [topics.scans_raw, topics.scans_valid, topics.scans_repartition, topics.visits]
    actual = partition_counts(bootstrap, [spec.name for spec in specs])
    wrong = [f"{spec.name} has {actual[spec.name]}" for spec in specs
             if spec.name in actual and actual[spec.name] != spec.partitions]
    if wrong:
        raise TopicLayoutError(
            f"{', '.join(wrong)} partitions, but RAVAO_TOPIC_PARTITIONS is {specs[0].partitions}: the worker needs "
            "scans.raw, scans.valid, scans.repartition and visits to have that many. Set RAVAO_TOPIC_PARTITIONS "
            "to the count the topics were created with (persons' states are kept by partition: changing the "
            "count of existing topics moves persons away from their state)")
