"""Running `ravao station` and `ravao gateway` as subprocesses, as an operator would run
them, and looking into a station's queue on disk."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import ROOT, settings_env
from gateway_helpers import free_port, start_gateway, stop_gateway  # noqa: F401 - used by the station tests
from pipeline.settings import Settings

# A station catching up sends its whole queue at once: far above the default token bucket.
UNLIMITED = {"RAVAO_GATEWAY_DEVICE_RATE": "100000", "RAVAO_GATEWAY_DEVICE_BURST": "100000"}


def kill(process: subprocess.Popen, sig: int = signal.SIGKILL, timeout: float = 60) -> int:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    return process.wait(timeout)


def queued_ids(settings: Settings, device_id: str) -> list[str]:
    """The event ids in the station's queue file, oldest first (the station may be running:
    WAL lets this read beside its writes)."""
    path = Path(settings.data_dir) / "station" / f"{device_id}.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(path, timeout=30)
    try:
        return [row[0] for row in db.execute("SELECT event_id FROM queued ORDER BY seq")]
    except sqlite3.OperationalError:  # the station has not created its tables yet
        return []
    finally:
        db.close()


class StationProcess:
    """`ravao station --output json`: lines go in on stdin, one JSON object per read
    comes out; `oks` and `refusals` collect them as they come."""

    def __init__(self, settings: Settings, device_id: str, token: str, gateway_url: str, log_dir: Path,
                 **env: str) -> None:
        environment = settings_env(settings)
        environment.update({
            "RAVAO_STATION_TOKEN": token, "RAVAO_STATION_GATEWAY_URL": gateway_url,
            "RAVAO_STATION_BATCH_SIZE": "50", "RAVAO_STATION_BATCH_SECONDS": "0.05",
            "RAVAO_STATION_RETRY_MAX_SECONDS": "0.5", "RAVAO_STATION_HTTP_TIMEOUT_SECONDS": "10", **env,
        })
        self.log_path = log_dir / "station.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "station", "--device", device_id, "--output", "json", "--no-beep"],
            env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.log_path, "ab"),
            cwd=ROOT, text=True, bufsize=1, start_new_session=True)
        self.oks: list[dict] = []
        self.refusals: list[dict] = []
        self.declarations: list[dict] = []  # the gateway's answers: each accepted scan's declaration status
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            answer = json.loads(line)
            (self.declarations if "declaration" in answer else self.oks if answer["ok"] else self.refusals).append(answer)

    def feed(self, lines: list[str]) -> None:
        self.process.stdin.write("".join(line + "\n" for line in lines))
        self.process.stdin.flush()

    def wait_for_answers(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.oks) + len(self.refusals) < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"station answered {len(self.oks) + len(self.refusals)} of {count} reads:\n"
                                     + self.log_path.read_text()[-3000:])
            time.sleep(0.05)

    def kill(self) -> None:
        kill(self.process)
        self._reader.join(10)

    def finish(self, timeout: float = 120) -> int:
        """End the input: the station sends what is left and exits."""
        self.process.stdin.close()
        code = self.process.wait(timeout)
        self._reader.join(10)
        return code
