"""The generated files: each dashboard's JSON and Grafana's ClickHouse account, written
or checked against what is committed (`python -m dashboards.grafana [--check]`)."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from . import operations, readonly_user, tier

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DASHBOARDS_DIR = HERE / "dashboards"
PROVISIONING_DIR = HERE / "provisioning"
USERS_XML = ROOT / "deploy" / "clickhouse" / "users.d" / "grafana.xml"
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {"tier.json": tier.dashboard, "operations.json": operations.dashboard}


def dashboard_json(make: Callable[[], Dashboard]) -> dict:
    """The dashboard as Grafana stores it; panels numbered in order (Grafana needs ids
    unique on the page, and stable ones keep links to a panel working)."""
    model = json.loads(JSONEncoder().encode(make().build()))
    for number, panel in enumerate(model["panels"], start=1):
        panel["id"] = number
    return model


def outputs() -> dict[Path, str]:
    files = {DASHBOARDS_DIR / name: json.dumps(dashboard_json(make), indent=2, sort_keys=True, ensure_ascii=False)
             + "\n" for name, make in DASHBOARDS.items()}
    files[USERS_XML] = readonly_user.users_xml()
    return files


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.grafana", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a committed file differs from the code")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(os.path.relpath(path, ROOT))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {os.path.relpath(path, ROOT)}")
    if stale:
        print("out of date (run `python -m dashboards.grafana`): " + ", ".join(stale))
        return 1
    return 0
