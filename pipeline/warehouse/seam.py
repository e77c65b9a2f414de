"""The one place that reaches past clickhouse-connect's public API.

The sink's door passes on parameters its own client already encoded in ClickHouse's text
form (``param_<name>`` of the HTTP interface). The public ``raw_query`` would encode them
a second time, so the door hands them to the client's backend as they came. A test
(`tests/test_warehouse_seam.py`) fails when an upgrade moves this.
"""

from __future__ import annotations

from collections.abc import Mapping

from clickhouse_connect.driver._backend.models import QueryRuntime
from clickhouse_connect.driver.client import Client


def raw_query_bound(client: Client, sql: str, bound: Mapping[str, str], fmt: str | None) -> bytes:
    """``sql`` answered in ``fmt`` (None: no FORMAT clause, the engine's TabSeparated),
    with ``bound`` (name -> value in ClickHouse's text form) as its ``{name:Type}``
    parameters; the client's own settings apply."""
    params = {f"param_{name}": value for name, value in bound.items()}
    runtime = QueryRuntime(database=client.database)
    final = f"{sql}\n FORMAT {fmt}" if fmt else sql
    return client._backend.execute_raw_query(final, params, None, runtime, None) or b""
