"""Grafana for the compose stack: the tier and operations dashboards written as code with
grafana-foundation-sdk, generated into committed JSON, and the provisioning that loads
them on the ClickHouse plugin through a read-only account.

    python -m dashboards.grafana           write dashboards/*.json and the ClickHouse account
    python -m dashboards.grafana --check   fail if a committed file differs from the code

    query.py          the plugin's SQL target, as an SDK query variant; the data source
    panels.py         what the panels share
    tier.py           an area's counts over time and its child areas (tier-count views)
    operations.py     scans arriving, dead letters, the sink, alerts and notifications
    readonly_user.py  the `grafana` ClickHouse account (deploy/clickhouse/users.d/grafana.xml)
    build.py          code -> files
"""
