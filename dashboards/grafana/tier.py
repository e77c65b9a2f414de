"""The tier dashboard: an area's counts over the chosen time range, hour by hour and day
by day, and the same numbers for each of its child areas, each row a link one tier down.
The numbers of the web's tier page, from the same materialized views (tier_counts_hourly,
tier_counts_daily); venues registered from `venues`. No personal table."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, QueryVariable, Row
from grafana_foundation_sdk.models.dashboard import VariableRefresh, VariableSort

from .panels import DAYS_IN_RANGE, HOURS_IN_RANGE, links, stat_panel, table_panel, time_series_panel, unit
from .query import DATASOURCE

UID = "ravao-tier"
AREA = "${area:singlequote}"  # Grafana quotes the chosen area id (and escapes any quote in it)

AREAS = """
SELECT area_id, concat(name, ' (', tier, ' ', area_id, ')') AS label
FROM
(
    SELECT area_id, argMax(name, kafka_offset) AS name, argMax(tier, kafka_offset) AS tier,
           argMax(level, kafka_offset) AS level, argMax(deleted, kafka_offset) AS gone
    FROM areas
    GROUP BY area_id
)
WHERE NOT gone
ORDER BY level, name
"""

# Active venues now, latest record of each (the registry keeps every version).
VENUES_NOW = """
    SELECT venue_id, argMax(name, kafka_offset) AS name, argMax(area_path, kafka_offset) AS area_path,
           argMax(active, kafka_offset) AS active, argMax(deleted, kafka_offset) AS deleted
    FROM venues
    GROUP BY venue_id"""

TOTALS = f"""
SELECT sum(scans) AS scans, sum(entries) AS entries, sum(exits) AS exits,
       uniqCombinedMerge(14)(people) AS people,
       sum(scans_declared) AS scans_declared, sum(scans_with_symptoms) AS scans_with_symptoms
FROM tier_counts_hourly
WHERE area_id = {AREA} AND {HOURS_IN_RANGE}
"""

VENUES = f"""
WITH
    (SELECT count() FROM ({VENUES_NOW}
    ) WHERE active AND NOT deleted AND has(area_path, {AREA})) AS registered,
    (SELECT uniqExactMerge(venues_scanned) FROM tier_counts_hourly
     WHERE area_id = {AREA} AND {HOURS_IN_RANGE}) AS scanned
SELECT registered AS venues_registered, scanned AS venues_with_scans,
       if(registered = 0, 0, scanned / registered) AS share_with_scans
"""

BY_HOUR = f"""
SELECT hour AS time, sum(scans) AS scans, sum(entries) AS entries, sum(exits) AS exits
FROM tier_counts_hourly
WHERE area_id = {AREA} AND {HOURS_IN_RANGE}
GROUP BY hour
ORDER BY hour
"""

PEOPLE_BY_HOUR = f"""
SELECT hour AS time, uniqCombinedMerge(14)(people) AS people, uniqExactMerge(venues_scanned) AS venues_with_scans
FROM tier_counts_hourly
WHERE area_id = {AREA} AND {HOURS_IN_RANGE}
GROUP BY hour
ORDER BY hour
"""

DECLARED_BY_HOUR = f"""
SELECT hour AS time, sum(scans_declared) AS scans_declared, sum(scans_with_symptoms) AS scans_with_symptoms
FROM tier_counts_hourly
WHERE area_id = {AREA} AND {HOURS_IN_RANGE}
GROUP BY hour
ORDER BY hour
"""

BY_DAY = f"""
SELECT toDateTime(day) AS time, sum(scans) AS scans, uniqCombinedMerge(14)(people) AS people,
       sum(scans_with_symptoms) AS scans_with_symptoms
FROM tier_counts_daily
WHERE area_id = {AREA} AND {DAYS_IN_RANGE}
GROUP BY day
ORDER BY day
"""

# The child areas as loaded (with zeros if they had no scan) and any child that has counts.
CHILDREN = f"""
WITH
    counted AS
    (
        SELECT area_id, uniqExactMerge(venues_scanned) AS venues_with_scans, sum(scans) AS scans,
               sum(entries) AS entries, sum(exits) AS exits, uniqCombinedMerge(14)(people) AS people,
               sum(scans_declared) AS scans_declared, sum(scans_with_symptoms) AS scans_with_symptoms
        FROM tier_counts_hourly
        WHERE parent_id = {AREA} AND {HOURS_IN_RANGE}
        GROUP BY area_id
    ),
    known AS
    (
        SELECT area_id, argMax(name, kafka_offset) AS name, argMax(tier, kafka_offset) AS tier,
               argMax(parent_id, kafka_offset) AS parent, argMax(deleted, kafka_offset) AS gone
        FROM areas
        WHERE parent_id = {AREA}
        GROUP BY area_id
        HAVING NOT gone AND parent = {AREA}
    ),
    registered AS
    (
        SELECT arrayJoin(area_path) AS area_id, count() AS venues_registered
        FROM ({VENUES_NOW}
        )
        WHERE active AND NOT deleted AND has(area_path, {AREA})
        GROUP BY area_id
    )
SELECT area_id, name, tier, venues_registered, venues_with_scans,
       if(venues_registered = 0, 0, venues_with_scans / venues_registered) AS share_with_scans,
       scans, entries, exits, people, scans_declared, scans_with_symptoms
FROM counted
FULL OUTER JOIN known USING (area_id)
LEFT JOIN registered USING (area_id)
ORDER BY scans DESC, area_id
"""

IDLE_VENUES = f"""
SELECT venue_id, name
FROM ({VENUES_NOW}
)
WHERE active AND NOT deleted AND has(area_path, {AREA})
  AND venue_id NOT IN (SELECT venue_id FROM scans WHERE has(area_path, {AREA}) AND $__timeFilter(scanned_at))
ORDER BY name, venue_id
"""

ONE_TIER_DOWN = "/d/" + UID + "?var-area=${__data.fields.area_id}&${__url_time_range}"


def dashboard() -> Dashboard:
    return (
        Dashboard("ravao: tiers").uid(UID).tags(["ravao"]).timezone("browser").time("now-30d", "now")
        .description("An area's entries, exits and people over time, and its child areas one tier down "
                     "(from the tier-count views).")
        .with_variable(
            QueryVariable("area").label("Area").datasource(DATASOURCE)
            .query({"refId": "area", "queryType": "sql", "rawSql": AREAS.strip()})
            .refresh(VariableRefresh.ON_DASHBOARD_LOAD).sort(VariableSort.DISABLED).allow_custom_value(False))
        .with_row(Row("In the time range"))
        .with_panel(stat_panel("Scans, entries, exits, people", TOTALS, width=16,
                               description="Scans at the area's venues in the range; people counted once each "
                                           "(exact for small sets, about 0.8% off for large ones)."))
        .with_panel(stat_panel("Venues", VENUES, width=8,
                               description="Venues registered now (active), and those with at least one scan in "
                                           "the range, with their share.")
                    .override_by_name("share_with_scans", [unit("percentunit")]))
        .with_row(Row("Over time"))
        .with_panel(time_series_panel("Scans, entries and exits per hour", BY_HOUR,
                                      description="Entries and exits are scans marked so by the scanner or the "
                                                  "gate; scans at automatic gates count in scans only."))
        .with_panel(time_series_panel("People and venues with scans per hour", PEOPLE_BY_HOUR,
                                      description="Distinct people and venues in each hour."))
        .with_panel(time_series_panel("Declared and with symptoms per hour", DECLARED_BY_HOUR,
                                      description="Scans made with a current health declaration, and scans whose "
                                                  "person had reported symptoms."))
        .with_panel(time_series_panel("By day", BY_DAY, bars=True,
                                      description="Scans, distinct people (each day on its own) and scans with "
                                                  "symptoms, day by day."))
        .with_row(Row("One tier down"))
        .with_panel(table_panel("Child areas", CHILDREN,
                                description="The same numbers for each child area; a name opens its own "
                                            "dashboard.")
                    .override_by_name("name", [links("Open this area", ONE_TIER_DOWN)])
                    .override_by_name("share_with_scans", [unit("percentunit")]))
        .with_panel(table_panel("Venues without scans", IDLE_VENUES, height=8,
                                description="Active venues of the area with no scan in the range."))
    )
