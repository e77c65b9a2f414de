"""The docs stay true: every setting is in .env.example and the README."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]


def setting_names() -> set[str]:
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def test_every_setting_is_in_env_example_and_nothing_else() -> None:
    documented = set(re.findall(r"^#? ?(RAVAO_[A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert documented == setting_names()


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in setting_names() if f"`{name}`" not in readme]
    assert not missing


def test_the_readme_starts_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text()[:1500]
    assert "make demo" in head and "make test" in head
