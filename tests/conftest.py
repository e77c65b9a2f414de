"""Shared fixtures. Tests marked `kafka` talk to a real broker: the local one, started
once per session in a temporary folder, or the one named by RAVAO_KAFKA_BOOTSTRAP."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.kafka_io import ensure_topics
from pipeline.kafka_local import LocalKafka
from pipeline.settings import Settings, get_settings
from pipeline.topics import Topics, topics_for

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
# A key for tests only. Never use it for real codes.
TEST_QR_KEYS = "KB=test-key-for-ravao-tests-only,KC=second-test-key-for-rotation"


class Clock:
    """A clock a test moves by hand (``clock.now += 60``), for code that takes ``clock=``."""

    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """`get_settings()` reads the environment once per process: a test that sets RAVAO_*
    variables must not meet the settings an earlier test cached."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("RAVAO_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"))
    state = broker.start()
    try:
        yield state.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    """Settings of a stack of its own: fresh topics (a unique prefix) and data folder."""
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        topic_partitions=3,
        data_dir=tmp_path / "data",
        qr_keys=TEST_QR_KEYS,
    )


@pytest.fixture
def topics(settings: Settings) -> Topics:
    """Every topic of the stack, created on the broker."""
    declared = topics_for(settings)
    ensure_topics(settings.kafka_bootstrap, declared.all())
    return declared


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a `ravao` subprocess the same settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAVAO_")}
    env.update({
        "RAVAO_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "RAVAO_TOPIC_PREFIX": settings.topic_prefix,
        "RAVAO_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "RAVAO_DATA_DIR": str(settings.data_dir),
        "RAVAO_QR_KEYS": settings.qr_keys or "",
    })
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run `ravao ARGS` as a user would, in a subprocess."""
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"ravao {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result
