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
    ServiceWarehouse(settings, account)
                                  a service's: the server, or the sink's door followed
                                  across restarts; never chdb directly
"""

from __future__ import annotations

import threading
import urllib.request

from ..kafka_local import process_alive
from ..settings import Settings
from ..sink.state import SinkState, read_state
from .base import Result, WarehouseUnavailable
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


class ServiceWarehouse:
    """A service's reads (``ravao web``, ``ravao alerts``): the server, or the running
    sink's door, followed across the sink's restarts (a new port, new passwords). Never
    chdb opened directly: a service that took the directory would lock the sink out.
    While no sink answers, reads raise `WarehouseUnavailable`, and succeed again once it
    is back."""

    exclusive = False

    def __init__(self, settings: Settings, account: str) -> None:
        self.settings = settings
        self.account = account
        self._state: SinkState | None = None
        self._client: Warehouse | None = None
        self._lock = threading.Lock()
        self.location = settings.clickhouse_url and "the ClickHouse server" or "the sink's door"

    def _current(self) -> Warehouse:
        with self._lock:
            if self.settings.clickhouse_url:
                if self._client is None:
                    self._client = open_url(self.settings.clickhouse_url)
                return self._client
            state = read_state(self.settings.data_dir)
            if self._client is not None and state == self._state:
                return self._client
            live = live_sink(self.settings)
            if live is None:
                raise WarehouseUnavailable("the sink is not running, so the warehouse cannot be read: start "
                                           "`ravao sink` (or `ravao up`); reads resume once it answers")
            if self._client is not None:
                self._client.close()
            self._client, self._state = open_url(live.url_for(self.account), door_is_remote=True), live
            self.location = self._client.location
            return self._client

    def query(self, sql: str, params=None) -> Result:
        return self._current().query(sql, params)

    def read_personal(self, name: str, params, **kwargs) -> Result:
        return self._current().read_personal(name, params, **kwargs)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> "ServiceWarehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
