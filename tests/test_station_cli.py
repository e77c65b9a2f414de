"""`ravao station` says what to do when it cannot start."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli

DEVICE = "D" + "B" * 14


def test_without_a_token_it_says_where_to_put_one(tmp_path: Path) -> None:
    result = run_cli("station", "--device", DEVICE, env={"RAVAO_DATA_DIR": str(tmp_path), "PATH": ""}, check=False)
    assert result.returncode == 2 and "RAVAO_STATION_TOKEN" in result.stderr


def test_it_refuses_what_is_not_a_device_id_or_a_readable_input(tmp_path: Path) -> None:
    env = {"RAVAO_DATA_DIR": str(tmp_path), "RAVAO_STATION_TOKEN": "t"}
    assert "not a device id" in run_cli("station", "--device", "D123", env=env, check=False).stderr
    result = run_cli("station", "--device", DEVICE, "--input", str(tmp_path / "nothing"), env=env, check=False)
    assert result.returncode == 2 and "input' group" in result.stderr
