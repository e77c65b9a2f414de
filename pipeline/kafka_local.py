"""A real Apache Kafka broker (KRaft, one node) on loopback, for tests and the embedded stack.

The jars come from Maven Central through `pipeline/kafka_pom.xml`; the broker's data and
its state file live in one folder (``RAVAO_DATA_DIR/kafka`` by default). The broker runs
in its own process group so that stopping it stops the JVM and nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from .package_data import package_path
from .settings import PROJECT_ROOT, Settings

KAFKA_VERSION = "3.9.1"
POM = package_path("pipeline", "kafka_pom.xml")


def _jar_cache() -> Path:
    """Where the fetched jars are kept: a checkout's .cache (where `make kafka-jars` puts
    them), else, for an installed package, the user's cache rather than site-packages."""
    if (PROJECT_ROOT / "pyproject.toml").exists():
        return PROJECT_ROOT / ".cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ravao"


LIBS = _jar_cache() / "kafka" / KAFKA_VERSION / "libs"
STATE_FILE = "broker.json"


class KafkaSetupError(RuntimeError):
    """Something the user can fix: a missing tool, a port in use, a broker that died."""


class KafkaNotRunning(KafkaSetupError):
    pass


@dataclass(frozen=True)
class BrokerState:
    pid: int
    port: int
    controller_port: int
    home: str

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def ensure_jars(libs: Path = LIBS) -> Path:
    """The folder of broker jars, fetched with Maven on first use."""
    if (libs / ".complete").exists():
        return libs
    if shutil.which("mvn") is None:
        raise KafkaSetupError(
            "Maven is needed once to fetch the Kafka jars: install it (apt-get install maven) "
            "or set RAVAO_KAFKA_BOOTSTRAP to an existing broker"
        )
    libs.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mvn", "--quiet", "--batch-mode", "-f", str(POM), "dependency:copy-dependencies",
         f"-Dkafka.version={KAFKA_VERSION}", f"-DoutputDirectory={libs}"],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise KafkaSetupError(f"Maven could not fetch the Kafka jars:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    (libs / ".complete").touch()
    return libs


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise KafkaSetupError(
            "Java 17 or newer is needed for the local Kafka broker: install it "
            "(apt-get install openjdk-17-jre-headless) or set RAVAO_KAFKA_BOOTSTRAP"
        )
    return java


def _free_port(preferred: int | None = None) -> int:
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise KafkaSetupError("no free port on 127.0.0.1")


def process_alive(pid: int) -> bool:
    """True while the process runs (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child counts as dead.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class LocalKafka:
    """Start, stop and query one local broker whose data lives under ``home``."""

    def __init__(self, home: Path, heap: str = "512m") -> None:
        self.home = Path(home).resolve()
        self.heap = heap

    @classmethod
    def from_settings(cls, settings: Settings) -> "LocalKafka":
        return cls(settings.kafka_dir, settings.kafka_heap)

    # --- state -----------------------------------------------------------------------
    def state(self) -> BrokerState | None:
        """The running broker, or None (a stale state file is ignored)."""
        path = self.home / STATE_FILE
        if not path.exists():
            return None
        state = BrokerState(**json.loads(path.read_text()))
        return state if process_alive(state.pid) else None

    def _previous_ports(self) -> tuple[int | None, int | None]:
        path = self.home / STATE_FILE
        if not path.exists():
            return None, None
        data = json.loads(path.read_text())
        return data.get("port"), data.get("controller_port")

    # --- life cycle --------------------------------------------------------------------
    def start(self, timeout: float = 90.0) -> BrokerState:
        running = self.state()
        if running is not None:
            return running
        java, libs = _java(), ensure_jars()
        self.home.mkdir(parents=True, exist_ok=True)
        old_port, old_controller = self._previous_ports()
        port = _free_port(old_port)
        controller_port = _free_port(old_controller)
        if controller_port == port:
            controller_port = _free_port()
        properties = self._write_config(port, controller_port)
        self._format_storage(java, libs, properties)
        log = open(self.home / "broker.log", "ab")
        process = subprocess.Popen(
            [java, f"-Xmx{self.heap}", "-Xms128m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
             f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}",
             "-cp", f"{libs}/*", "kafka.Kafka", str(properties)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=self.home,
        )
        log.close()
        state = BrokerState(process.pid, port, controller_port, str(self.home))
        (self.home / STATE_FILE).write_text(json.dumps(asdict(state)))
        self._wait_ready(state, process, timeout)
        return state

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker; True if one was running."""
        state = self.state()
        if state is None:
            return False
        try:
            os.killpg(state.pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process_alive(state.pid):
            self._reap(state.pid)
            time.sleep(0.2)
        if process_alive(state.pid):
            os.killpg(state.pid, signal.SIGKILL)
            while process_alive(state.pid):
                self._reap(state.pid)
                time.sleep(0.1)
        return True

    @staticmethod
    def _reap(pid: int) -> None:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass

    # --- helpers -----------------------------------------------------------------------
    def _write_config(self, port: int, controller_port: int) -> Path:
        logs = self.home / "logs"
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(logs),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.check.interval.ms": "60000",
        }
        path = self.home / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        (self.home / "log4j.properties").write_text(
            "log4j.rootLogger=INFO, stdout\n"
            "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka.log.LogCleaner=WARN\n"
            "log4j.logger.state.change.logger=WARN\n"
            "log4j.logger.org.apache.kafka.storage.internals.log=WARN\n"
            "log4j.logger.kafka.log=WARN\n"
        )
        return path

    def _format_storage(self, java: str, libs: Path, properties: Path) -> None:
        if (self.home / "logs" / "meta.properties").exists():
            return
        cluster_id = self._cluster_id()
        result = subprocess.run(
            [java, "-Xmx256m", f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}",
             "-cp", f"{libs}/*", "kafka.tools.StorageTool", "format",
             # "=" form: a random id may start with "-", which would read as an option.
             f"--cluster-id={cluster_id}", "--config", str(properties), "--ignore-formatted"],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise KafkaSetupError(f"could not format the broker storage:\n{result.stdout}{result.stderr}")

    def _cluster_id(self) -> str:
        # A Kafka cluster id is 16 random bytes in URL-safe base64 without padding.
        import base64

        return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")

    def _wait_ready(self, state: BrokerState, process: subprocess.Popen, timeout: float) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = (self.home / "broker.log").read_text(errors="replace")[-3000:]
                raise KafkaSetupError(f"the broker exited with code {process.returncode}:\n{tail}")
            if _port_open(state.port):
                try:
                    admin = AdminClient({"bootstrap.servers": state.bootstrap})
                    metadata = admin.list_topics(timeout=5)
                    if metadata.brokers:
                        return
                except Exception:  # noqa: BLE001 - not ready yet; retried until the deadline
                    pass
            time.sleep(0.3)
        self.stop()
        raise KafkaSetupError(f"the broker did not become ready within {timeout:.0f}s; see {self.home / 'broker.log'}")


def bootstrap_servers(settings: Settings) -> str:
    """Where to reach Kafka: RAVAO_KAFKA_BOOTSTRAP, else the running local broker."""
    if settings.kafka_bootstrap:
        return settings.kafka_bootstrap
    state = LocalKafka.from_settings(settings).state()
    if state is None:
        raise KafkaNotRunning(
            "no Kafka broker: start the local one with `ravao kafka start`, "
            "or set RAVAO_KAFKA_BOOTSTRAP=host:port"
        )
    return state.bootstrap
