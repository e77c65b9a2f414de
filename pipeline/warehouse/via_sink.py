"""Reading the embedded warehouse through the running sink.

chdb locks its directory to one process, the sink. While the sink runs, it answers
read-only SQL on 127.0.0.1 (`pipeline.sink.endpoint`) and says where in a state file,
``RAVAO_DATA_DIR/sink.json`` (mode 600, with a random token that every request must
carry: only the user who runs the sink can read it). `SinkClient` is the reading side.
The sink's door decides what runs (`door.admit`); it takes no writes from others, and a
personal read's audit row is written by the sink itself, with the account it sees.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .base import Result, Warehouse, WarehouseError, WarehouseUnavailable, bind

STATE_FILE = "sink.json"


@dataclass(frozen=True)
class SinkState:
    pid: int
    port: int
    warehouse: str
    token: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def state_path(data_dir: Path) -> Path:
    return Path(data_dir) / STATE_FILE


def write_state(data_dir: Path, port: int, warehouse: Path) -> SinkState:
    state = SinkState(os.getpid(), port, str(Path(warehouse).resolve()), secrets.token_urlsafe(24))
    path = state_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(state), out)
    os.replace(temporary, path)
    return state


def read_state(data_dir: Path) -> SinkState | None:
    try:
        return SinkState(**json.loads(state_path(data_dir).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def remove_state(data_dir: Path, state: SinkState) -> None:
    current = read_state(data_dir)
    if current is not None and current.token == state.token:
        state_path(data_dir).unlink(missing_ok=True)


class SinkClient(Warehouse):
    """Reads through the sink's endpoint; everything else is refused."""

    def __init__(self, state: SinkState, timeout: float = 600.0) -> None:
        self.state = state
        self.location = f"{state.warehouse} (through the sink, pid {state.pid})"
        self.timeout = timeout

    def _post(self, path: str, body: dict, timeout: float | None = None) -> bytes:
        request = urllib.request.Request(
            self.state.url + path, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.state.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            message = exc.read().decode("utf-8", "replace")
            try:
                message = json.loads(message)["error"]
            except (ValueError, KeyError):
                pass
            raise WarehouseError(message) from None
        except OSError as exc:
            raise WarehouseUnavailable(f"the sink at {self.state.url} did not answer ({exc})") from None

    def healthy(self) -> bool:
        try:
            answer = json.loads(self._post("/health", {}, timeout=3))
        except (WarehouseError, ValueError):
            return False
        return answer.get("warehouse") == self.state.warehouse

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        raise WarehouseError("the warehouse is open in the sink, which answers only read-only queries; "
                             "stop `ravao sink` to change it")

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> Result:
        return Result.from_json(self._post("/query", {"sql": sql, "params": bind(params)}))

    def read_personal(self, name: str, params: Mapping[str, Any], *, action: str, subject: str,
                      detail: Mapping[str, Any]) -> Result:
        body = {"query": name, "params": dict(params), "action": action, "subject": subject, "detail": dict(detail)}
        return Result.from_json(self._post("/personal", body))

    def insert_json(self, table: str, payload: bytes, token: str | None = None) -> None:
        raise WarehouseError(f"the warehouse is open in the sink, which takes no writes from others; "
                             f"stop `ravao sink` to write {table}")
