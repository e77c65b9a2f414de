"""Publishing a health declaration: one `Declaration` on `declarations`, keyed by person id
(the partitions of the scans), for the worker (the status a scan carries) and the sink
(the personal `declarations` table). `ravao person declare` calls `declare`; a service
that already holds a producer (the gateway) calls `publish_declaration`.

Nothing here logs a declaration: its answers are health data.
"""

from __future__ import annotations

from confluent_kafka import Producer

from schemas.declarations import Declaration

from .kafka_io import ensure_topics, produce_all, reliable_producer
from .registry import Registry, RegistryError
from .topics import TopicSpec


def declaration_message(declaration: Declaration) -> tuple[bytes, bytes]:
    """The (key, value) of a declaration on its topic: keyed by person, like the scans."""
    return declaration.person_id.encode(), declaration.to_bytes()


def publish_declaration(producer: Producer, topic: TopicSpec, declaration: Declaration,
                        timeout: float = 30.0) -> None:
    """Send one declaration and wait until the broker has it (`DeliveryFailed` if not).
    ``topic``: `topics_for(settings).declarations`.

    Example: publish_declaration(reliable_producer(bootstrap), topics_for(settings).declarations, declaration)
    """
    produce_all(producer, topic.name, [declaration_message(declaration)], timeout=timeout)


def declare(registry: Registry, declaration: Declaration) -> Declaration:
    """Publish ``declaration`` for a registered, active person; `RegistryError` otherwise
    (a declaration of nobody would only ever show as `none`)."""
    person = registry.persons().get(declaration.person_id)
    if person is None:
        raise RegistryError(f"unknown person {declaration.person_id!r}: register them first "
                            "(`ravao person add`), or check the id on their card")
    if not person.active:
        raise RegistryError(f"person {declaration.person_id!r} is deactivated: their declarations would never be "
                            "shown")
    spec = registry.topics.declarations
    ensure_topics(registry.bootstrap, [spec], registry.settings.topic_replication)
    producer = reliable_producer(registry.bootstrap)
    try:
        publish_declaration(producer, spec, declaration)
    finally:
        producer.flush(5)
    return declaration
