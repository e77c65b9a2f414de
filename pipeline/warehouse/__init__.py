"""The warehouse: ClickHouse tables, views and the queries over them.

    open_warehouse(settings)    the writer's engine: a server (RAVAO_CLICKHOUSE_URL) or
                                chdb on RAVAO_DATA_DIR/warehouse (this process only)
    open_for_reading(settings)  an analyst's: the server, else the running sink over local
                                HTTP, else chdb opened directly (see `connect`)

Every read of either passes the door (`door.admit`): reads of the warehouse's own tables
only, judged on the engine's parse; personal tables only by `Warehouse.read_personal`.
"""

from __future__ import annotations

from ..settings import Settings
from .base import Result, Warehouse, WarehouseError, WarehouseUnavailable


def open_warehouse(settings: Settings) -> Warehouse:
    if settings.clickhouse_url:
        from .server import ServerWarehouse

        return ServerWarehouse(settings.clickhouse_url)
    from .embedded import open_embedded

    return open_embedded(settings.warehouse_dir)


def open_for_reading(settings: Settings) -> Warehouse:
    from .connect import open_for_reading as _open

    return _open(settings)


__all__ = ["Result", "Warehouse", "WarehouseError", "WarehouseUnavailable", "open_for_reading", "open_warehouse"]
