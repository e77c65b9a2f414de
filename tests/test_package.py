"""ravao installed from its wheel, not editable, finds its SQL and its Kafka pom: they
travel as package data (pyproject.toml) and are found through importlib.resources."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from pipeline.settings import PROJECT_ROOT

SOURCES = ["pyproject.toml", "README.md", "pipeline", "schemas", "producers", "dashboards", "bench", "sql"]


def _run(command: list, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _installed(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A fresh venv holding only ravao's wheel; its dependencies come from this venv's
    site-packages, added after the install (a path line in a .pth: no editable finder)."""
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the repository
    for name in SOURCES:
        if (PROJECT_ROOT / name).is_dir():
            shutil.copytree(PROJECT_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, source / name)
    # Offline: the build backend is this venv's (a dev dependency), and pip says so if it is too old.
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
          "--check-build-dependencies", "-w", tmp_path / "dist", source], cwd=tmp_path)
    wheel, = (tmp_path / "dist").glob("ravao-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", wheel], cwd=tmp_path)
    packages = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         cwd=tmp_path).strip())
    ours = [entry for entry in sys.path if entry.endswith("site-packages")]  # this venv's, not the checkout
    (packages / "dependencies.pth").write_text("\n".join(ours) + "\n")
    env = {name: value for name, value in os.environ.items()
           if name not in ("PYTHONPATH", "VIRTUAL_ENV") and not name.startswith("RAVAO_")}
    env.update(HOME=str(tmp_path / "home"), RAVAO_DATA_DIR=str(tmp_path / "data"))
    return venv, env


def test_an_installed_wheel_finds_its_sql_and_its_kafka_pom(tmp_path: Path) -> None:
    venv, env = _installed(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    found = _run([venv / "bin" / "python", "-c", (
        "import pipeline, sql\n"
        "from pipeline.kafka_local import LIBS, POM\n"
        "from pipeline.warehouse.migrations import migrations\n"
        "from pipeline.warehouse.queries import library\n"
        "print(pipeline.__file__, sql.__file__, POM, POM.is_file(), LIBS, len(migrations()), len(library()))\n")],
        cwd=outside, env=env).split()
    site_packages = str(venv)
    assert all(path.startswith(site_packages) for path in found[:3]), found  # the wheel's, not the checkout's
    assert found[3] == "True"
    assert found[4].startswith(str(tmp_path / "home" / ".cache" / "ravao")), found  # not into site-packages
    assert int(found[5]) == len(list((PROJECT_ROOT / "sql" / "migrations").glob("*.sql")))
    assert int(found[6]) == len(list((PROJECT_ROOT / "sql" / "queries").glob("*.sql")))

    listing = _run([venv / "bin" / "ravao", "sql"], cwd=outside, env=env)
    assert "f1_contacts" in listing and "tier_counts" in listing
    _run([venv / "bin" / "ravao", "migrate"], cwd=outside, env=env)  # every migration and retention file, read
