"""The warehouse: ClickHouse tables, views and the queries over them, through one client
(clickhouse-connect) whatever the target: chdb in this process, a server, or the embedded
sink's door over ClickHouse's own HTTP interface (see `client`).

    open_warehouse(settings)    the writer's engine: a server (RAVAO_CLICKHOUSE_URL) or
                                chdb on RAVAO_DATA_DIR/warehouse (this process only)
    open_for_reading(settings, account="admin")
                                the server, else the running sink's door, else chdb
                                opened directly (see `connect`)

Every read passes the door (`door.admit`): reads of the warehouse's own tables only,
judged on the engine's parse; personal tables only by `Warehouse.read_personal`.
"""

from __future__ import annotations

from .base import Result, WarehouseError, WarehouseUnavailable
from .client import Warehouse
from .connect import open_for_reading, open_warehouse

__all__ = ["Result", "Warehouse", "WarehouseError", "WarehouseUnavailable", "open_for_reading", "open_warehouse"]
