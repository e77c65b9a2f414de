"""What every panel of ravao's dashboards shares: the ClickHouse data source, one SQL
target, a unit, a size. Thin over grafana-foundation-sdk's panel builders."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common, stat, table, timeseries
from grafana_foundation_sdk.models.common import GraphDrawStyle
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from .query import DATASOURCE, ClickHouseSql

# The tier-count tables are hourly: the hour that holds the range's start counts whole,
# so a range from 10:30 still shows 10:00's scans (the plugin's $__timeFilter would drop
# that hour).
HOURS_IN_RANGE = "hour >= toStartOfHour($__fromTime) AND hour <= $__toTime"
DAYS_IN_RANGE = "day >= toDate($__fromTime) AND day <= toDate($__toTime)"


def stat_panel(title: str, sql: str, *, description: str, unit: str = "short", width: int = 6,
               height: int = 4) -> stat.Panel:
    return (stat.Panel().title(title).description(description).datasource(DATASOURCE)
            .with_target(ClickHouseSql(sql).table()).unit(unit).decimals(0 if unit == "short" else 1)
            .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
            .span(width).height(height))


def time_series_panel(title: str, sql: str, *, description: str, unit: str = "short", width: int = 12,
                      height: int = 8, bars: bool = False) -> timeseries.Panel:
    """``sql`` returns a `time` column first, then one column per series (or, long, a
    string column naming the series: the plugin turns it wide)."""
    panel = (timeseries.Panel().title(title).description(description).datasource(DATASOURCE)
             .with_target(ClickHouseSql(sql).time_series()).unit(unit).min(0).span(width).height(height))
    if bars:
        panel = panel.draw_style(GraphDrawStyle.BARS).fill_opacity(60)
    return panel


def table_panel(title: str, sql: str, *, description: str, width: int = 24, height: int = 9) -> table.Panel:
    return (table.Panel().title(title).description(description).datasource(DATASOURCE)
            .with_target(ClickHouseSql(sql).table()).span(width).height(height))


def links(title: str, url: str) -> DynamicConfigValue:
    """A field override: each cell a link (``url`` may use ${__data.fields.<column>})."""
    return DynamicConfigValue("links", [{"title": title, "url": url}])


def unit(name: str) -> DynamicConfigValue:
    return DynamicConfigValue("unit", name)
