"""What every warehouse call shares: results, errors, settings, parameter binding.

Every target (chdb, a server, the sink's door) runs the same SQL files with ClickHouse's
own ``{name:Type}`` parameters; values travel beside the SQL, never inside it. Results
come back as JSON from the engine and are parsed the same way whatever runs them, so a
query prints the same bytes everywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from clickhouse_connect.driver.binding import format_bind_value

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PLAIN_WORD = re.compile(r"^[A-Za-z0-9_.:-]*$")

# Settings every insert carries: the client batches, so no server-side async buffering
# (on by default since ClickHouse 26.2); JSON rows with ISO-8601 times; the Kafka record
# may carry fields the table does not keep (schema_version).
INSERT_SETTINGS = {
    "async_insert": 0,
    "date_time_input_format": "best_effort",
    "input_format_skip_unknown_fields": 1,
    "insert_deduplicate": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
}
# Results as JSON the same way everywhere: 64-bit integers as numbers.
QUERY_SETTINGS = {
    "output_format_json_quote_64bit_integers": 0,
    "output_format_json_quote_decimals": 0,
    "output_format_json_named_tuples_as_objects": 0,
}


class WarehouseError(RuntimeError):
    """The warehouse refused a request: bad SQL, a missing parameter, a locked directory.
    The message says what to do."""


class WarehouseUnavailable(WarehouseError):
    """The warehouse cannot be reached right now; retrying later may succeed."""


@dataclass(frozen=True)
class Result:
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    @classmethod
    def from_json(cls, payload: bytes | str) -> "Result":
        if not payload:
            return cls([], [], [])
        data = json.loads(payload)
        meta = data.get("meta", [])
        return cls([m["name"] for m in meta], [m["type"] for m in meta], data.get("data", []))


def bind(params: Mapping[str, Any] | None) -> dict[str, str]:
    """Parameter values in ClickHouse's text form, as the server's HTTP interface takes
    them (``param_<name>``) and chdb too: the same encoder as clickhouse-connect, except
    for long lists of plain words (ids), which it escapes a character at a time."""
    return {name: _bind_value(value) for name, value in (params or {}).items()}


def _bind_value(value: Any) -> str:
    if isinstance(value, list) and value and all(type(v) is str for v in value) \
            and all(PLAIN_WORD.match(v) for v in value):
        return "[" + ",".join(f"'{v}'" for v in value) + "]"  # nothing in a plain word needs escaping
    return format_bind_value(value)


def check_identifier(name: str) -> str:
    if not IDENTIFIER.match(name):
        raise WarehouseError(f"{name!r} is not a table name")
    return name


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, UUID)):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in the warehouse")


def json_lines(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    return b"\n".join(
        json.dumps(dict(zip(columns, row)), default=_json_default, ensure_ascii=False).encode() for row in rows
    )
