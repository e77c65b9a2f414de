"""Which warehouse an analyst's command talks to.

1. RAVAO_CLICKHOUSE_URL set: the server.
2. Else the embedded warehouse. If a sink holds it (a state file whose sink answers its
   health check, for this directory): through the sink's local endpoint.
3. Else open chdb on the directory directly (this process then holds it until it exits).
"""

from __future__ import annotations

from ..kafka_local import process_alive
from ..settings import Settings
from .base import Warehouse
from .via_sink import SinkClient, read_state


def running_sink(settings: Settings) -> SinkClient | None:
    state = read_state(settings.data_dir)
    if state is None or not process_alive(state.pid):
        return None
    if state.warehouse != str(settings.warehouse_dir.resolve()):
        return None
    client = SinkClient(state)
    return client if client.healthy() else None


def open_for_reading(settings: Settings) -> Warehouse:
    if settings.clickhouse_url:
        from .server import ServerWarehouse

        return ServerWarehouse(settings.clickhouse_url)
    client = running_sink(settings)
    if client is not None:
        return client
    from .embedded import open_embedded

    return open_embedded(settings.warehouse_dir)
