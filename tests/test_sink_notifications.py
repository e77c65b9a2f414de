"""Notifications land in the warehouse with an SMS recipient's phone masked, their latest
state per notification id; a tombstone lands nothing (real Kafka, real chdb)."""

from __future__ import annotations

import uuid

import pytest

from pipeline.kafka_io import produce_all, reliable_producer
from pipeline.settings import Settings
from pipeline.sink.sink import Sink
from pipeline.topics import Topics
from pipeline.warehouse import open_warehouse
from pipeline.warehouse.migrations import migrate
from schemas import Notification
from schemas.notifications import DeliveryState

from notify_helpers import OWNER

pytestmark = pytest.mark.kafka
EXAMPLE = "schemas/examples/notification/valid/sms_delivered.json"


def test_notifications_land_latest_state_with_the_phone_masked(settings: Settings, topics: Topics) -> None:
    from conftest import ROOT

    sms = Notification.from_bytes((ROOT / EXAMPLE).read_bytes())
    pending = sms.model_copy(update={"state": DeliveryState.pending, "delivered_at": None})
    hook = Notification.from_bytes((ROOT / EXAMPLE.replace("sms_delivered", "webhook_pending_retry")).read_bytes())
    other = uuid.uuid4()
    assert sms.recipient == OWNER
    produce_all(reliable_producer(settings.kafka_bootstrap), topics.notifications.name, [
        (str(pending.notification_id).encode(), pending.to_bytes()), (str(sms.notification_id).encode(), sms.to_bytes()),
        (str(hook.notification_id).encode(), hook.to_bytes()), (str(other).encode(), None)])
    with open_warehouse(settings) as warehouse:
        migrate(warehouse, 30)
        Sink(settings, warehouse, settings.kafka_bootstrap, until_caught_up=True).run()
        rows = warehouse.query("SELECT toString(notification_id), channel, recipient_masked, state, attempts, deleted "
                               "FROM notifications FINAL ORDER BY channel, deleted").rows
        dead = warehouse.query("SELECT count() FROM dead_letters").scalar()
    assert rows == [[str(sms.notification_id), "sms", "098****791", "delivered", 1, False],
                    [str(hook.notification_id), "webhook", "province-eoc", "pending", 2, False]]  # no tombstone row
    assert dead == 0
    assert OWNER not in str(rows)
