"""The embedded sink's state file, ``RAVAO_DATA_DIR/sink.json``: where its door listens,
which warehouse it holds, and the passwords of the door's accounts (generated at each
start). Mode 600: only the operating-system user who runs the sink can read it, and so
only that user's processes (the CLI as ``admin``, the web and alerting services) can
sign in to the door.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_FILE = "sink.json"


@dataclass(frozen=True)
class SinkState:
    pid: int
    port: int
    warehouse: str
    passwords: dict[str, str] = field(default_factory=dict, repr=False)  # account -> password

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_for(self, account: str, *, with_password: bool = True) -> str:
        """The door's URL for ``account``, as ClickHouse tools take it."""
        password = self.passwords.get(account, "") if with_password else ""
        return f"http://{account}:{password}@127.0.0.1:{self.port}/default" if password \
            else f"http://{account}@127.0.0.1:{self.port}/default"


def state_path(data_dir: Path) -> Path:
    return Path(data_dir) / STATE_FILE


def write_state(data_dir: Path, port: int, warehouse: Path, passwords: dict[str, str]) -> SinkState:
    state = SinkState(os.getpid(), port, str(Path(warehouse).resolve()), dict(passwords))
    path = state_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)  # O_CREAT keeps an existing file's mode
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
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
    if current is not None and current.pid == state.pid and current.passwords == state.passwords:
        state_path(data_dir).unlink(missing_ok=True)
