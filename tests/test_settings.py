"""The one settings class: environment, *_FILE secrets, frozen."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.keys import KeyConfigError, load_codec, parse_keys
from pipeline.settings import Settings


def test_it_reads_the_environment_with_the_ravao_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAVAO_RETENTION_DAYS", "21")
    monkeypatch.setenv("RAVAO_TOPIC_PREFIX", "hcm.")
    settings = Settings()
    assert settings.retention_days == 21 and settings.topic_prefix == "hcm."
    assert settings.retention_ms == 21 * 86_400_000


def test_a_secret_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "qr_keys"
    secret.write_text("KB=a-secret-from-a-file-0001\n")
    monkeypatch.delenv("RAVAO_QR_KEYS", raising=False)
    monkeypatch.setenv("RAVAO_QR_KEYS_FILE", str(secret))
    assert Settings().qr_keys == "KB=a-secret-from-a-file-0001"


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        Settings().retention_days = 5  # type: ignore[misc]


def test_without_keys_one_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, qr_keys=None)
    first = load_codec(settings).encode("P" + "B" * 14)
    key_file = tmp_path / "secrets" / "qr-keys"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert load_codec(settings).encode("P" + "B" * 14) == first


@pytest.mark.parametrize("text, message", [
    ("K1=abcdefghijklmnopq", "letters"),
    ("KB", "no secret"),
    ("KB=short", "16 characters"),
    ("", "empty"),
])
def test_bad_key_settings_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(KeyConfigError, match=message):
        parse_keys(text)
