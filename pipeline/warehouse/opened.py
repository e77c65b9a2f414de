"""The warehouses this process has open: one object per target, handed out again.

chdb runs one engine per process, on one directory: a second `open_url` of the same
directory returns the object already open (counting its users), and another directory
while one is open is refused with a message saying why.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from .base import WarehouseError
from .client import Warehouse

_lock = threading.Lock()
_embedded: Warehouse | None = None


def open_url(url: str, read_limits: Mapping[str, Any] | None = None, *, door_is_remote: bool = False) -> Warehouse:
    """The warehouse at ``url`` (``chdb:///abs/path`` or ``http(s)://...``). ``read_limits``:
    the readers' `door.read_settings` (default: from the process's settings)."""
    global _embedded
    if not url.startswith("chdb:"):
        return Warehouse(url, read_limits, door_is_remote=door_is_remote)
    with _lock:
        if _embedded is not None:
            if _embedded.url != url:
                raise WarehouseError(
                    f"this process already has the warehouse at {_embedded.location} open; chdb runs one engine "
                    f"per process, so {url.removeprefix('chdb://')} cannot be opened beside it")
            _embedded._users += 1
            return _embedded
        _embedded = Warehouse(url, read_limits)
        return _embedded


def embedded() -> Warehouse | None:
    """The embedded warehouse this process has open, if any."""
    return _embedded


def release(warehouse: Warehouse) -> bool:
    """One user fewer; True when it was the last and the warehouse must now close."""
    global _embedded
    with _lock:
        warehouse._users -= 1
        if warehouse._users > 0 or not warehouse._readers:
            return False
        if _embedded is warehouse:
            _embedded = None
        return True
