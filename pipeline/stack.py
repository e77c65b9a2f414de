"""The embedded stack: the local broker and one process per service, started together,
kept running, and stopped together.

Each service runs as `ravao <service>` in a process group of its own, so that Ctrl-C in
the terminal reaches only this supervisor, which then stops the services in reverse order
(SIGTERM to each whole group, then SIGKILL to what is left of it after a grace period, so
that nothing a service started outlives it) and the broker it started. A service that
exits on its own is started again after a pause that doubles with each failure in a row
(1 s up to a minute; a service that ran for a minute starts over at 1 s), and the
supervisor says so: one dead service never takes the others down, and nothing is lost
meanwhile (scans wait on Kafka). Logs go to RAVAO_DATA_DIR/logs/<service>.log; data
stays for the next start, private to the user who runs the stack (`private_files`).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .kafka_io import ensure_topics
from .kafka_local import LocalKafka
from .private_files import make_private
from .process_groups import stop_group
from .settings import PROJECT_ROOT, Settings
from .topics import topics_for

log = logging.getLogger(__name__)


RESTART_FIRST_DELAY = 1.0  # seconds before the first restart of a failed service ...
RESTART_MAX_DELAY = 60.0  # ... doubling up to this ...
STABLE_AFTER = 60.0  # ... until a service has run this long: then its next failure waits RESTART_FIRST_DELAY
STOP_GRACE = 10.0  # every service stops within this long of SIGTERM; after it, SIGKILL


@dataclass
class Service:
    name: str
    args: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0  # time.monotonic() of the latest start
    failures: int = 0  # exits in a row, each within STABLE_AFTER of its start
    restart_at: float | None = None  # when a failed service is due to start again
    restarts: int = 0
    once: bool = False  # runs to its end and is not started again (the demo's simulator)
    finished: bool = False  # a ``once`` service that has ended

    def restart_delay(self) -> float:
        return min(RESTART_MAX_DELAY, RESTART_FIRST_DELAY * 2 ** max(0, self.failures - 1))


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
        tightened = make_private(Path(self.settings.data_dir))
        if tightened:
            log.warning("%d files or folders under %s were readable by other users: now the owner's only",
                        tightened, self.settings.data_dir)
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

    def start(self, name: str, *args: str, once: bool = False) -> Service:
        service = Service(name, [sys.executable, "-m", "pipeline", *args], once=once)
        self._launch(service)
        self.services.append(service)
        self._write_state()
        return service

    def _launch(self, service: Service) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{service.name}.log", "ab") as out:
            service.process = subprocess.Popen(
                service.args, env=self.env(), cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        service.started_at = time.monotonic()
        service.restart_at = None

    def _write_state(self) -> None:
        """RAVAO_DATA_DIR/stack.json: the processes this stack runs, for operators and tests."""
        pids = {s.name: s.process.pid for s in self.services if s.process is not None}
        if self.broker is not None and self.broker.state() is not None:
            pids["kafka"] = self.broker.state().pid
        (Path(self.settings.data_dir) / "stack.json").write_text(json.dumps(pids))

    def supervise(self, now: float | None = None) -> list[str]:
        """Start again what is due, schedule a restart for what has exited; returns what
        happened, one line each, for the terminal."""
        now = time.monotonic() if now is None else now
        said: list[str] = []
        for service in self.services:
            if service.restart_at is not None:
                if now >= service.restart_at:
                    self._launch(service)
                    service.restarts += 1
                    self._write_state()
                    said.append(f"{service.name} started again (restart {service.restarts})")
                continue
            code = service.process.poll() if service.process else None
            if code is None or service.finished:
                continue
            if service.once:
                service.finished = True
                said.append(f"{service.name} finished" if code == 0 else
                            f"{service.name} exited with status {code} (see {self.log_dir / service.name}.log)")
                continue
            ran = now - service.started_at
            service.failures = 1 if ran >= STABLE_AFTER else service.failures + 1
            delay = service.restart_delay()
            service.restart_at = now + delay
            said.append(f"{service.name} exited with status {code} after {ran:.0f}s; starting it again in "
                        f"{delay:.0f}s (see {self.log_dir / service.name}.log)")
        return said

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop every service's whole process group, in reverse order, then the broker this
        stack started. A group whose leader has exited is stopped too: what the service
        started may have outlived it."""
        for service in reversed(self.services):
            process = service.process
            if process is None:
                continue
            if stop_group(process.pid, grace, reap=process.poll):
                log.warning("%s did not stop within %.0fs: killed", service.name, grace)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                log.error("%s (pid %d) is still there after SIGKILL", service.name, process.pid)
        self.services.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        self._write_state()

    def wait_forever(self, every: float = 1.0, on_tick=None, on_event=None) -> None:
        """Supervise until interrupted; ``on_event`` gets each line `supervise` says
        (default: the log)."""
        while True:
            for line in self.supervise():
                (on_event or log.warning)(line)
            if on_tick is not None:
                on_tick()
            time.sleep(every)
