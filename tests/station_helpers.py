"""Running `ravao station` and the test gateway stand-in as subprocesses, as an operator
would run them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import ROOT, settings_env
from pipeline.settings import Settings

STANDIN = Path(__file__).with_name("gateway_standin.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gateway(settings: Settings, port: int, log_dir: Path, ack_delay: float = 0.0) -> subprocess.Popen:
    log = open(log_dir / "gateway.log", "ab")
    process = subprocess.Popen([sys.executable, str(STANDIN), "--port", str(port), "--ack-delay", str(ack_delay)],
                               env=settings_env(settings), stdout=subprocess.PIPE, stderr=log, cwd=ROOT,
                               start_new_session=True)
    assert process.stdout.readline().strip() == b"ready", (log_dir / "gateway.log").read_text()
    return process


def kill(process: subprocess.Popen, sig: int = signal.SIGKILL, timeout: float = 60) -> int:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    return process.wait(timeout)


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
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            answer = json.loads(line)
            (self.oks if answer["ok"] else self.refusals).append(answer)

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
