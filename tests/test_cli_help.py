"""Every command's help shows an example (a command without one fails this test)."""

from __future__ import annotations

import typer.main
from typer.testing import CliRunner

from pipeline.cli import app


def all_commands() -> list[list[str]]:
    root = typer.main.get_command(app)
    found: list[list[str]] = [[]]

    def walk(command: object, path: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            found.append(path + [name])
            walk(sub, path + [name])

    walk(root, [])
    return found


def test_every_command_has_help_with_an_example() -> None:
    runner = CliRunner()
    commands = all_commands()
    assert len(commands) > 10
    missing = []
    for path in commands:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        if "Example:" not in result.output:
            missing.append(" ".join(["ravao", *path]))
    assert not missing, f"no example in the help of: {missing}"
