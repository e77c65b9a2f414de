"""Accounts land in the warehouse as a history of changes with the phone masked: the
warehouse is read by many, and the accounts' truth is the compacted topic (real Kafka,
real chdb)."""

from __future__ import annotations

import pytest

from pipeline.access.caller import Role
from pipeline.kafka_io import produce_all, reliable_producer
from pipeline.settings import Settings
from pipeline.sink.sink import Sink
from pipeline.topics import Topics
from pipeline.warehouse import open_warehouse
from pipeline.warehouse.migrations import migrate
from schemas import Account

pytestmark = pytest.mark.kafka
PHONE = "0981234791"


def test_accounts_land_with_the_phone_masked_and_every_change_kept(settings: Settings, topics: Topics) -> None:
    added = Account(phone=PHONE, role=Role.area_officer, area_id="00004", added_by="admin:ops")
    disabled = added.model_copy(update={"active": False})
    produce_all(reliable_producer(settings.kafka_bootstrap), topics.accounts.name,
                [(PHONE.encode(), added.to_bytes()), (PHONE.encode(), disabled.to_bytes()), (PHONE.encode(), None)])
    with open_warehouse(settings) as warehouse:
        migrate(warehouse, 30)
        Sink(settings, warehouse, settings.kafka_bootstrap, until_caught_up=True).run()
        rows = warehouse.query("SELECT phone_masked, role, area_id, active, added_by, deleted FROM accounts FINAL "
                               "ORDER BY kafka_offset").rows
        dead = warehouse.query("SELECT count() FROM dead_letters").scalar()
    assert rows == [["098****791", "area_officer", "00004", True, "admin:ops", False],
                    ["098****791", "area_officer", "00004", False, "admin:ops", False],
                    ["098****791", "", "", False, "", True]]
    assert dead == 0
    assert PHONE not in str(rows)
