"""The query library: ``sql/queries/NAME.sql``, one question per file, with ``{name:Type}``
parameters, run by name (or any .sql file) with values typed on the command line."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .base import Result, WarehouseError
from .client import Warehouse
from .migrations import SQL_DIR, statement

QUERIES_DIR = SQL_DIR / "queries"
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^{}]+?)\s*\}")
DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.I)


class QueryInputError(WarehouseError):
    """A query name, parameter or value the user got wrong."""


@dataclass(frozen=True)
class Query:
    name: str
    path: Path
    sql: str

    @property
    def parameters(self) -> dict[str, str]:
        """name -> ClickHouse type, in order of first use."""
        found: dict[str, str] = {}
        for name, type_ in PLACEHOLDER.findall(self.sql):
            found.setdefault(name, type_)
        return found

    @property
    def summary(self) -> str:
        """The question: the leading comment up to its first colon or full stop."""
        lines = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("--"):
                break
            lines.append(line[2:].strip())
        text = " ".join(lines)
        ends = [i for i in (text.find(": "), text.find(". "), text.find("? ")) if i >= 0]
        return text[: min(ends) + (1 if text[min(ends)] == "?" else 0)] if ends else text


def library() -> list[Query]:
    return [load(path.stem) for path in sorted(QUERIES_DIR.glob("*.sql"))]


def load(name_or_file: str) -> Query:
    path = Path(name_or_file)
    if not (path.suffix == ".sql" and path.is_file()):
        path = QUERIES_DIR / f"{name_or_file}.sql"
    if not path.is_file():
        names = ", ".join(p.stem for p in sorted(QUERIES_DIR.glob("*.sql")))
        raise QueryInputError(f"no query named {name_or_file!r} (and no such .sql file); the library has: {names}")
    return Query(path.stem, path, statement(path))


# A century: beyond it a duration is a typo (and no longer fits the queries' UInt32 seconds).
MAX_DURATION_SECONDS = 36500 * 86400


def parse_duration(text: str) -> int:
    """'15m', '1h30m', '900s', '2d' -> seconds. A bare number is refused: minutes or seconds?"""
    cleaned = text.strip().replace(" ", "")
    parts = DURATION.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts).lower() != cleaned.lower():
        raise QueryInputError(f"{text!r} is not a duration: give a number and a unit, like 15m, 1h, 900s or 1h30m")
    unit = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    seconds = sum(float(n) * unit[u.lower()] for n, u in parts)
    if not seconds <= MAX_DURATION_SECONDS:  # also infinite: a user's typo, not a crash
        raise QueryInputError(f"{text[:40]!r} is too long a duration: give at most 36500d")
    return int(round(seconds))


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """'now', 'now-14d', an ISO date or date-time ('2026-03-01', '2026-03-01T08:00+07:00');
    without an offset the time is UTC."""
    now = now or datetime.now(timezone.utc)
    cleaned = text.strip()
    if cleaned.lower().startswith("now"):
        rest = cleaned[3:].strip()
        if not rest:
            return now
        if rest[0] in "+-":
            seconds = parse_duration(rest[1:])
            return now + timedelta(seconds=seconds if rest[0] == "+" else -seconds)
    try:
        value = datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
    except ValueError:
        raise QueryInputError(
            f"{text!r} is not a time: use 2026-03-01, 2026-03-01T08:00, 2026-03-01T08:00+07:00, now or now-14d"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def typed(name: str, type_: str, raw: Any) -> Any:
    """A value given as text on the command line, made a Python value of the parameter's type."""
    if not isinstance(raw, str):
        return raw
    base = type_.replace("Nullable(", "").replace("LowCardinality(", "")
    if base.startswith("DateTime"):
        return parse_time(raw)
    if base.startswith("Date"):
        return parse_time(raw).date()
    if name.endswith("_seconds") and not raw.strip().isdigit():
        return parse_duration(raw)
    if base.startswith("Array("):
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def run(warehouse: Warehouse, query: Query, values: Mapping[str, Any]) -> Result:
    """``query`` with ``values`` (text from the command line, or Python values) as its
    parameters. Not a personal query: those go by `Warehouse.read_personal`, for a caller
    the authorization layer let through (`ravao trace --with-names`)."""
    from .door import PERSONAL_QUERIES, Refused

    if query.name in PERSONAL_QUERIES:
        raise Refused(f"refused: {query.name} reads personal data; `ravao trace PERSON --with-names` reads it "
                      "for a case")
    wanted = query.parameters
    unknown = sorted(set(values) - set(wanted))
    missing = [name for name in wanted if name not in values]
    if unknown:
        raise QueryInputError(f"{query.name} takes no parameter {', '.join(unknown)}; it takes: "
                              + (", ".join(f"{n} ({t})" for n, t in wanted.items()) or "none"))
    if missing:
        raise QueryInputError(f"{query.name} needs --param " + " --param ".join(f"{n}=<{wanted[n]}>" for n in missing))
    params = {name: typed(name, wanted[name], values[name]) for name in wanted}
    return warehouse.query(query.sql, params)
