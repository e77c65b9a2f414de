"""`ravao kafka start|stop|status` runs a real broker from Maven jars, in a folder of its own."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import run_cli
from pipeline.kafka_io import produce_all, read_to_end, reliable_producer

pytestmark = pytest.mark.kafka


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAVAO_")}
    env.update(RAVAO_DATA_DIR=str(data_dir), **extra)
    return env


def test_start_status_stop_and_restart_keep_the_data(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert run_cli("kafka", "status", env=env, check=False).returncode == 1
    started = run_cli("kafka", "start", env=env).stdout
    assert "Kafka is running at 127.0.0.1:" in started
    try:
        assert run_cli("kafka", "start", env=env).stdout == started  # idempotent
        bootstrap = started.split(" at ")[1].split()[0]
        produce_all(reliable_producer(bootstrap), "registry.areas", [(b"k", b"kept")])
        assert "stopped" in run_cli("kafka", "stop", env=env).stdout
        assert run_cli("kafka", "status", env=env, check=False).returncode == 1
        restarted = run_cli("kafka", "start", env=env).stdout
        assert restarted.split(" (")[0] == started.split(" (")[0]  # same port when it is free
        assert [v for _, v, _, _ in read_to_end(bootstrap, "registry.areas")] == [b"kept"]
    finally:
        run_cli("kafka", "stop", env=env, check=False)
    assert run_cli("kafka", "status", env=env, check=False).returncode == 1


def test_a_missing_java_is_explained(tmp_path: Path) -> None:
    python_dir = tmp_path / "bin"
    python_dir.mkdir()
    env = cli_env(tmp_path / "data", PATH=str(python_dir))
    result = run_cli("kafka", "start", env=env, check=False)
    assert result.returncode == 2
    assert "Java 17 or newer is needed" in result.stderr


def test_commands_that_need_kafka_say_how_to_get_it(tmp_path: Path) -> None:
    result = run_cli("areas", "load", "binh-duong-2021", env=cli_env(tmp_path), check=False)
    assert result.returncode == 2
    assert "ravao kafka start" in result.stderr and "RAVAO_KAFKA_BOOTSTRAP" in result.stderr


def test_the_jars_come_from_maven() -> None:
    from pipeline.kafka_local import KAFKA_VERSION, LIBS, ensure_jars

    libs = ensure_jars()
    assert libs == LIBS and (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").exists()
    assert shutil.which("mvn") or (libs / ".complete").exists()
