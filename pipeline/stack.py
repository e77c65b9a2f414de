"""The embedded stack: the local broker and one process per service, started together
and stopped together.

Each service runs as `ravao <service>` in a process group of its own, so that Ctrl-C in
the terminal reaches only this supervisor, which then stops the services in reverse order
(SIGTERM, then SIGKILL after a grace period) and the broker it started. Logs go to
RAVAO_DATA_DIR/logs/<service>.log; data stays for the next start.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .kafka_io import ensure_topics
from .kafka_local import LocalKafka
from .settings import PROJECT_ROOT, Settings
from .topics import topics_for

log = logging.getLogger(__name__)


class ServiceDied(RuntimeError):
    pass


@dataclass
class Service:
    name: str
    args: list[str]
    process: subprocess.Popen | None = None


@dataclass
class Stack:
    settings: Settings
    services: list[Service] = field(default_factory=list)
    broker: LocalKafka | None = None  # set when this stack started the broker
    bootstrap: str = ""

    @property
    def log_dir(self) -> Path:
        return Path(self.settings.data_dir) / "logs"

    def start_kafka(self) -> str:
        if self.settings.kafka_bootstrap:
            self.bootstrap = self.settings.kafka_bootstrap
        else:
            local = LocalKafka.from_settings(self.settings)
            running = local.state()
            if running is None:
                self.broker = local
                running = local.start()
            self.bootstrap = running.bootstrap
        ensure_topics(self.bootstrap, topics_for(self.settings).all(), self.settings.topic_replication)
        return self.bootstrap

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["RAVAO_KAFKA_BOOTSTRAP"] = self.bootstrap
        env["RAVAO_DATA_DIR"] = str(Path(self.settings.data_dir).resolve())
        return env

    def start(self, name: str, *args: str) -> Service:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        service = Service(name, [sys.executable, "-m", "pipeline", *args])
        with open(self.log_dir / f"{name}.log", "ab") as out:
            service.process = subprocess.Popen(
                service.args, env=self.env(), cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.services.append(service)
        self._write_state()
        return service

    def _write_state(self) -> None:
        """RAVAO_DATA_DIR/stack.json: the processes this stack runs, for operators and tests."""
        pids = {s.name: s.process.pid for s in self.services if s.process is not None}
        if self.broker is not None and self.broker.state() is not None:
            pids["kafka"] = self.broker.state().pid
        (Path(self.settings.data_dir) / "stack.json").write_text(json.dumps(pids))

    def check(self) -> None:
        """Raise if a service has exited: the stack is not whole any more."""
        for service in self.services:
            code = service.process.poll() if service.process else None
            if code is not None:
                raise ServiceDied(f"{service.name} exited with status {code}; see {self.log_dir / service.name}.log")

    def stop(self, grace: float = 20.0) -> None:
        for service in reversed(self.services):
            process = service.process
            if process is None or process.poll() is not None:
                continue
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0fs: killing it", service.name, grace)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        self.services.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        self._write_state()

    def wait_forever(self, every: float = 1.0, on_tick=None) -> None:
        while True:
            self.check()
            if on_tick is not None:
                on_tick()
            time.sleep(every)
