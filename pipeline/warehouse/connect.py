"""Which warehouse a process talks to.

    open_warehouse(settings)      the writer: RAVAO_CLICKHOUSE_URL, else chdb on
                                  RAVAO_DATA_DIR/warehouse (this process then holds it)
    open_for_reading(settings, account="admin")
        1. RAVAO_CLICKHOUSE_URL set: the server.
        2. Else, if a sink holds the embedded warehouse (its state file names this
           directory, its process lives, its door answers /ping): the door at
           http://127.0.0.1:PORT, signed in as ``account`` with the password from the
           state file.
        3. Else chdb on the directory directly (this process then holds it until it exits).
"""

from __future__ import annotations

import urllib.request

from ..kafka_local import process_alive
from ..settings import Settings
from ..sink.state import SinkState, read_state
from .client import Warehouse, chdb_url
from .opened import open_url


def open_warehouse(settings: Settings) -> Warehouse:
    return open_url(settings.clickhouse_url or chdb_url(settings.warehouse_dir))


def live_sink(settings: Settings) -> SinkState | None:
    """The state of the sink that holds this directory, if it is running and answering."""
    state = read_state(settings.data_dir)
    if state is None or not process_alive(state.pid) or state.warehouse != str(settings.warehouse_dir.resolve()):
        return None
    try:
        with urllib.request.urlopen(state.url + "/ping", timeout=3) as answer:
            return state if answer.read() == b"Ok.\n" else None
    except OSError:
        return None


def running_sink(settings: Settings, account: str = "admin") -> Warehouse | None:
    """The running sink's door as ``account``, or None when no sink holds the directory."""
    state = live_sink(settings)
    if state is None:
        return None
    return open_url(state.url_for(account), door_is_remote=True)


def open_for_reading(settings: Settings, account: str = "admin") -> Warehouse:
    if settings.clickhouse_url:
        return open_url(settings.clickhouse_url)
    return running_sink(settings, account) or open_url(chdb_url(settings.warehouse_dir))
