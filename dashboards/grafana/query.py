"""The ClickHouse plugin's query, as a query variant of grafana-foundation-sdk (the SDK
has builders for Grafana's own data sources, not for grafana-clickhouse-datasource), and
the one data source every panel names.

    ClickHouseSql(sql).table()        a panel target: SQL with the plugin's macros
    ClickHouseSql(sql).time_series()  ... whose rows are points (a `time` column first)

The JSON is what the plugin's SQL editor saves: ``editorType: sql``, ``rawSql``, and
``format`` (the backend's result shape: 0 time series, 1 table).
"""

from __future__ import annotations

from typing import Any, Self

from grafana_foundation_sdk.cog import builder, runtime, variants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

PLUGIN = "grafana-clickhouse-datasource"
DATASOURCE_UID = "ravao-clickhouse"  # provisioning/datasources/clickhouse.yaml names it so
DATASOURCE = DataSourceRef(type_val=PLUGIN, uid=DATASOURCE_UID)
TIME_SERIES, TABLE = 0, 1
FORMATS = {TIME_SERIES: "timeseries", TABLE: "table"}


class ClickHouseQuery(variants.Dataquery):
    """One target of a panel: ``raw_sql`` with macros ($__timeFilter, $__fromTime, ...)
    the plugin's backend expands, and template variables (${area:singlequote}) Grafana
    replaces before it sends the query."""

    def __init__(self, raw_sql: str, ref_id: str = "A", format_val: int = TABLE) -> None:
        self.raw_sql, self.ref_id, self.format_val = raw_sql, ref_id, format_val

    def to_json(self) -> dict[str, object]:
        return {"datasource": DATASOURCE.to_json(), "editorType": "sql", "format": self.format_val,
                "queryType": FORMATS[self.format_val], "rawSql": self.raw_sql, "refId": self.ref_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(data["rawSql"], data.get("refId", "A"), data.get("format", TABLE))


class ClickHouseSql(builder.Builder[ClickHouseQuery]):
    def __init__(self, raw_sql: str) -> None:
        self._query = ClickHouseQuery(raw_sql.strip())

    def build(self) -> ClickHouseQuery:
        return self._query

    def ref_id(self, ref_id: str) -> Self:
        self._query.ref_id = ref_id
        return self

    def table(self) -> Self:
        self._query.format_val = TABLE
        return self

    def time_series(self) -> Self:
        self._query.format_val = TIME_SERIES
        return self


def register() -> None:
    """Let the SDK decode this plugin's targets (reading dashboards back from JSON)."""
    runtime.register_dataquery_variant(runtime.DataqueryConfig(identifier=PLUGIN, from_json_hook=ClickHouseQuery.from_json))
