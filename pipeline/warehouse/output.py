"""Printing a result as a table, CSV or JSON: deterministic, the same bytes for the same
result whichever backend produced it."""

from __future__ import annotations

import csv
import io
import json
import shutil
from typing import Any

from .base import Result

FORMATS = ("table", "csv", "json")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render(result: Result, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(result.dicts(), ensure_ascii=False, indent=1) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([_cell(v) for v in row] for row in result.rows)
        return out.getvalue()
    if fmt == "table":
        from rich.console import Console
        from rich.table import Table

        table = Table(*result.columns, show_lines=False)
        for row in result.rows:
            table.add_row(*(_cell(v) for v in row))
        out = io.StringIO()
        Console(file=out, width=max(shutil.get_terminal_size((160, 40)).columns, 160), no_color=True).print(table)
        return out.getvalue() + f"{len(result.rows)} row{'s' if len(result.rows) != 1 else ''}\n"
    raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
